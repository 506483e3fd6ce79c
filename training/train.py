"""Fit the three heads on prepared examples; return estimators and the predictor's params.

Featurisation is ``ticketml.features.model_input`` (the serving code) followed by word and
character TF-IDF over the masked text and a DictVectorizer over the structured fields.

  * priority: multinomial logistic regression; a softmax temperature fitted on the
    validation set calibrates it, and ``review_threshold`` is the lowest top-class
    probability at which validation accuracy reaches ``review_target_accuracy``;
  * sentiment: logistic regression on the text when the data has sentiment labels, else None
    (the predictor falls back to ``ticketml.lexicon``);
  * resolution: ridge regression of log1p(hours) for the centre, a second ridge of the
    out-of-fold absolute residual for the spread, with censored (open) tickets imputed by
    their expected value above the observed lower bound (a few EM rounds of a Tobit model);
    the p90 multiplier is chosen on the validation set so that 90% of resolved tickets fall
    below p90 (split-conformal).
"""

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import scipy.sparse as sp
from scipy.optimize import minimize_scalar
from scipy.stats import norm
from sklearn.feature_extraction import DictVectorizer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import KFold, cross_val_predict

from ticketml.features import model_inputs
from training.data import Example

_Z90_GAUSSIAN = float(norm.ppf(0.9))
_MIN_ROWS = 20
_SIGMA_FLOOR = 0.05
_MIN_HOURS = 0.1
_MAX_HOURS = 24 * 365 * 2


class TrainingError(ValueError):
    """The data cannot train a head (too few labelled rows, a single class...)."""


@dataclass(frozen=True)
class TrainParams:
    """Hyper-parameters of one training run (recorded in the model card).

    ``censored_rounds`` is the number of EM rounds that impute still-open tickets' times;
    0 leaves them out of the resolution head. ``review_target_accuracy`` is the validation
    accuracy the predictions not flagged ``needs_review`` must reach.
    """

    seed: int = 7
    word_max_features: int = 20_000
    char_max_features: int = 10_000
    min_df: int = 2
    char_min_df: int = 3
    tol: float = 1e-3
    priority_c: float = 2.0
    sentiment_c: float = 2.0
    ridge_alpha: float = 2.0
    review_target_accuracy: float = 0.85
    censored_rounds: int = 3
    test_share: float = 0.2
    val_share: float = 0.1
    split: str = "auto"

    def as_dict(self) -> dict:
        return asdict(self)


def fit_heads(
    train: list[Example], val: list[Example], params: TrainParams, step: Callable[[str], None]
) -> tuple[dict, dict]:
    """Fit featurisers and heads.

    Args:
        train: Training examples.
        val: Validation examples (calibration, review threshold, p90 multiplier).
        params: Hyper-parameters.
        step: Called with a short description before each stage (progress reporting).

    Returns:
        (estimators, predictor params), as stored in a bundle.

    Raises:
        TrainingError: Too few rows carry a priority label or a resolution time.
    """
    step("featurise")
    texts, fields = model_inputs([e.ticket for e in train])
    word = TfidfVectorizer(
        ngram_range=(1, 2), min_df=params.min_df, max_features=params.word_max_features,
        sublinear_tf=True, dtype=np.float32,
    )
    char = TfidfVectorizer(
        analyzer="char_wb", ngram_range=(4, 4), min_df=params.char_min_df,
        max_features=params.char_max_features, sublinear_tf=True, dtype=np.float32,
    )
    x_text = sp.hstack([word.fit_transform(texts), char.fit_transform(texts)], format="csr")
    _compact(word)
    _compact(char)
    dict_vec = DictVectorizer(dtype=np.float32)
    x_all = sp.hstack([x_text, dict_vec.fit_transform(fields)], format="csr")
    featurise = _featuriser(word, char, dict_vec)

    step("priority")
    priority, priority_params = _fit_priority(train, val, x_all, featurise, params)
    step("sentiment")
    sentiment, sentiment_params = _fit_sentiment(train, x_text, params)
    step("resolution")
    mu, sigma, resolution_params = _fit_resolution(train, val, x_all, featurise, params)
    estimators = {
        "word": word, "char": char, "fields": dict_vec, "priority": priority,
        "sentiment": sentiment, "resolution_mu": mu, "resolution_sigma": sigma,
    }
    predictor_params = {
        "priority": priority_params, "sentiment": sentiment_params, "resolution": resolution_params,
    }
    return estimators, predictor_params


def _compact(vectorizer: TfidfVectorizer) -> None:
    """Shrink a fitted vectorizer's stored form without changing what it computes.

    skops writes every numpy scalar as its own array file; the vocabulary's numpy ints as
    plain ints cut the bundle several-fold. ``stop_words_`` only serves introspection.
    """
    vectorizer.vocabulary_ = {term: int(index) for term, index in vectorizer.vocabulary_.items()}
    if hasattr(vectorizer, "stop_words_"):
        del vectorizer.stop_words_


def _featuriser(word, char, dict_vec) -> Callable[[list[Example]], tuple]:
    def featurise(examples: list[Example]) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        texts, fields = model_inputs([e.ticket for e in examples])
        x_text = sp.hstack([word.transform(texts), char.transform(texts)], format="csr")
        return x_text, sp.hstack([x_text, dict_vec.transform(fields)], format="csr")
    return featurise


def _fit_priority(train, val, x_all, featurise, params: TrainParams):
    rows = [i for i, e in enumerate(train) if e.priority]
    labels = np.array([train[i].priority for i in rows])
    if len(rows) < _MIN_ROWS or len(set(labels)) < 2:
        raise TrainingError(
            f"Invalid training data: {len(rows)} rows with {len(set(labels))} priority classes. "
            f"At least {_MIN_ROWS} rows and 2 classes are needed; check the mapping's "
            '"priority" field and "values".'
        )
    model = LogisticRegression(C=params.priority_c, tol=params.tol, max_iter=2000)
    model.fit(x_all[rows], labels)
    classes = [str(c) for c in model.classes_]
    temperature, threshold = 1.0, 0.0
    val_rows = [e for e in val if e.priority in classes]
    if val_rows:
        logits = model.decision_function(featurise(val_rows)[1])
        if logits.ndim == 1:
            logits = np.column_stack([np.zeros_like(logits), logits])
        truth = np.array([classes.index(e.priority) for e in val_rows])
        temperature = _fit_temperature(logits, truth)
        probs = _softmax(logits / temperature)
        threshold = _review_threshold(probs, truth, params.review_target_accuracy)
    return model, {
        "classes": classes, "temperature": round(temperature, 6),
        "review_threshold": round(threshold, 6),
        "review_target_accuracy": params.review_target_accuracy,
    }


def _fit_sentiment(train, x_text, params: TrainParams):
    rows = [i for i, e in enumerate(train) if e.sentiment]
    labels = np.array([train[i].sentiment for i in rows])
    if len(rows) < _MIN_ROWS or len(set(labels)) < 2:
        return None, {"kind": "lexicon", "classes": []}
    model = LogisticRegression(C=params.sentiment_c, tol=params.tol, max_iter=2000)
    model.fit(x_text[rows], labels)
    return model, {"kind": "model", "classes": [str(c) for c in model.classes_]}


def _fit_resolution(train, val, x_all, featurise, params: TrainParams):
    rows = [i for i, e in enumerate(train) if e.hours is not None]
    closed = np.array([not train[i].censored for i in rows])
    if closed.sum() < _MIN_ROWS:
        raise TrainingError(
            f"Invalid training data: {int(closed.sum())} rows with a resolution time. At least "
            f'{_MIN_ROWS} are needed; map "resolution_hours" or "created_at" and "solved_at".'
        )
    x = x_all[rows]
    y_obs = np.log1p(np.array([train[i].hours for i in rows]))
    y = y_obs.copy()
    mu_model = Ridge(alpha=params.ridge_alpha)
    folds = KFold(n_splits=3, shuffle=True, random_state=params.seed)
    # Out-of-fold residuals: in-sample ones understate the spread of a high-dimensional fit.
    oof = cross_val_predict(Ridge(alpha=params.ridge_alpha), x[closed], y[closed], cv=folds)
    spread = np.abs(y[closed] - oof) * math.sqrt(math.pi / 2)  # E|N(0, s)| = s * sqrt(2/pi)
    sigma_model = Ridge(alpha=params.ridge_alpha).fit(x[closed], spread)
    mu_model.fit(x[closed], y[closed])
    if (~closed).any():
        x_open = x[~closed]
        sigma_open = np.maximum(sigma_model.predict(x_open), _SIGMA_FLOOR)
        for _ in range(params.censored_rounds):
            mu_open = mu_model.predict(x_open)
            y[~closed] = _expected_above(mu_open, sigma_open, y_obs[~closed])
            mu_model.fit(x, y)
    z90 = _Z90_GAUSSIAN
    val_rows = [e for e in val if e.hours is not None and not e.censored]
    if val_rows:
        xv = featurise(val_rows)[1]
        scores = (np.log1p([e.hours for e in val_rows]) - mu_model.predict(xv)) / np.maximum(
            sigma_model.predict(xv), _SIGMA_FLOOR)
        # Split-conformal quantile: ceil((n + 1) * 0.9)-th smallest score.
        rank = min(len(scores), math.ceil((len(scores) + 1) * 0.9)) - 1
        z90 = max(float(np.sort(scores)[rank]), 0.0)
    return mu_model, sigma_model, {
        "z90": round(z90, 6), "sigma_floor": _SIGMA_FLOOR,
        "min_hours": _MIN_HOURS, "max_hours": _MAX_HOURS,
        "censored_in_training": int((~closed).sum()),
    }


def _expected_above(mu: np.ndarray, sigma: np.ndarray, lower: np.ndarray) -> np.ndarray:
    """E[Y | Y > lower] for Y ~ N(mu, sigma): the inverse Mills ratio correction."""
    a = (lower - mu) / sigma
    mills = np.exp(norm.logpdf(a) - norm.logsf(a))
    return np.maximum(mu + sigma * mills, lower)


def _fit_temperature(logits: np.ndarray, truth: np.ndarray) -> float:
    def nll(log_t: float) -> float:
        probs = _softmax(logits / math.exp(log_t))
        return -float(np.mean(np.log(probs[np.arange(len(truth)), truth] + 1e-12)))
    result = minimize_scalar(nll, bounds=(-3.0, 3.0), method="bounded")
    return math.exp(result.x)


def _review_threshold(probs: np.ndarray, truth: np.ndarray, target: float) -> float:
    """Lowest top-probability above which the accepted predictions reach ``target`` accuracy.

    Returns 1.0 (review everything) when no threshold reaches the target.
    """
    top = probs.max(axis=1)
    correct = probs.argmax(axis=1) == truth
    order = np.argsort(-top, kind="stable")
    accuracy = np.cumsum(correct[order]) / np.arange(1, len(order) + 1)
    ok = np.nonzero(accuracy >= target)[0]
    if not len(ok):
        return 1.0
    return float(top[order][ok[-1]])


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)
