"""Read closed tickets from export files, prepare them (mask, dedupe, skip), and split them.

Rows go through a FieldMapping into canonical fields; personal data in the text is masked here,
before anything is stored, trained on or logged. Rows that cannot be used are counted by
reason in the data report, which ends up in the model card.
"""

import csv
import json
import random
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ticketml.features import (
    ATTRIBUTES_FIELD, MODEL_INPUT_FIELDS, PRIORITIES, SENTIMENTS, input_hash, number,
)
from ticketml.mask import mask_pii
from training.mapping import FieldMapping

_MS_PER_HOUR = 3_600_000
_TEXT_FIELDS = ("subject", "description")


class DataError(ValueError):
    """A data file cannot be read or holds too little usable data."""


@dataclass(frozen=True)
class Example:
    """One prepared training row.

    Attributes:
        ticket: The model's input fields, text already masked.
        priority: P1-P4 or None.
        sentiment: negative | neutral | positive, or None.
        hours: Resolution hours; for a censored (still open) ticket, the hours it had been
            open when observed, a lower bound. None when unknown.
        censored: True when ``hours`` is a lower bound.
        created_at: Epoch milliseconds, or None.
    """

    ticket: dict
    priority: str | None
    sentiment: str | None
    hours: float | None
    censored: bool
    created_at: float | None


@dataclass
class Dataset:
    """Prepared examples plus a report of what was read, skipped and why."""

    examples: list[Example]
    report: dict = field(default_factory=dict)


def read_records(path: str | Path) -> Iterator[object]:
    """Yield the records of a ``.jsonl`` (one JSON object per line) or ``.csv`` file.

    A JSON line that is not an object is yielded as it is; ``prepare`` counts and skips it.

    Raises:
        DataError: The file type is unsupported or a JSON line is invalid.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        with open(path, encoding="utf-8") as f:
            for number_, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DataError(f'Invalid JSON on line {number_} of "{path}": {exc}.') from exc
                yield record
    elif suffix == ".csv":
        with open(path, encoding="utf-8", newline="") as f:
            yield from csv.DictReader(f)
    else:
        raise DataError(f'Invalid data file: "{path}". Expected a .jsonl or .csv file.')


def prepare(
    records: Iterable[dict], mapping: FieldMapping, progress: Callable | None = None
) -> Dataset:
    """Map, mask, deduplicate and validate records into Examples.

    Records that are not objects are skipped. Duplicates are rows with an ``id`` seen before,
    and rows with text whose text and fields equal an earlier row's (a resubmission); the
    first one is kept.

    Args:
        records: Source records (e.g. from ``read_records``).
        mapping: How to read canonical fields from a record.
        progress: Optional iterator wrapper such as ``tqdm``.

    Returns:
        The Dataset, whose report counts rows read, used, skipped by reason, label values
        and censored times.
    """
    skipped: Counter = Counter()
    notes: Counter = Counter()
    seen: set[str] = set()
    examples = []
    rows = 0
    for record in progress(records) if progress else records:
        rows += 1
        if not isinstance(record, Mapping):
            skipped["not an object"] += 1
            continue
        row = mapping.apply(record)
        ticket = {name: row[name] for name in MODEL_INPUT_FIELDS}
        for name in _TEXT_FIELDS:
            ticket[name] = mask_pii(str(ticket[name])) if ticket[name] is not None else None
        attributes = row.get(ATTRIBUTES_FIELD) or {}
        if attributes:
            ticket[ATTRIBUTES_FIELD] = attributes
        if not any(ticket[name] for name in _TEXT_FIELDS) and all(
            ticket[name] is None for name in MODEL_INPUT_FIELDS if name not in _TEXT_FIELDS
        ) and all(v is None for v in attributes.values()):
            skipped["no input fields"] += 1
            continue
        priority = _label(row["priority"], PRIORITIES, "priority", notes)
        sentiment = _label(row["sentiment"], SENTIMENTS, "sentiment", notes)
        hours, censored = _hours(row, notes)
        if priority is None and sentiment is None and hours is None:
            skipped["no label"] += 1
            continue
        record_id = row.get("id")
        if record_id is not None and ("id", str(record_id)) in seen:
            skipped["duplicate id"] += 1
            continue
        # Identical text and fields is a resubmission (or a retweet); without text, identical
        # coded fields are different incidents that happen to look alike.
        digest = input_hash(ticket) if any(ticket[name] for name in _TEXT_FIELDS) else None
        if digest is not None and digest in seen:
            skipped["duplicate input"] += 1
            continue
        seen.update(k for k in (digest, None if record_id is None else ("id", str(record_id)))
                    if k is not None)
        examples.append(Example(ticket, priority, sentiment, hours, censored, row["created_at"]))
    report = {
        "rows_read": rows,
        "rows_used": len(examples),
        "rows_skipped": dict(sorted(skipped.items())),
        "notes": dict(sorted(notes.items())),
        **describe(examples),
    }
    return Dataset(examples, report)


def describe(examples: list[Example]) -> dict:
    """Count labels, known and censored resolution times of examples."""
    return {
        "priority_counts": dict(sorted(Counter(e.priority for e in examples if e.priority).items())),
        "sentiment_counts": dict(sorted(Counter(e.sentiment for e in examples if e.sentiment).items())),
        "resolved": sum(1 for e in examples if e.hours is not None and not e.censored),
        "censored": sum(1 for e in examples if e.censored),
    }


def split(
    examples: list[Example], seed: int, test_share: float, val_share: float, method: str = "auto"
) -> tuple[list[Example], list[Example], list[Example], str]:
    """Split into train, validation and test sets.

    Args:
        examples: Prepared examples.
        seed: Seed for the random split (and for ordering ties in the time split).
        test_share: Share of examples in the test set (the latest ones for a time split).
        val_share: Share in the validation set (just before the test set in time).
        method: ``time`` (by created_at), ``random``, or ``auto``: time when every example
            has a timestamp, random otherwise.

    Returns:
        (train, validation, test, method actually used).
    """
    if method == "auto":
        method = "time" if examples and all(e.created_at is not None for e in examples) else "random"
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    if method == "time":
        order.sort(key=lambda i: examples[i].created_at)
    elif method != "random":
        raise DataError(f'Invalid split method: "{method}". Expected auto, time or random.')
    n_test = int(round(len(order) * test_share))
    n_val = int(round(len(order) * val_share))
    n_train = len(order) - n_test - n_val
    pick = lambda idx: [examples[i] for i in idx]  # noqa: E731
    return (pick(order[:n_train]), pick(order[n_train:n_train + n_val]),
            pick(order[n_train + n_val:]), method)


def _label(value: object, allowed: tuple[str, ...], name: str, notes: Counter) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    if text in allowed:
        return text
    if text.lower() in allowed:
        return text.lower()
    notes[f'{name}: unknown value "{text[:40]}" ignored'] += 1
    return None


def _hours(row: dict, notes: Counter) -> tuple[float | None, bool]:
    hours = number(row["resolution_hours"])
    if hours is not None:
        if hours < 0:
            notes["resolution: negative time ignored"] += 1
            return None, False
        return hours, False
    created, solved, observed = row["created_at"], row["solved_at"], row["observed_at"]
    if created is None:
        return None, False
    if solved is not None:
        if solved < created:
            notes["resolution: solved before created, ignored"] += 1
            return None, False
        return (solved - created) / _MS_PER_HOUR, False
    if observed is not None and observed > created:
        return (observed - created) / _MS_PER_HOUR, True
    return None, False
