"""Strong plain reference models, measured beside ours: what a careful first attempt reaches.

  * ``tfidf_logreg`` (priority, sentiment): word (1-2) and character (2-5, within word
    boundaries) TF-IDF of the masked text, sublinear tf, then logistic regression with C
    and the class weight (none or balanced) chosen by cross-validated macro-F1 among
    ``C_GRID`` x ``CLASS_WEIGHTS``;
  * ``tfidf_ridge`` (resolution): the same TF-IDF, then ridge on log1p(hours) of resolved
    tickets, alpha chosen by cross-validated log-MAE among ``ALPHA_GRID``;
  * ``fields_gbm`` (every head, where the data has structured fields): scikit-learn's
    histogram gradient boosting with default settings on the same fields the heads read
    (categoricals as native categories), the absolute-error loss for log1p(hours).

Folds come from ``training.folds.cv_folds`` (time-aware when every row has a timestamp).
For speed the TF-IDF is fitted once on the whole training set and reused in every fold (its
vocabulary and idf see the fold's validation rows' text, not their labels). A source
without text has no TF-IDF baseline; one whose fields never vary has no tree baseline.
"""

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, Ridge
from threadpoolctl import threadpool_limits

from ticketml.features import PRIORITIES, SENTIMENTS, model_inputs
from training.data import Example
from training.evaluate import classification, resolution_metrics
from training.folds import cv_folds, logreg_search, subsample

C_GRID = (0.25, 1.0, 4.0, 16.0)
CLASS_WEIGHTS = (None, "balanced")
ALPHA_GRID = (1.0, 3.0, 10.0)
_CV_MAX_ROWS = 8_000  # Settings are chosen on at most this many rows (bounded cost).
_MAX_ITER = 3000
_MAX_CATEGORIES = 250  # Histogram boosting takes at most 255 categories per feature.
NAMES = {
    "tfidf_logreg": "word (1-2) + char (2-5) TF-IDF, logistic regression, C and class weight "
                    "by cross-validation",
    "tfidf_ridge": "word (1-2) + char (2-5) TF-IDF, ridge on log-hours, alpha by cross-validation",
    "fields_gbm": "gradient boosting (scikit-learn defaults) on the structured fields",
}


@dataclass
class Baseline:
    """One baseline's predictions on the test rows that have the head's label.

    Attributes:
        name: Key in ``NAMES``.
        params: Settings chosen by cross-validation.
        rows: Indices of the test examples predicted.
        predicted: A label (classification) or p50 hours (resolution) per row.
        metrics: ``classification`` or ``resolution_metrics`` of the predictions.
    """

    name: str
    params: dict
    rows: list[int]
    predicted: list
    metrics: dict = field(default_factory=dict)

    def summary(self) -> dict:
        """The JSON-ready part (no per-row predictions)."""
        return {"name": self.name, "description": NAMES[self.name], "params": self.params,
                "metrics": self.metrics}


def plain_baselines(train: list[Example], test: list[Example], seed: int = 7,
                    time_folds: bool = True) -> dict:
    """Fit every baseline that applies on ``train`` and predict ``test``.

    Args:
        train: Training examples.
        test: Test examples.
        seed: Seed of the folds and the trees.
        time_folds: Time-aware folds when every row has a time (a time split); False
            takes the rows as exchangeable (a random split).

    Returns:
        ``{"priority": [Baseline...], "sentiment": [...], "resolution": [...]}``; a list is
        empty when the head's labels are missing or no baseline applies.
    """
    with threadpool_limits(1):  # Small sparse fits: more BLAS/OpenMP threads spin, they do not help.
        return _plain_baselines(train, test, seed, time_folds)


def _plain_baselines(train, test, seed, time_folds) -> dict:
    train_texts, train_fields = model_inputs([e.ticket for e in train])
    test_texts, test_fields = model_inputs([e.ticket for e in test])
    text = _text_features(train_texts, test_texts)
    fields = _field_features(train_fields, test_fields)
    out = {}
    for head, labels in (("priority", PRIORITIES), ("sentiment", SENTIMENTS)):
        rows = [i for i, e in enumerate(train) if getattr(e, head)]
        test_rows = [i for i, e in enumerate(test) if getattr(e, head)]
        found = []
        if test_rows and len({getattr(train[i], head) for i in rows}) >= 2:
            y = np.array([labels.index(getattr(train[i], head)) for i in rows])
            times = [train[i].created_at if time_folds else None for i in rows]
            truth = [getattr(test[i], head) for i in test_rows]
            if text is not None:
                found.append(_logreg(text, rows, test_rows, y, times, labels, seed))
            if fields is not None and head == "priority":
                found.append(_gbm_classifier(fields, rows, test_rows, y, labels, seed))
            for baseline in found:
                baseline.metrics = classification(truth, baseline.predicted, labels)
        out[head] = found
    out["resolution"] = _resolution(train, test, text, fields, seed, time_folds)
    return out


def _text_features(train_texts, test_texts):
    if not any(train_texts):
        return None
    word = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True, dtype=np.float32)
    char = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True,
                           dtype=np.float32)
    x_train = sp.hstack([word.fit_transform(train_texts), char.fit_transform(train_texts)],
                        format="csr")
    x_test = sp.hstack([word.transform(test_texts), char.transform(test_texts)], format="csr")
    return x_train, x_test


def _field_features(train_fields, test_fields):
    """Dense field matrices: one column per categorical (its code, NaN when unseen) and one
    per number, with the categorical mask; None when no field varies."""
    categories: dict[str, dict[str, int]] = {}
    counts: dict[str, dict[str, int]] = {}
    numeric: set[str] = set()
    for row in train_fields:
        for key in row:
            name, sep, value = key.partition("=")
            if sep:
                counts.setdefault(name, {}).setdefault(value, 0)
                counts[name][value] += 1
            else:
                numeric.add(key)
    for name, values in sorted(counts.items()):
        frequent = sorted(values, key=lambda v: (-values[v], v))[:_MAX_CATEGORIES]
        if len(frequent) > 1:
            categories[name] = {v: j for j, v in enumerate(frequent)}
    columns = [*categories, *sorted(numeric)]
    if not columns:
        return None

    def dense(rows):
        out = np.full((len(rows), len(columns)), np.nan)
        for i, row in enumerate(rows):
            for key, number in row.items():
                name, sep, value = key.partition("=")
                if sep and name in categories:
                    out[i, columns.index(name)] = categories[name].get(value, np.nan)
                elif not sep and key in numeric:
                    out[i, columns.index(key)] = number
        return out
    mask = np.array([c in categories for c in columns])
    return dense(train_fields), dense(test_fields), mask


def _logreg(text, rows, test_rows, y, times, labels, seed) -> Baseline:
    x, x_test = text[0][rows], text[1][test_rows]
    pick = subsample(len(rows), _CV_MAX_ROWS, seed)
    folds, method = cv_folds([times[i] for i in pick], y[pick], seed)
    scores, a, b = logreg_search(
        x, y, len(labels), pick, folds, CLASS_WEIGHTS, C_GRID,
        lambda c, weighting, fit: LogisticRegression(C=c, max_iter=_MAX_ITER, tol=1e-3,
                                                     class_weight=weighting).fit(x[fit], y[fit]))
    best, weighting = C_GRID[b], CLASS_WEIGHTS[a]
    model = LogisticRegression(C=best, class_weight=weighting, max_iter=_MAX_ITER,
                               tol=1e-3).fit(x, y)
    return Baseline("tfidf_logreg", {"C": best, "class_weight": weighting or "none",
                                     "folds": method,
                                     "cv_macro_f1": [_cv_means(row, folds) for row in scores]},
                    test_rows, [labels[int(p)] for p in model.predict(x_test)])


def _gbm_classifier(fields, rows, test_rows, y, labels, seed) -> Baseline:
    x, x_test, mask = fields
    with threadpool_limits(1, "openmp"):
        model = HistGradientBoostingClassifier(categorical_features=mask, random_state=seed)
        predicted = model.fit(x[rows], y).predict(x_test[test_rows])
    return Baseline("fields_gbm", {}, test_rows, [labels[int(p)] for p in predicted])


def _resolution(train, test, text, fields, seed, time_folds) -> list[Baseline]:
    rows = [i for i, e in enumerate(train) if e.hours is not None and not e.censored]
    test_rows = [i for i, e in enumerate(test) if e.hours is not None and not e.censored]
    if len(rows) < 2 or not test_rows:
        return []
    y = np.log1p([train[i].hours for i in rows])
    truth = [test[i].hours for i in test_rows]
    found = []
    if text is not None:
        x, x_test = text[0][rows], text[1][test_rows]
        pick = subsample(len(rows), _CV_MAX_ROWS, seed)
        folds, method = cv_folds(
            [train[rows[i]].created_at if time_folds else None for i in pick], None, seed)
        scores = np.zeros(len(ALPHA_GRID))
        for fit_idx, val_idx in folds:
            fit, val = pick[fit_idx], pick[val_idx]
            for j, alpha in enumerate(ALPHA_GRID):
                p = Ridge(alpha=alpha, tol=1e-3).fit(x[fit], y[fit]).predict(x[val])
                scores[j] += float(np.mean(np.abs(p - y[val])))
        best = ALPHA_GRID[int(np.argmin(scores))]
        p50 = np.expm1(Ridge(alpha=best, tol=1e-3).fit(x, y).predict(x_test)).clip(min=0.0)
        found.append(Baseline("tfidf_ridge", {"alpha": best, "folds": method,
                                              "cv_log_mae": _cv_means(scores, folds)},
                              test_rows, p50.tolist()))
    if fields is not None:
        x, x_test, mask = fields
        with threadpool_limits(1, "openmp"):
            model = HistGradientBoostingRegressor(loss="absolute_error", categorical_features=mask,
                                                  random_state=seed)
            p50 = np.expm1(model.fit(x[rows], y).predict(x_test[test_rows])).clip(min=0.0)
        found.append(Baseline("fields_gbm", {}, test_rows, p50.tolist()))
    for baseline in found:
        metrics = resolution_metrics(truth, baseline.predicted, baseline.predicted)
        metrics.pop("p90_coverage")  # A point model has no p90.
        baseline.metrics = metrics
    return found


def _cv_means(scores: np.ndarray, folds) -> list[float]:
    return [round(float(s) / max(len(folds), 1), 4) for s in scores]
