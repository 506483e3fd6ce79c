"""Convert fitted scikit-learn estimators into the plain-array models that serving runs.

Training fits scikit-learn estimators (``training.train.fit_heads``); bundles store, and the
deployed function runs, ``ticketml.arraymodels`` instead, which needs only numpy. This is the
one place that reads scikit-learn's fitted attributes. It refuses any setting whose
arithmetic ``ticketml.arraymodels`` does not reproduce, rather than export a model that
would predict something else than the one evaluated.

    export_models({"word": fitted_tfidf, "priority": fitted_logreg, "sentiment": None, ...})
        -> {"word": TextVectorizer, "priority": LogisticModel, "sentiment": None, ...}
"""

from collections.abc import Mapping

import numpy as np
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.feature_extraction import DictVectorizer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, Ridge

from ticketml.arraymodels import (
    DEFAULT_TOKEN_PATTERN, MODEL_CLASSES, FieldVectorizer, LinearModel, LogisticModel,
    TextVectorizer, TreeEnsemble,
)
from ticketml.errors import BundleError


class ExportError(BundleError):
    """A fitted estimator (or one of its settings) has no plain-array equivalent."""


def export_models(estimators: Mapping[str, object]) -> dict[str, object]:
    """Convert each fitted estimator; None and already converted models pass through.

    Raises:
        ExportError: An estimator of another type, not fitted, or with unsupported settings.
    """
    return {name: export_model(name, value) for name, value in estimators.items()}


def export_model(name: str, estimator: object) -> object:
    """Convert one fitted estimator (see ``export_models``)."""
    if estimator is None or type(estimator) in MODEL_CLASSES.values():
        return estimator
    converters = ((TfidfVectorizer, _tfidf), (DictVectorizer, _dict),
                  (LogisticRegression, _logistic), (Ridge, _ridge),
                  (HistGradientBoostingRegressor, _trees))
    for cls, convert in converters:
        if type(estimator) is cls:
            try:
                return convert(estimator)
            except AttributeError as exc:
                raise ExportError(f'Cannot export "{name}": {exc}. Is it fitted?') from exc
            except ExportError as exc:
                raise ExportError(f'Cannot export "{name}": {exc}') from exc
            except ValueError as exc:  # A model class refusing what it was given.
                raise ExportError(f'Cannot export "{name}": {exc}.') from exc
    text = repr(estimator)
    raise ExportError(
        f'Cannot export "{name}": {type(estimator).__module__}.{type(estimator).__qualname__} '
        f"({text if len(text) < 200 else text[:200] + '...'}). Supported: "
        + ", ".join(cls.__name__ for cls, _ in converters) + ".")


def placeholder_models() -> dict[str, object]:
    """Empty featurisers, for probe predictors that only run some heads on given features."""
    empty = {"vocabulary": [], "idf": None}
    return {"word": TextVectorizer(analyzer="word", ngram_range=(1, 1), **empty),
            "char": TextVectorizer(analyzer="char_wb", ngram_range=(2, 2), **empty),
            "fields": FieldVectorizer(feature_names=[])}


def _tfidf(vec: TfidfVectorizer) -> TextVectorizer:
    _refuse_unless(vec.input == "content", f"input={vec.input!r}")
    _refuse_unless(vec.preprocessor is None and vec.tokenizer is None
                   and not callable(vec.analyzer), "a custom preprocessor, tokenizer or analyzer")
    _refuse_unless(vec.strip_accents is None, f"strip_accents={vec.strip_accents!r}")
    _refuse_unless(vec.stop_words is None, "stop words")
    _refuse_unless(vec.analyzer != "word" or vec.token_pattern == DEFAULT_TOKEN_PATTERN,
                   f"token_pattern={vec.token_pattern!r}")
    _refuse_unless(vec.norm in ("l2", None), f"norm={vec.norm!r}")
    dtype = np.dtype(vec.dtype)
    _refuse_unless(dtype in (np.float32, np.float64), f"dtype={dtype}")
    vocabulary = [None] * len(vec.vocabulary_)
    for term, index in vec.vocabulary_.items():
        vocabulary[int(index)] = term
    _refuse_unless(all(isinstance(t, str) for t in vocabulary), "a vocabulary with gaps")
    idf = None
    if vec.use_idf:
        idf = np.asarray(vec.idf_)
        # transform multiplies the counts (in dtype) by idf_ cast to dtype.
        idf = idf.astype(dtype) if idf.dtype != dtype else idf
    return TextVectorizer(
        analyzer=vec.analyzer, ngram_range=tuple(int(n) for n in vec.ngram_range),
        vocabulary=vocabulary, idf=idf, lowercase=bool(vec.lowercase), binary=bool(vec.binary),
        sublinear_tf=bool(vec.sublinear_tf), norm=vec.norm, dtype=dtype.name)


def _dict(vec: DictVectorizer) -> FieldVectorizer:
    _refuse_unless(vec.sparse, "sparse=False")
    dtype = np.dtype(vec.dtype)
    _refuse_unless(dtype in (np.float32, np.float64), f"dtype={dtype}")
    names = list(vec.feature_names_)
    _refuse_unless(all(vec.vocabulary_[n] == j for j, n in enumerate(names)),
                   "a vocabulary out of step with feature_names_")
    return FieldVectorizer(feature_names=[str(n) for n in names], separator=vec.separator,
                           dtype=dtype.name)


def _logistic(model: LogisticRegression) -> LogisticModel:
    classes = [str(c) for c in model.classes_]
    intercept = _intercept(model.intercept_, model.coef_, (model.coef_.shape[0],))
    return LogisticModel(classes=classes, coef=np.asarray(model.coef_), intercept=intercept)


def _ridge(model: Ridge) -> LinearModel:
    _refuse_unless(np.ndim(model.coef_) == 1, "several targets")
    return LinearModel(coef=np.asarray(model.coef_),
                       intercept=_intercept(model.intercept_, model.coef_, ()))


def _intercept(value, coef: np.ndarray, shape: tuple) -> np.ndarray:
    """The intercept as an array of its own dtype. A plain Python float (no intercept fitted:
    0.0) takes the coefficients' dtype: numpy adds a Python float without upcasting, and the
    value is exact in any float dtype."""
    if isinstance(value, float):
        value = np.full(shape, value, dtype=np.asarray(coef).dtype)
    return np.asarray(value).reshape(shape)


def _trees(model: HistGradientBoostingRegressor) -> TreeEnsemble:
    _refuse_unless(model._preprocessor is None,
                   "categorical_features (training encodes categories as ordered codes)")
    _refuse_unless(model.n_trees_per_iteration_ == 1, "several trees per iteration")
    link = type(model._loss.link).__name__
    _refuse_unless(link == "IdentityLink", f"loss {model.loss!r} (link {link})")
    nodes = [predictor.nodes for (predictor,) in model._predictors]
    _refuse_unless(nodes, "no trees")
    _refuse_unless(not any(n["is_categorical"].any() for n in nodes), "categorical splits")
    sizes = np.array([len(n) for n in nodes], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    merged = np.concatenate(nodes)
    offsets = np.repeat(starts, sizes)
    leaf = merged["is_leaf"].astype(bool)
    # Children are stored per tree; in the concatenation they move by the tree's offset.
    left = np.where(leaf, 0, merged["left"].astype(np.int64) + offsets)
    right = np.where(leaf, 0, merged["right"].astype(np.int64) + offsets)
    baseline = np.asarray(model._baseline_prediction, dtype=np.float64).reshape(1)
    return TreeEnsemble(
        n_features=int(model.n_features_in_), tree_starts=starts,
        is_leaf=leaf, feature=np.where(leaf, 0, merged["feature_idx"]).astype(np.int64),
        threshold=np.where(leaf, 0.0, merged["num_threshold"]).astype(np.float64),
        missing_left=merged["missing_go_to_left"].astype(bool), left=left, right=right,
        value=merged["value"].astype(np.float64), baseline=baseline)


def _refuse_unless(condition: object, setting: str) -> None:
    if not condition:
        raise ExportError(f"{setting} is not supported by ticketml.arraymodels.")
