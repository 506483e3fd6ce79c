"""Cross-validation folds over the whole training period, and bootstrap intervals.

Settings (a penalty, class weights, which resolution model) are chosen by cross-validation
over every training row, not on one newest slice: with timestamps on every row the folds are
time-aware (expanding windows: fit on the oldest blocks, validate on the next one), else
seeded and, for labels, stratified. Intervals are seeded percentile bootstraps of a metric
over the test rows; two predictions of the same rows are compared on the same resamples
(a paired bootstrap), so their difference gets an interval of its own.
"""

import random

import numpy as np
from sklearn.model_selection import KFold, StratifiedKFold

N_FOLDS = 3
BOOTSTRAP_RESAMPLES = 1000
CONFIDENCE = 0.95


def cv_folds(times: list[float | None], labels=None, seed: int = 7,
             n_folds: int = N_FOLDS) -> tuple[list[tuple[np.ndarray, np.ndarray]], str]:
    """Folds over rows in their given order: ``(fit_idx, validate_idx)`` pairs and the method.

    Args:
        times: Each row's timestamp (None when unknown).
        labels: Class labels for stratification (random folds only), or None.
        seed: Shuffling seed of random folds.
        n_folds: Number of folds.

    Returns:
        (folds, ``"time"`` or ``"random"``). Time folds cut the rows, ordered by time, into
        ``n_folds + 1`` blocks; fold k fits on blocks 0..k and validates on block k + 1.
    """
    n = len(times)
    if n and all(t is not None for t in times):
        order = sorted(range(n), key=lambda i: (times[i], i))
        blocks = np.array_split(np.array(order, dtype=int), n_folds + 1)
        return [(np.sort(np.concatenate(blocks[:k + 1])), np.sort(blocks[k + 1]))
                for k in range(n_folds)], "time"
    index = np.arange(n)
    if labels is not None:
        counts = np.unique(np.asarray(labels), return_counts=True)[1]
        if len(counts) > 1 and counts.min() >= n_folds:
            folds = StratifiedKFold(n_folds, shuffle=True, random_state=seed)
            return list(folds.split(index, labels)), "random"
    return list(KFold(n_folds, shuffle=True, random_state=seed).split(index)), "random"


def subsample(n: int, limit: int, seed: int) -> np.ndarray:
    """At most ``limit`` of ``n`` row indices, seeded, in their original order."""
    if n <= limit:
        return np.arange(n)
    return np.sort(np.array(random.Random(seed).sample(range(n), limit), dtype=int))


def bootstrap(metric, n: int, seed: int, resamples: int = BOOTSTRAP_RESAMPLES) -> np.ndarray:
    """``metric(idx)`` over ``resamples`` seeded resamples (with replacement) of ``n`` rows."""
    rng = np.random.default_rng(seed)
    return np.array([metric(rng.integers(0, n, n)) for _ in range(resamples)])


def interval(values: np.ndarray, decimals: int = 4) -> list[float]:
    """The central ``CONFIDENCE`` percentile interval of bootstrap values."""
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return [round(float(low), decimals), round(float(high), decimals)]


def macro_f1_codes(truth: np.ndarray, predicted: np.ndarray, n_classes: int) -> float:
    """Macro-F1 of integer-coded labels, over the classes present in truth or prediction
    (as ``training.evaluate.classification`` counts them); fast enough to bootstrap."""
    cells = np.bincount(truth * n_classes + predicted, minlength=n_classes * n_classes)
    matrix = cells.reshape(n_classes, n_classes)
    tp = np.diag(matrix).astype(float)
    support, predicted_n = matrix.sum(axis=1), matrix.sum(axis=0)
    present = (support + predicted_n) > 0
    denominator = support + predicted_n
    f1 = np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)
    return float(f1[present].mean()) if present.any() else 0.0


def logreg_search(x, codes: np.ndarray, n_classes: int, pick: np.ndarray, folds, weightings, grid,
                  make) -> tuple[np.ndarray, int, int]:
    """Macro-F1 of logistic regressions over folds, for every (class weight, C).

    Args:
        x: Feature rows; ``codes``: their class codes (0..n_classes-1).
        pick: The rows searched (``subsample``); ``folds`` index into ``pick`` (``cv_folds``).
        weightings, grid: Class weights and Cs tried.
        make: ``make(c, weighting, fit_rows) -> fitted model`` (fit rows index ``x``); each C is fitted
            from scratch: warm-started from the previous C's solution, lbfgs stops at once and every C
            scores the same.

    Returns:
        (scores summed over the folds, shape (weightings, Cs); best weighting index; best C index).
        A fold whose fitting rows hold one class is skipped.
    """
    scores = np.zeros((len(weightings), len(grid)))
    for fit_idx, val_idx in folds:
        fit, val = pick[fit_idx], pick[val_idx]
        if len(set(codes[fit])) < 2:
            continue
        for a, weighting in enumerate(weightings):
            for b, c in enumerate(grid):
                model = make(c, weighting, fit)
                scores[a, b] += macro_f1_codes(codes[val], model.predict(x[val]), n_classes)
    a, b = np.unravel_index(int(np.argmax(scores)), scores.shape)
    return scores, int(a), int(b)
