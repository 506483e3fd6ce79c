"""Minimum data: training refuses too few closed tickets, overall or in one class.

A model trained on twelve tickets is worse than no model: its confident mistakes look like
answers. Products that offer triage models set a floor before they offer one (Salesforce
Einstein Case Classification asks for 400 closed cases; Zendesk's intelligent triage for
1,000 tickets in six months). Ours is ``DEFAULT_CLOSED`` closed tickets in all, and
``DEFAULT_PER_CLASS`` closed tickets for each priority and each sentiment that the data
labels, so that every class a head can predict was seen often enough to be learnt and
measured. Both are flags of ``python -m training train`` (``--min-closed``,
``--min-per-class``), to be lowered only to try the pipeline out on a small sample.
"""

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from training.data import Example
from training.train import TrainingError

DEFAULT_CLOSED = 400
DEFAULT_PER_CLASS = 40


class NotEnoughData(TrainingError):
    """Too few closed tickets, in all or in one class, to offer a model."""


@dataclass(frozen=True)
class Minimum:
    """The floor: closed tickets in all, and per labelled class."""

    closed: int = DEFAULT_CLOSED
    per_class: int = DEFAULT_PER_CLASS


def check(examples: Sequence[Example], minimum: Minimum = Minimum()) -> None:
    """Refuse data below the minimum, saying how many more closed tickets are needed.

    A closed ticket is one whose outcome is known: not still open (censored), with a
    priority, a sentiment or a resolution time. Classes are counted among closed tickets,
    for each head whose labels the data has at all.

    Raises:
        NotEnoughData: Naming every shortfall and how many more tickets would meet it.
    """
    closed = [e for e in examples if not e.censored
              and (e.priority or e.sentiment or e.hours is not None)]
    shortfalls = []
    if len(closed) < minimum.closed:
        shortfalls.append(f"{len(closed)} closed tickets, {minimum.closed - len(closed)} more "
                          f"needed (at least {minimum.closed})")
    for head in ("priority", "sentiment"):
        counts = Counter(getattr(e, head) for e in closed if getattr(e, head))
        for label, count in sorted(counts.items()):
            if count < minimum.per_class:
                shortfalls.append(f"{head} {label}: {count} closed tickets, "
                                  f"{minimum.per_class - count} more needed "
                                  f"(at least {minimum.per_class} per class)")
    if shortfalls:
        raise NotEnoughData(
            f"Not enough data to train: {'; '.join(shortfalls)}. A model trained on too few "
            "tickets is worse than none; collect more closed tickets, or lower --min-closed "
            "and --min-per-class only to try the pipeline out.")
