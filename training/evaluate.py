"""Measure a Predictor on held-out examples, beside naive baselines.

Evaluation goes through ``Predictor.predict_many``, the code path serving uses, so what is
measured is what is shipped. Baselines: the majority class (priority, sentiment), the
untrained lexicon scorer (sentiment), and the training median / 90th percentile of
resolution hours. Still-open (censored) test tickets are measured too, by what can be
known about them: whether p50 already lies below the time they have been open, and the
concordance index over resolved and open tickets together. Priority calibration is measured
on the served ``priority_scores``. On a large test set the lexicon baseline is scored by
another process while this one predicts (``training.train.Background``).
"""

import math
import warnings
from collections import Counter

import numpy as np
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

from ticketml import lexicon
from ticketml.features import PRIORITIES, SENTIMENTS, model_input
from ticketml.predictor import Predictor
from training.data import Example
from training.train import Background

_CALIBRATION_BINS = 10
_BACKGROUND_ROWS = 5_000  # Test sets below this are evaluated in one process.
_DECIMALS = 4


def evaluate(predictor: Predictor, train: list[Example], test: list[Example],
             outputs: list[dict] | None = None) -> dict:
    """Return the metrics of every head and its baselines on ``test``.

    Args:
        predictor: The predictor to measure.
        train: Training examples (for the baselines only).
        test: Held-out examples.
        outputs: ``predictor.predict_many`` of the test tickets, when already computed.

    Returns:
        ``{"priority": {...}, "sentiment": {...}, "resolution": {...}}``, each with
        ``model`` and ``baseline`` metrics and ``n``.
    """
    return evaluate_outputs(predictor, train, test, outputs)[0]


def evaluate_outputs(predictor: Predictor, train: list[Example], test: list[Example],
                     outputs: list[dict] | None = None) -> tuple[dict, list[dict]]:
    """``evaluate``, and the test tickets' predictions it measured (``predict_many`` without
    explanations), for callers that also plot them."""
    with Background(len(test) >= _BACKGROUND_ROWS) as background:
        # The lexicon baseline is scored in another process meanwhile.
        lexicon_labels = background.submit(_lexicon_labels, [e.ticket for e in test if e.sentiment])
        if outputs is None:
            outputs = predictor.predict_many([e.ticket for e in test], explain=False) if test else []
        return {
            "priority": _priority(predictor, train, test, outputs),
            "sentiment": _sentiment(train, test, outputs, lexicon_labels),
            "resolution": _resolution(train, test, outputs),
        }, outputs


def classification(truth: list[str], predicted: list[str], labels: tuple[str, ...]) -> dict:
    """Macro-F1, accuracy, per-class precision/recall/F1/support and the confusion matrix."""
    present = [label for label in labels if label in set(truth) | set(predicted)]
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, predicted, labels=present, zero_division=0)
    return {
        "macro_f1": _r(f1_score(truth, predicted, labels=present, average="macro", zero_division=0)),
        "accuracy": _r(np.mean(np.array(truth) == np.array(predicted))),
        "per_class": {
            label: {"precision": _r(p), "recall": _r(r), "f1": _r(f), "support": int(s)}
            for label, p, r, f, s in zip(present, precision, recall, f1, support)
        },
        "confusion": {"labels": present, "matrix": _confusion(truth, predicted, present)},
    }


def _confusion(truth, predicted, labels) -> list[list[int]]:
    with warnings.catch_warnings():
        # One label only (a tiny or one-class test set) is a fine, if dull, matrix.
        warnings.simplefilter("ignore", UserWarning)
        return confusion_matrix(truth, predicted, labels=labels).tolist()


def calibration(probs: np.ndarray, truth: np.ndarray) -> dict:
    """Expected calibration error of the top class over equal-width bins, and the bins."""
    top = probs.max(axis=1)
    correct = probs.argmax(axis=1) == truth
    edges = np.linspace(0, 1, _CALIBRATION_BINS + 1)
    bins, ece = [], 0.0
    for low, high in zip(edges[:-1], edges[1:]):
        inside = (top > low) & (top <= high)
        if not inside.any():
            continue
        confidence, accuracy = float(top[inside].mean()), float(correct[inside].mean())
        ece += inside.mean() * abs(confidence - accuracy)
        bins.append({"range": [_r(low), _r(high)], "n": int(inside.sum()),
                     "confidence": _r(confidence), "accuracy": _r(accuracy)})
    return {"ece": _r(ece), "bins": bins}


def resolution_metrics(true_hours, p50, p90) -> dict:
    """Mean |log1p(p50) - log1p(true)|, share within a factor of two, p90 coverage."""
    true_hours, p50, p90 = (np.asarray(v, dtype=float) for v in (true_hours, p50, p90))
    if not len(true_hours):
        return {"n": 0}
    ratio = np.maximum(p50, 1e-9) / np.maximum(true_hours, 1e-9)
    return {
        "n": len(true_hours),
        "log_mae": _r(np.mean(np.abs(np.log1p(p50) - np.log1p(true_hours)))),
        "within_2x": _r(np.mean((ratio >= 0.5) & (ratio <= 2.0))),
        "p90_coverage": _r(np.mean(true_hours <= p90)),
    }


def censored_metrics(lower_hours, p50) -> dict:
    """What can be measured on still-open tickets, whose time only has a lower bound.

    ``p50_below_open_time``: share whose p50 is already exceeded (a sure underestimate);
    ``log_shortfall``: mean max(0, log1p(lower) - log1p(p50)), the part of the log error
    that is certain.
    """
    lower, p50 = np.asarray(lower_hours, dtype=float), np.asarray(p50, dtype=float)
    if not len(lower):
        return {"n": 0}
    return {
        "n": len(lower),
        "p50_below_open_time": _r(np.mean(p50 < lower)),
        "log_shortfall": _r(np.mean(np.maximum(np.log1p(lower) - np.log1p(p50), 0.0))),
    }


def concordance(hours, observed, predicted) -> float | None:
    """Harrell's C: among comparable pairs (the shorter time observed), the share ordered
    correctly by the prediction (ties count one half). None when no pair is comparable."""
    t, e, p = (np.asarray(v, dtype=float) for v in (hours, observed, predicted))
    concordant = comparable = 0.0
    for start in range(0, len(t), 2000):  # Chunks bound the memory of the pair matrix.
        ti, ei, pi = t[start:start + 2000, None], e[start:start + 2000, None], p[start:start + 2000, None]
        pairs = (ti < t[None, :]) & (ei > 0)
        comparable += pairs.sum()
        concordant += (pairs & (pi < p[None, :])).sum() + 0.5 * (pairs & (pi == p[None, :])).sum()
    return _r(concordant / comparable) if comparable else None


def _lexicon_labels(tickets: list[dict]) -> list[str]:
    """VADER's labels of the tickets' model text (the fallback head without labels)."""
    return [lexicon.label(model_input(t).text) for t in tickets]


def _priority(predictor, train, test, outputs) -> dict:
    rows = [i for i, e in enumerate(test) if e.priority]
    if not rows or not any(e.priority for e in train):
        return {"n": 0, "note": "no priority labels in the training or test data"}
    truth = [test[i].priority for i in rows]
    predicted = [outputs[i]["priority"] for i in rows]
    majority = Counter(e.priority for e in train if e.priority).most_common(1)[0][0]
    # Calibration of the scores served (rounded as in the enrichment), not of a re-run.
    probs = np.array([[outputs[i]["priority_scores"][p] for p in PRIORITIES] for i in rows])
    truth_idx = np.array([PRIORITIES.index(t) for t in truth])
    review = np.array([outputs[i]["needs_review"] for i in rows], dtype=bool)
    correct = np.array(truth) == np.array(predicted)
    model = classification(truth, predicted, PRIORITIES)
    model["calibration"] = calibration(probs, truth_idx)
    prior = np.tile([np.mean([e.priority == p for e in train if e.priority]) for p in PRIORITIES],
                    (len(rows), 1))
    baseline = classification(truth, [majority] * len(rows), PRIORITIES)
    baseline["calibration"] = calibration(prior, truth_idx)
    return {
        "n": len(rows),
        "model": model,
        "baseline": {"name": f"majority class ({majority})", **baseline},
        "needs_review": {
            "threshold": predictor.review_threshold,
            "review_rate": _r(review.mean()) if rows else 0.0,
            "accuracy_accepted": _r(correct[~review].mean()) if (~review).any() else None,
            "accuracy_reviewed": _r(correct[review].mean()) if review.any() else None,
        },
    }


def _sentiment(train, test, outputs, lexicon_labels) -> dict:
    rows = [i for i, e in enumerate(test) if e.sentiment]
    if not rows:
        return {"n": 0, "note": "no sentiment labels in the test data"}
    truth = [test[i].sentiment for i in rows]
    predicted = [outputs[i]["sentiment"]["label"] for i in rows]
    train_labels = Counter(e.sentiment for e in train if e.sentiment)
    majority = train_labels.most_common(1)[0][0] if train_labels else "neutral"
    return {
        "n": len(rows),
        "model": classification(truth, predicted, SENTIMENTS),
        "baseline": {"name": f"majority class ({majority})",
                     **classification(truth, [majority] * len(rows), SENTIMENTS)},
        "lexicon": {"name": "VADER alone (ticketml.lexicon, the fallback without labels)",
                    **classification(truth, lexicon_labels(), SENTIMENTS)},
    }


def _resolution(train, test, outputs) -> dict:
    rows = [i for i, e in enumerate(test) if e.hours is not None and not e.censored]
    closed_train = [e.hours for e in train if e.hours is not None and not e.censored]
    if not rows or not closed_train:
        return {"n": 0, "note": "no resolution times in the training or test data"}
    truth = [test[i].hours for i in rows]
    median, p90 = float(np.median(closed_train)), float(np.quantile(closed_train, 0.9))
    censored = [i for i, e in enumerate(test) if e.censored]
    timed = [i for i, e in enumerate(test) if e.hours is not None]
    p50_all = [outputs[i]["resolution_hours"]["p50"] for i in timed]
    hours_all = [test[i].hours for i in timed]
    observed_all = [not test[i].censored for i in timed]
    lower = [test[i].hours for i in censored]
    return {
        "n": len(rows),
        "censored_in_test": len(censored),
        "model": {
            **resolution_metrics(
                truth, [outputs[i]["resolution_hours"]["p50"] for i in rows],
                [outputs[i]["resolution_hours"]["p90"] for i in rows]),
            "concordance": concordance(hours_all, observed_all, p50_all),
            "censored": censored_metrics(
                lower, [outputs[i]["resolution_hours"]["p50"] for i in censored]),
        },
        "baseline": {"name": f"training median {median:.1f} h, p90 {p90:.1f} h",
                     **resolution_metrics(truth, [median] * len(rows), [p90] * len(rows)),
                     "concordance": 0.5,
                     "censored": censored_metrics(lower, [median] * len(censored))},
        "note": "log_mae, within_2x and p90_coverage are measured on resolved test tickets; "
                "still-open ones only bound the time from below (see censored, concordance)",
    }


def _r(value: float) -> float:
    value = float(value)
    return round(value, _DECIMALS) if math.isfinite(value) else value
