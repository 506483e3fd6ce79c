"""The serving params chosen after the heads: confidence thresholds and training languages.

Thresholds (read by ``ticketml.confidence``) are chosen on the validation set for a stated
precision per level (``ticketml.confidence.DEFAULT_TARGETS``): ``high`` is the lowest score
at which the validation predictions scoring at least that were right at least the high
target's share of the time, over at least ``MIN_SUPPORT`` of them; ``medium`` likewise. Right
means the label for priority and sentiment, and the solved time within 2x of p50 for
resolution (the ``within_2x`` of ``training.evaluate``). The languages are those of the
training text (``ticketml.language.training_languages``); a ticket in another one needs
review.
"""

from collections.abc import Mapping, Sequence

import numpy as np

from ticketml import language
from ticketml.confidence import DEFAULT_TARGETS, HEADS, resolution_score
from ticketml.features import PRIORITIES, SENTIMENTS, model_inputs
from ticketml.predictor import Predictor
from training.data import Example

MIN_SUPPORT = 20
"""Fewest validation predictions a threshold may rest on."""
_LANGUAGE_SAMPLE = 20_000  # Enough to find every language over 2% of the text, in ~1 s.


def serving_params(models: Mapping, predictor_params: Mapping, train: Sequence[Example],
                   val: Sequence[Example], targets: Mapping = DEFAULT_TARGETS) -> dict:
    """``{"languages": [...], "confidence": {...}}`` to merge into a bundle's params.

    Args:
        models: The exported models (``training.export.export_models``).
        predictor_params: The params ``fit_heads`` returned.
        train: Training examples (their text's languages).
        val: Validation examples (the thresholds).
        targets: ``{head: {"high": precision, "medium": precision}}``.
    """
    texts, _ = model_inputs([e.ticket for e in train[:_LANGUAGE_SAMPLE]],
                            predictor_params.get("description_chars"))  # what serving detects on
    predictor = Predictor(models, predictor_params, "")
    return {"languages": language.training_languages(texts),
            "confidence": confidence_thresholds(predictor, val, targets)}


def confidence_thresholds(predictor: Predictor, val: Sequence[Example],
                          targets: Mapping = DEFAULT_TARGETS) -> dict:
    """Each head's thresholds, stated targets and what they gave on ``val``."""
    scores: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    labelled = {
        "priority": [i for i, e in enumerate(val) if e.priority],
        "sentiment": [i for i, e in enumerate(val) if e.sentiment],
        "resolution": [i for i, e in enumerate(val) if e.hours is not None and not e.censored],
    }
    heads = [head for head in HEADS if labelled[head]]
    union = sorted(set().union(*(labelled[head] for head in heads)))
    # One featurisation of the rows any head needs; each head reads its own rows from it.
    at = {row: k for k, row in enumerate(union)}
    computed = predictor.head_scores([val[i].ticket for i in union], heads) if union else {}
    if "priority" in heads:
        rows = [at[i] for i in labelled["priority"]]
        probs = computed["priority"][rows]
        truth = np.array([PRIORITIES.index(val[i].priority) for i in labelled["priority"]])
        scores["priority"] = probs.max(axis=1), probs.argmax(axis=1) == truth
    if "sentiment" in heads:
        rows = [at[i] for i in labelled["sentiment"]]
        probs = computed["sentiment"][rows]
        truth = np.array([SENTIMENTS.index(val[i].sentiment) for i in labelled["sentiment"]])
        scores["sentiment"] = probs.max(axis=1), probs.argmax(axis=1) == truth
    if "resolution" in heads:
        rows = [at[i] for i in labelled["resolution"]]
        p50, p90 = (hours[rows] for hours in computed["resolution_hours"])
        ratio = p50 / np.maximum([val[i].hours for i in labelled["resolution"]], 1e-9)
        scores["resolution"] = (np.array([resolution_score(a, b) for a, b in zip(p50, p90)]),
                                (ratio >= 0.5) & (ratio <= 2.0))
    out = {}
    for head in HEADS:
        if head not in scores:
            continue  # No validation labels: serving keeps the default thresholds.
        score, correct = scores[head]
        chosen = {"targets": dict(targets[head]), "validation": {"n": len(score)}}
        for level in ("high", "medium"):
            threshold = threshold_for(score, correct, float(targets[head][level]))
            # Not rounded: a rounded threshold would move the tickets tied at it across.
            chosen[level] = threshold
            accepted = score >= (np.inf if threshold is None else threshold)
            chosen["validation"][level] = {
                "share": round(float(accepted.mean()), 4),
                "precision": round(float(correct[accepted].mean()), 4) if accepted.any() else None,
            }
        out[head] = chosen
    return out


def threshold_for(score: np.ndarray, correct: np.ndarray, target: float,
                  min_support: int = MIN_SUPPORT) -> float | None:
    """The lowest score t such that the predictions scoring >= t were right at least
    ``target`` of the time, with at least ``min_support`` of them; None if there is none.

    A higher target can only give a higher (or no) threshold: the candidates it accepts are a
    subset of those a lower target accepts.
    """
    order = np.argsort(-score, kind="stable")
    ranked = score[order]
    precision = np.cumsum(correct[order]) / np.arange(1, len(order) + 1)
    # A threshold takes every prediction tied at its score: only a tie's last row may end it.
    ends = np.append(ranked[1:] != ranked[:-1], True)
    ok = np.flatnonzero((precision >= target) & ends & (np.arange(len(order)) + 1 >= min_support))
    return float(ranked[ok[-1]]) if len(ok) else None
