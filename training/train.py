"""Fit the three heads on prepared examples; return estimators and the predictor's params.

Featurisation is ``ticketml.features.model_input`` (the serving code) followed by word and
character TF-IDF over the masked text and a DictVectorizer over the structured fields.

  * priority: multinomial logistic regression, its C and class weight (balanced or none)
    chosen by cross-validated macro-F1 over the training period; a softmax temperature
    fitted on the validation set calibrates it, and ``review_threshold`` is the lowest
    top-class probability at which validation accuracy reaches ``review_target_accuracy``;
  * sentiment: logistic regression on the text plus VADER's four scores when the data has
    sentiment labels, else None (the predictor uses VADER alone, ``ticketml.lexicon``);
    where the model contradicts a clear VADER polarity the two are averaged, with the
    strictest threshold whose cost on validation data is noise;
  * both logistic heads keep their extra columns (priority's structured fields, sentiment's
    VADER scores) only when they beat the text alone in the same cross-validation, so a head
    is never the plain text model's inferior by construction;
  * resolution: ridge regression of log1p(hours) for the centre, a second ridge of the
    out-of-fold absolute residual for the spread, with censored (open) tickets imputed by
    their expected value above the observed lower bound (a few EM rounds of a Tobit model).
    On top, gradient-boosted trees (median and 90% quantile losses) over the categorical
    codes, numbers and the out-of-fold ridge outputs. The training median, the ridge or the
    trees: whichever has the lowest cross-validated log-MAE over the training period
    (``_cv_resolution_models``), and the ridge of resolved tickets alone competes too: where
    open tickets mislead the imputation (abandoned bugs), they are left out. The p90 is
    shifted on the validation set so that 90% of resolved tickets fall below it
    (split-conformal).

Settings are chosen by cross-validation over the whole training period (``training.folds``:
time-aware folds when every row has a time and the split is not random), not on the newest
slice alone; each search is recorded in the head's params (``search``), and what the final
estimator was fitted with in ``settings``. Once everything is chosen, each head is fitted again
on training + validation rows with those settings (``TrainParams.refit``, ``_refit``).

A head whose labels are missing is trained only if ``require`` asks for it (then it is an
error); otherwise it is None and the predictor falls back to the prior, VADER, or the median.

Cost (100k demo tickets on two cores, ``README.md``): the three heads are fitted at once in
threads (their sparse products release the GIL), VADER scores the training texts in another
process while this one featurises, the validation set is featurised once for all heads, and
the trees reuse the out-of-fold ridge outputs when no open ticket was imputed. None of it
changes a result: the same data and seed give the same models.
"""

import copy
import math
import multiprocessing
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass

import numpy as np
import scipy.sparse as sp
from scipy.optimize import minimize_scalar
from scipy.stats import norm
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.feature_extraction import DictVectorizer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import f1_score
from sklearn.model_selection import KFold
from threadpoolctl import threadpool_limits

from ticketml import lexicon
from ticketml.features import DESCRIPTION_CHARS, PRIORITIES, model_inputs
from ticketml.predictor import Predictor
from training.data import Example
from training.export import export_models, placeholder_models
from training.folds import cv_folds, logreg_search, subsample

_Z90_GAUSSIAN = float(norm.ppf(0.9))
_MIN_ROWS = 20
_MIN_GBM_ROWS = 200
_CENSOR_HORIZON_QUANTILE = 0.9
_C_FACTORS = (0.125, 0.5, 2.0, 8.0)  # Times priority_c or sentiment_c: the C grid searched.
_ALPHA_FACTORS = (1.0 / 3.0, 1.0, 10.0 / 3.0)  # Times ridge_alpha: the alpha grid.
_CLASS_WEIGHTS = ("balanced", None)  # Searched when a class weight is "auto".
_CV_MAX_ROWS = 5_000  # Settings are chosen on at most this many rows: bounded cost.
_CV_MAX_GBM_ROWS = 10_000
_BACKGROUND_ROWS = 20_000  # Below this, starting another process costs more than it saves.
_SIGMA_FLOOR = 0.05
_MIN_HOURS = 0.1
_MAX_HOURS = 24 * 365 * 2
_MAX_CODES = 250  # HistGradientBoosting takes at most 255 categories per feature.
_MIN_CODE_COUNT = 3
_SMOOTHING = 10.0  # Pseudo-count pulling a rare value's mean target towards the overall one.
_MS_PER_DAY = 86_400_000
_NO_TEXT = "notext"
_VETO_STEPS = (0.3, 0.5, 0.7)
_VETO_TOLERANCE = 0.005
HEADS = ("priority", "sentiment", "resolution")
_RESOLUTION_ESTIMATORS = ("resolution_mu", "resolution_sigma", "resolution_p50", "resolution_p90")


class TrainingError(ValueError):
    """The data cannot train a head (too few labelled rows, a single class...)."""


@dataclass(frozen=True)
class TrainParams:
    """Hyper-parameters of one training run (recorded in the model card).

    ``censored_rounds`` is the number of EM rounds that impute still-open tickets' times;
    0 leaves them out of the resolution head. ``review_target_accuracy`` is the validation
    accuracy the predictions not flagged ``needs_review`` must reach.
    ``recency_half_life_days`` > 0 weights training tickets by 0.5 ** (age / half-life),
    age counted back from the newest one: for sources whose process drifts.
    ``resolution_model`` is ``auto`` (trees when they beat the ridge on validation data),
    ``gbm`` or ``ridge``. ``recentre`` shifts the predicted log-hours by the median validation
    residual, for each resolution model only where the cross-validation folds say it pays
    (``_cv_resolution_models``). ``refit`` names the heads whose final estimator is fitted again on training +
    validation rows once everything is chosen on the validation rows (``fit_heads``), when they
    are at most ``refit_max_rows``; True is all three, False or () none. The resolution head by
    default: on the public benchmarks the refit won beyond the interval once (servicenow, time
    split, 1.569 -> 1.535 log-MAE) and tied elsewhere, with p90 coverage and within 2x moved by
    under 0.04. The classification heads are not refitted by default: priority's calibration
    error rose on all three priority sets, so its confidence thresholds would lose their stated
    precision, and sentiment tied. On 100k demo tickets (over ``refit_max_rows``) nothing is
    refitted: there it moved no metric by over 0.003 and cost 47 s (``README.md``).
    The text features keep every word and character n-gram found in ``min_df`` tickets (the plain
    baselines' vocabulary) below ``vocabulary_cap_rows`` training + validation rows; from there on,
    at most ``word_max_features`` and ``char_max_features``, character n-grams kept when in
    ``char_min_df``: the cap keeps training on 100k tickets within its time, and cost gitbugs'
    resolution 0.008-0.009 log-MAE against the baseline (``README.md``).
    The heads read the masked subject and the opening of the masked description, at most
    ``description_chars`` characters cut at a word boundary (``features.opening``; None reads it all),
    and the bundle records it so that serving reads the same.
    """

    seed: int = 7
    word_max_features: int = 20_000
    char_max_features: int = 20_000
    min_df: int = 2
    char_min_df: int = 3
    tol: float = 1e-3
    priority_c: float = 2.0
    priority_class_weight: str | None = "auto"
    sentiment_c: float = 2.0
    sentiment_class_weight: str | None = "auto"
    lexicon_features: bool = True
    lexicon_veto: float = 0.3
    ridge_alpha: float = 3.0
    ridge_tol: float = 1e-3
    resolution_model: str = "auto"
    gbm_max_iter: int = 200
    gbm_learning_rate: float = 0.05
    recency_half_life_days: float = 0.0
    recentre: bool = True
    review_target_accuracy: float = 0.85
    censored_rounds: int = 3
    cv_settings: bool = True
    test_share: float = 0.2
    val_share: float = 0.1
    split: str = "auto"
    refit: bool | tuple[str, ...] = ("resolution",)  # see above: not priority, whose thresholds would drift
    refit_max_rows: int = 50_000
    vocabulary_cap_rows: int = 50_000
    description_chars: int | None = DESCRIPTION_CHARS

    def as_dict(self) -> dict:
        return asdict(self)


def stage_timer(bar, timings: dict):
    """A `step(stage)` callback for fit_heads: times each stage into `timings` and advances `bar`."""
    clock = {"stage": None, "start": time.perf_counter()}

    def step(stage: str) -> None:
        if clock["stage"] is not None:
            timings[clock["stage"]] = round(time.perf_counter() - clock["start"], 2)
            bar.update(1)
        clock.update(stage=stage, start=time.perf_counter())
        bar.set_postfix_str(stage)

    return step


def fit_heads(
    train: list[Example], val: list[Example], params: TrainParams,
    step: Callable[[str], None], require: Sequence[str] = ("priority", "resolution"),
    on_validated: Callable[[dict, dict], None] | None = None,
) -> tuple[dict, dict]:
    """Fit featurisers and heads.

    Every setting, calibration and threshold is chosen with the heads fitted on ``train``
    and measured on ``val``. With ``params.refit`` (and a validation set, and at most
    ``params.refit_max_rows`` rows in both), the final estimator of each head it names is then
    fitted again on ``train + val`` with those same settings, and keeps the calibration chosen
    before (``_refit``).

    Args:
        train: Training examples.
        val: Validation examples (calibration, review threshold, p90 offset, model choice).
        params: Hyper-parameters.
        step: Called with a short description before each stage (progress reporting).
        require: Heads that must be trained; the others fall back when labels are missing.
        on_validated: Called with the estimators and predictor params fitted on ``train``
            alone, before the refit: what any later threshold must be chosen on, since
            ``val`` is no longer held out from the refitted heads.

    Returns:
        (estimators, predictor params), as stored in a bundle.

    Raises:
        TrainingError: A required head has too few labelled rows.
    """
    refit_heads = heads_to_refit(params.refit)
    step("featurise")
    texts, fields = model_inputs([e.ticket for e in train], params.description_chars)
    sentiment_rows = [i for i, e in enumerate(train) if e.sentiment]
    refit = bool(refit_heads) and 0 < len(val) and len(train) + len(val) <= params.refit_max_rows
    val_lexicon_scores = None
    with Background(params.lexicon_features and len(sentiment_rows) >= _BACKGROUND_ROWS) as bg:
        # VADER is pure Python: another process scores the texts while this one featurises.
        lexicon_scores = bg.submit(lexicon.features, [texts[i] for i in sentiment_rows])
        if refit and "sentiment" in refit_heads:
            val_texts = model_inputs([e.ticket for e in val if e.sentiment], params.description_chars)[0]
            val_lexicon_scores = bg.submit(lexicon.features, val_texts)
        matrices = _featurise(train, val, params, texts, fields)
        heads, heads_params = _fit_heads(train, val, params, step, require, matrices,
                                         lexicon_scores)
        estimators, predictor_params = _assemble(matrices, heads, heads_params, params.description_chars)
        if on_validated is not None:
            on_validated(estimators, predictor_params)
        if not refit:
            return estimators, predictor_params
        step("refit")
        return _refit(train, val, params, matrices, lexicon_scores, val_lexicon_scores,
                      estimators, predictor_params, refit_heads)


def heads_to_refit(value) -> tuple[str, ...]:
    """The heads a ``TrainParams.refit`` value names: True all, False / None / () none.

    Raises:
        ValueError: a name that is not a head.
    """
    if value is True:
        return HEADS
    if not value:
        return ()
    if isinstance(value, str):
        value = (value,)
    unknown = [name for name in value if name not in HEADS]
    if unknown:
        raise ValueError(f"refit names {', '.join(map(repr, unknown))}: each head it names must be one of "
                         f"{', '.join(HEADS)} (or True for all, False for none)")
    return tuple(head for head in HEADS if head in value)


@dataclass
class _Matrices:
    """The training rows' features, their featurisers and the choices made before the heads."""

    word: TfidfVectorizer
    char: TfidfVectorizer
    dict_vec: DictVectorizer
    x_text: sp.csr_matrix
    x_all: sp.csr_matrix
    fields: list[dict]
    featurise: Callable[[list[Example]], tuple]
    half_life: float
    recency_search: dict | None


def _featurise(train, val, params, texts, fields) -> _Matrices:
    """Fit the featurisers on the training rows' model inputs and choose the recency weighting."""
    capped = len(train) + len(val) >= params.vocabulary_cap_rows
    word = TfidfVectorizer(
        ngram_range=(1, 2), min_df=params.min_df,
        max_features=params.word_max_features if capped else None, sublinear_tf=True, dtype=np.float32,
    )
    char = TfidfVectorizer(
        analyzer="char_wb", ngram_range=(2, 5), min_df=params.char_min_df if capped else params.min_df,
        max_features=params.char_max_features if capped else None, sublinear_tf=True, dtype=np.float32,
    )
    x_text = sp.hstack([_fit_text(word, texts), _fit_text(char, texts)], format="csr")
    _compact(word)
    _compact(char)
    dict_vec = DictVectorizer(dtype=np.float32)
    x_all = sp.hstack([x_text, dict_vec.fit_transform(fields)], format="csr")
    featurise = _cached(_featuriser(word, char, dict_vec, params.description_chars), val)
    half_life, recency_search = _choose_recency(train, x_all, params)
    return _Matrices(word, char, dict_vec, x_text, x_all, fields, featurise, half_life,
                     recency_search)


def _fit_heads(train, val, params, step, require, m: _Matrices, lexicon_scores,
               fixed: dict | None = None, only: tuple[str, ...] = HEADS) -> tuple[dict, dict]:
    """The heads in ``only`` (all three by default) on ``train``'s rows of ``m``; settings
    searched, or ``fixed`` (each head's ``settings`` from an earlier fit), when no validation
    set is given. A head left out has no estimator and None for its params.

    Returns:
        ({head estimator name: estimator}, {head: predictor params}).
    """
    fixed = fixed or {}
    weights = recency_weights(train, m.half_life)
    n_text = m.x_text.shape[1]
    step("priority")
    # One BLAS and OpenMP thread per head: the heads already keep both cores busy, and on
    # small fits (the searches) more threads spin more than they work (a search fit took 1.7 s
    # of CPU on one thread and 4.1 s on two, for no shorter wait).
    with threadpool_limits(1), ThreadPoolExecutor(2) as threads:
        # The three heads are fitted at once: they spend their time in sparse products,
        # which release the GIL, so both cores work. A stage's time is the wait for its
        # head, after the previous one.
        sentiment_fit = threads.submit(
            _fit_sentiment, train, val, m.x_text, weights, m.featurise, params,
            "sentiment" in require, lexicon_scores, fixed.get("sentiment")) if "sentiment" in only else None
        resolution_fit = threads.submit(
            _fit_resolution, train, val, m.x_all, n_text, m.fields, weights, m.featurise,
            params, "resolution" in require, fixed.get("resolution")) if "resolution" in only else None
        try:
            priority, priority_params = _fit_priority(
                train, val, m.x_all, n_text, weights, m.featurise, params,
                "priority" in require, fixed.get("priority")) if "priority" in only else (None, None)
            step("sentiment")
            sentiment, sentiment_params = sentiment_fit.result() if sentiment_fit else (None, None)
            step("resolution")
            resolution, resolution_params = resolution_fit.result() if resolution_fit else ({}, None)
        except BaseException:
            for fit in (sentiment_fit, resolution_fit):
                if fit is not None:
                    fit.cancel()
            raise
    return ({"priority": priority, "sentiment": sentiment, **resolution},
            {"priority": priority_params, "sentiment": sentiment_params,
             "resolution": resolution_params})


def _assemble(m: _Matrices, heads: dict, heads_params: dict, description_chars: int | None) -> tuple[dict, dict]:
    """(estimators, predictor params) as a bundle stores them."""
    estimators = {"word": m.word, "char": m.char, "fields": m.dict_vec, **heads}
    return estimators, {
        **heads_params,
        **({"description_chars": description_chars} if description_chars is not None else {}),
        "resolution": {**heads_params["resolution"], "recency_half_life_days": m.half_life,
                       **({"recency_search": m.recency_search} if m.recency_search else {})},
    }


def _refit(train, val, params, m: _Matrices, lexicon_scores, val_lexicon_scores,
           estimators: dict, predictor_params: dict,
           heads: tuple[str, ...] = HEADS) -> tuple[dict, dict]:
    """The final estimator of each of ``heads`` fitted again on ``train + val``, with the
    settings, calibration and thresholds chosen with it fitted on ``train``. A head fitted
    without settings (a prior, VADER alone, a constant) is not refitted.

    The featurisers stay those fitted on ``train`` (same columns, so the settings mean the same
    thing). The calibration (priority's temperature and review threshold, sentiment's veto,
    resolution's centre offset, spread scale and p90 offset) and the confidence thresholds
    (``on_validated``) stay those chosen on ``val`` with the heads fitted on ``train``: they
    were fitted on predictions for rows the model had not seen, and the refitted model is the
    same model under the same penalty with a tenth more rows, so its scores on new tickets are
    close to the earlier model's. Recalibrating on ``val`` now would fit in-sample predictions,
    which are overconfident, and no rows are left that the refitted model has not seen. The
    price is measured (``python -m training.experiments.refit``, 2026-12-05): p90 coverage
    and within 2x on test rows moved by under 0.04 either way, but priority's calibration
    error rose on all three priority benchmarks (0.006 -> 0.009, 0.053 -> 0.066, and 0.079 ->
    0.123 on gitbugs' time split): the refitted logistic regression is somewhat more confident.
    """
    examples = list(train) + list(val)
    xt_v, xa_v, _, fields_v = m.featurise(val)
    combined = _Matrices(
        m.word, m.char, m.dict_vec, sp.vstack([m.x_text, xt_v], format="csr"),
        sp.vstack([m.x_all, xa_v], format="csr"), list(m.fields) + list(fields_v),
        m.featurise, m.half_life, m.recency_search)
    fixed = {head: p["settings"] for head, p in predictor_params.items()
             if head in heads and "settings" in p}
    if fixed.get("resolution", {}).get("kind") == "gbm":
        # The trees are refitted on the same codes, which the predictor params hold.
        resolution = predictor_params["resolution"]
        fixed["resolution"] = {**fixed["resolution"], "codes": resolution["codes"],
                               "numeric": resolution["numeric"]}
    if not fixed:
        return estimators, predictor_params

    def scores():
        return np.vstack([lexicon_scores(), val_lexicon_scores()])
    heads, refit_params = _fit_heads(examples, [], params, lambda stage: None, (), combined,
                                     scores, fixed, only=tuple(fixed))
    estimators, predictor_params = dict(estimators), copy.deepcopy(predictor_params)
    for head, names in (("priority", ("priority",)), ("sentiment", ("sentiment",)),
                        ("resolution", _RESOLUTION_ESTIMATORS)):
        if head not in fixed:
            continue
        estimators.update({name: heads[name] for name in names if name in heads})
        kept = predictor_params[head]
        if "classes" in refit_params[head]:
            # A class seen in val alone is one more column of the logits; the temperature and
            # thresholds apply to any.
            kept["classes"] = refit_params[head]["classes"]
        kept["refit_rows"] = refit_params[head]["settings"]["rows"]
    return estimators, predictor_params


def recency_weights(examples: list[Example], half_life_days: float) -> np.ndarray:
    """Sample weights 0.5 ** (age / half-life), age from the newest example; ones when off."""
    weights = np.ones(len(examples))
    if half_life_days <= 0:
        return weights
    times = np.array([e.created_at if e.created_at is not None else np.nan for e in examples])
    if np.isnan(times).all():
        return weights
    age_days = (np.nanmax(times) - np.nan_to_num(times, nan=np.nanmin(times))) / _MS_PER_DAY
    return 0.5 ** (age_days / half_life_days)


def _time(example: Example, params: TrainParams) -> float | None:
    """A row's time as cross-validation sees it: none under a random split, whose rows are
    taken as exchangeable, so that folds are random too."""
    return None if params.split == "random" else example.created_at


def _choose_recency(train, x_all, params: TrainParams) -> tuple[float, dict | None]:
    """Keep ``recency_half_life_days`` or drop it (0), by the time-aware cross-validated
    log-MAE of a ridge of resolved tickets' log-hours (weights counted back from each fold's
    newest fitted ticket). Under a random split, or without times, recency is dropped."""
    half_life = params.recency_half_life_days
    if half_life <= 0 or not params.cv_settings:
        return half_life, None
    rows = [i for i, e in enumerate(train) if e.hours is not None and not e.censored]
    times = [_time(train[i], params) for i in rows]
    if len(rows) < _MIN_ROWS or any(t is None for t in times):
        return 0.0, {"recency_half_life_days": [half_life, 0.0], "chosen": 0.0,
                     "why": "no time-aware folds (random split or untimed rows)"}
    pick = subsample(len(rows), _CV_MAX_ROWS, params.seed)
    folds, _ = cv_folds([times[i] for i in pick], None, params.seed)
    x = _take(x_all, [rows[i] for i in pick])
    y = np.log1p([train[rows[i]].hours for i in pick])
    t = np.array([times[i] for i in pick], dtype=float)
    scores = {half_life: 0.0, 0.0: 0.0}
    for fit, val in folds:
        age_days = (t[fit].max() - t[fit]) / _MS_PER_DAY
        for candidate in scores:
            w = 0.5 ** (age_days / candidate) if candidate else None
            p = Ridge(alpha=params.ridge_alpha, tol=params.ridge_tol).fit(
                x[fit], y[fit], sample_weight=w).predict(x[val])
            scores[candidate] += float(np.mean(np.abs(p - y[val])))
    chosen = min(scores, key=lambda k: (scores[k], k))
    return chosen, {"recency_half_life_days": list(scores),
                    "cv_ridge_log_mae": [round(v / len(folds), 4) for v in scores.values()],
                    "chosen": chosen}


def _fit_text(vectorizer: TfidfVectorizer, texts: list[str]) -> sp.csr_matrix:
    """Fit and transform; a source without text (coded fields only) gets a one-word
    vocabulary that no ticket's text will fill, so the text columns stay zero."""
    if any(texts):
        return vectorizer.fit_transform(texts)
    vectorizer.set_params(min_df=1, max_features=None).fit([_NO_TEXT])
    return vectorizer.transform(texts)


def _compact(vectorizer: TfidfVectorizer) -> None:
    """Shrink a fitted vectorizer's stored form without changing what it computes.

    skops writes every numpy scalar as its own array file; the vocabulary's numpy ints as
    plain ints cut the bundle several-fold. ``stop_words_`` only serves introspection.
    """
    vectorizer.vocabulary_ = {term: int(index) for term, index in vectorizer.vocabulary_.items()}
    if hasattr(vectorizer, "stop_words_"):
        del vectorizer.stop_words_


def _cached(featurise, examples: list[Example]):
    """``featurise`` for subsets of ``examples``: all of them are featurised once, on first use."""
    position = {id(e): i for i, e in enumerate(examples)}
    done = []
    lock = threading.Lock()

    def features(subset: list[Example]) -> tuple:
        with lock:
            if not done:
                done.append(featurise(examples))
        x_text, x_all, texts, fields = done[0]
        idx = [position[id(e)] for e in subset]
        return x_text[idx], x_all[idx], [texts[i] for i in idx], [fields[i] for i in idx]
    return features


class Background:
    """Pure-Python work (VADER, text analysis) done by one other process, on the other core.

    ``submit(fn, *args)`` returns a callable that waits for ``fn(*args)``. When not
    ``enabled`` (small data, where starting a process costs more than it saves) the callable
    computes it on the spot; so it does when the helper process died. Results are the same
    either way. The process is started with ``spawn``: forking a process that runs threads
    is not safe.
    """

    def __init__(self, enabled: bool):
        self._pool = (ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
                      if enabled else None)

    def __enter__(self) -> "Background":
        return self

    def __exit__(self, exc_type, *_) -> None:
        if self._pool is not None:
            # After an error, do not wait for work nobody will collect.
            self._pool.shutdown(wait=exc_type is None, cancel_futures=True)

    def submit(self, fn: Callable, *args) -> Callable[[], object]:
        if self._pool is None:
            return lambda: fn(*args)
        future = self._pool.submit(fn, *args)

        def result():
            try:
                return future.result()
            except BrokenProcessPool:  # The helper died (out of memory, say).
                return fn(*args)
        return result


def _featuriser(word, char, dict_vec, description_chars: int | None) -> Callable[[list[Example]], tuple]:
    def featurise(examples: list[Example]) -> tuple[sp.csr_matrix, sp.csr_matrix, list, list]:
        texts, fields = model_inputs([e.ticket for e in examples], description_chars)
        x_text = sp.hstack([word.transform(texts), char.transform(texts)], format="csr")
        return x_text, sp.hstack([x_text, dict_vec.transform(fields)], format="csr"), texts, fields
    return featurise


def _fit_priority(train, val, x_all, n_text, weights, featurise, params: TrainParams,
                  required: bool, fixed: dict | None = None):
    rows = [i for i, e in enumerate(train) if e.priority]
    labels = np.array([train[i].priority for i in rows])
    if len(rows) < _MIN_ROWS or len(set(labels)) < 2:
        if required:
            raise TrainingError(
                f"Invalid training data: {len(rows)} rows with {len(set(labels))} priority "
                f"classes. At least {_MIN_ROWS} rows and 2 classes are needed; check the "
                'mapping\'s "priority" field and "values".'
            )
        counts = Counter(labels)
        prior = {p: round(counts[p] / len(rows), 6) if rows else 0.25 for p in PRIORITIES}
        return None, {"kind": "prior", "classes": list(PRIORITIES), "prior": prior,
                      "review_threshold": 1.0, "review_target_accuracy": 1.0}
    x = _take(x_all, rows)
    if fixed:
        c, class_weight, keep_fields = fixed["C"], fixed["class_weight"], fixed["fields"]
        search = None
    else:
        c, class_weight, search, keep_fields = _choose_logistic(
            x, labels, [_time(train[i], params) for i in rows], weights[rows], params.priority_c,
            params.priority_class_weight, params, optional=("fields", n_text))
    if not keep_fields:
        # Zero field columns get zero weights: the model serving runs reads the text alone.
        x = _text_only(x, n_text)
    model = LogisticRegression(C=c, tol=params.tol, max_iter=3000, class_weight=class_weight)
    model.fit(x, labels, sample_weight=_w(weights, rows))
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
        "kind": "model", "classes": classes, "temperature": round(temperature, 6),
        "review_threshold": round(threshold, 6),
        "review_target_accuracy": params.review_target_accuracy, "search": search,
        "settings": {"C": c, "class_weight": class_weight, "fields": keep_fields,
                     "rows": len(rows)},
    }


def _fit_sentiment(train, val, x_text, weights, featurise, params: TrainParams,
                   required: bool, lexicon_scores: Callable[[], np.ndarray],
                   fixed: dict | None = None):
    rows = [i for i, e in enumerate(train) if e.sentiment]
    labels = np.array([train[i].sentiment for i in rows])
    if len(rows) < _MIN_ROWS or len(set(labels)) < 2:
        if required:
            raise TrainingError(
                f"Invalid training data: {len(rows)} rows with {len(set(labels))} sentiment "
                f'classes. At least {_MIN_ROWS} rows and 2 classes are needed; map "sentiment".')
        return None, {"kind": "lexicon", "classes": []}
    x = text = _take(x_text, rows)
    if params.lexicon_features:
        x = sp.hstack([x, lexicon_scores()], format="csr")
    if fixed:
        c, class_weight, search, keep_lexicon = (fixed["C"], fixed["class_weight"], None,
                                                 fixed["lexicon_features"])
    else:
        c, class_weight, search, keep_lexicon = _choose_logistic(
            x, labels, [_time(train[i], params) for i in rows], weights[rows],
            params.sentiment_c, params.sentiment_class_weight, params,
            optional=("lexicon_features", text.shape[1]) if params.lexicon_features else None)
    if not keep_lexicon:
        x = text
    model = LogisticRegression(C=c, tol=params.tol, max_iter=3000, class_weight=class_weight)
    model.fit(x, labels, sample_weight=_w(weights, rows))
    result = {"kind": "model", "classes": [str(c) for c in model.classes_],
              "lexicon_features": params.lexicon_features and keep_lexicon, "lexicon_veto": 0.0,
              "search": search,
              "settings": {"C": c, "class_weight": class_weight,
                           "lexicon_features": params.lexicon_features and keep_lexicon,
                           "rows": len(rows)}}
    val_rows = [e for e in val if e.sentiment]
    if params.lexicon_veto and val_rows:
        result["lexicon_veto"] = _choose_veto(model, result, val_rows, featurise, params)
    return model, result


def _choose_logistic(x, labels: np.ndarray, times: list, weights: np.ndarray, c_base: float,
                     class_weight: str | None, params: TrainParams,
                     optional: tuple[str, int] | None = None):
    """C and class weight of a logistic head, by cross-validated macro-F1 over (at most
    ``_CV_MAX_ROWS`` of) the training rows, time-aware folds when they all have a time.

    ``optional`` is ``(name, first column)`` of a trailing block of columns (the structured
    fields, the dictionary scores) that the head keeps only if it beats the text alone on the
    same folds (each at its best C, with the class weight chosen first).

    Returns:
        (C, class weight, a record of the search for the predictor's params, whether the
        optional block is kept).
    """
    grid = [c_base * f for f in _C_FACTORS]
    weightings = list(_CLASS_WEIGHTS) if class_weight == "auto" else [class_weight]
    if not params.cv_settings:
        return c_base, weightings[0], None, True
    pick = subsample(len(labels), _CV_MAX_ROWS, params.seed)
    folds, method = cv_folds([times[i] for i in pick], labels[pick], params.seed)
    classes = sorted(set(labels))
    codes = np.array([classes.index(label) for label in labels])

    def fitter(columns):
        return lambda c, weighting, fit: LogisticRegression(
            C=c, tol=params.tol, max_iter=3000, class_weight=weighting,
        ).fit(columns[fit], codes[fit], sample_weight=_w(weights, fit))
    scores, a, b = logreg_search(x, codes, len(classes), pick, folds, weightings, grid, fitter(x))
    search = {"folds": method, "n_folds": len(folds), "rows": len(pick),
              "grid": {"C": [round(c, 6) for c in grid],
                       "class_weight": [w or "none" for w in weightings]},
              "cv_macro_f1": (scores / max(len(folds), 1)).round(4).tolist(),
              "chosen": {"C": round(grid[b], 6), "class_weight": weightings[a] or "none"}}
    keep = True
    if optional is not None and 0 < optional[1] < x.shape[1]:
        # Without the optional trailing block, at the chosen class weight and every C: the
        # plain text model, shipped when the extra columns do not pay on held-out folds.
        name, first = optional
        x_text = x[:, :first]
        without, _, c_without = logreg_search(
            x_text, codes, len(classes), pick, folds, [weightings[a]], grid, fitter(x_text))
        keep = bool(scores[a, b] >= without[0, c_without])
        search["without_" + name] = {"cv_macro_f1": (without[0] / max(len(folds), 1)).round(4).tolist(),
                                     "kept": keep}
        if not keep:
            b = c_without
            search["chosen"] = {**search["chosen"], "C": round(grid[b], 6), name: False}
    return grid[b], weightings[a], search, keep


def _choose_veto(model, sentiment_params: dict, val_rows, featurise, params) -> float:
    """The dictionary veto that costs validation macro-F1 at most ``_VETO_TOLERANCE``.

    The veto guards against text unlike the training data, which validation data cannot
    show; so the strongest veto whose price is noise wins, and none if every one costs more.
    """
    x_text, _, texts, _ = featurise(val_rows)
    truth = [e.sentiment for e in val_rows]
    stub = export_models({**_placeholder_estimators(), "resolution_mu": None,
                          "resolution_sigma": None, "sentiment": model})
    probe_params = {"priority": {"classes": [], "review_threshold": 1.0},
                    "resolution": {"z90": 0, "sigma_floor": 1, "min_hours": 1, "max_hours": 2}}

    def score(veto: float) -> float:
        probe = Predictor(stub, {**probe_params, "sentiment": {**sentiment_params,
                                                               "lexicon_veto": veto}}, "")
        predicted = [r["label"] for r in probe._sentiment(x_text, texts)]
        return f1_score(truth, predicted, average="macro")

    baseline = score(0.0)
    for veto in sorted({params.lexicon_veto, *_VETO_STEPS}):
        if veto >= params.lexicon_veto and score(veto) >= baseline - _VETO_TOLERANCE:
            return veto
    return 0.0


def _fit_resolution(train, val, x_all, n_text, fields, weights, featurise,
                    params: TrainParams, required: bool, fixed: dict | None = None):
    rows = np.array([i for i, e in enumerate(train) if e.hours is not None], dtype=int)
    closed = np.array([not train[i].censored for i in rows], dtype=bool)
    base = {"sigma_floor": _SIGMA_FLOOR, "min_hours": _MIN_HOURS, "max_hours": _MAX_HOURS,
            "censored_in_training": int((~closed).sum())}
    if closed.sum() < _MIN_ROWS:
        if required:
            raise TrainingError(
                f"Invalid training data: {int(closed.sum())} rows with a resolution time. At "
                f'least {_MIN_ROWS} are needed; map "resolution_hours" or "created_at" and '
                '"solved_at".'
            )
        hours = [train[i].hours for i in rows[closed]] or [1.0]
        return ({"resolution_mu": None, "resolution_sigma": None}, {
            **base, "kind": "constant", "z90": 0.0, "median_hours": float(np.median(hours)),
            "p90_hours": float(np.quantile(hours, 0.9))})
    x, w = _take(x_all, rows), weights[rows]
    y_obs = np.log1p(np.array([train[i].hours for i in rows]))
    # Open tickets are censored at a horizon, the 90th percentile of the resolved times: one
    # open for longer only tells that it is slow, not how slow. Imputed from its full open
    # time, a ticket open for years (an abandoned bug: a third of Hadoop's, open 2-5 years
    # when the export was taken) would count as taking decades and drag the centre of
    # every ticket resembling it up.
    horizon = float(np.quantile(y_obs[closed], _CENSOR_HORIZON_QUANTILE))
    base["censored_beyond_horizon"] = int((~closed & (y_obs > horizon)).sum())
    y_obs = np.where(closed, y_obs, np.minimum(y_obs, horizon))
    y = y_obs.copy()
    folds = KFold(n_splits=3, shuffle=True, random_state=params.seed)
    x_closed = _take(x, np.flatnonzero(closed))
    val_rows = [e for e in val if e.hours is not None and not e.censored]
    times = [_time(train[i], params) for i in rows]
    if fixed:
        alpha, alpha_search, keep_fields = fixed["alpha"], None, fixed["fields"]
    else:
        alpha, alpha_search, keep_fields = _choose_alpha(
            x_closed, y[closed], w[closed], [times[i] for i in np.flatnonzero(closed)],
            val_rows, featurise, params, n_text)
    if not keep_fields:
        # Zero field columns get zero coefficients: the ridges read the text alone (the trees
        # still read the fields, through their own codes).
        x, x_closed = _text_only(x, n_text), _text_only(x_closed, n_text)
    ridge = lambda: Ridge(alpha=alpha, tol=params.ridge_tol)  # noqa: E731
    # Out-of-fold residuals: in-sample ones understate the spread of a high-dimensional fit.
    oof = _oof(ridge, x_closed, y[closed], w[closed], folds)
    spread = np.abs(y[closed] - oof) * math.sqrt(math.pi / 2)  # E|N(0, s)| = s * sqrt(2/pi)
    sigma_model = ridge().fit(x_closed, spread, sample_weight=_w(w, closed))
    mu_model = ridge().fit(x_closed, y[closed], sample_weight=_w(w, closed))
    mu_resolved = None  # The ridge of resolved tickets alone, when open ones are imputed.
    impute = fixed["open_tickets"] == "imputed" if fixed else params.censored_rounds > 0
    if (~closed).any() and impute:
        mu_resolved = copy.deepcopy(mu_model)
        x_open = x[~closed]
        sigma_open = np.maximum(sigma_model.predict(x_open), _SIGMA_FLOOR)
        for _ in range(params.censored_rounds):
            y[~closed] = _expected_above(mu_model.predict(x_open), sigma_open, y_obs[~closed])
            mu_model.fit(x, y, sample_weight=_w(w, slice(None)))
        used = np.ones(len(rows), dtype=bool)
    else:
        used = closed
    estimators = {"resolution_mu": mu_model, "resolution_sigma": sigma_model}
    settings = {"kind": "ridge", "alpha": alpha, "fields": keep_fields, "rows": int(used.sum()),
                "open_tickets": "imputed" if used is not closed else "left out"}
    resolution_params = {**base, "kind": "ridge", "z90": _Z90_GAUSSIAN, "ridge_alpha": alpha,
                         "search": alpha_search, "settings": settings}
    if fixed and fixed["kind"] == "gbm":
        x_used = x_closed if used is closed else x
        mu_oof = oof if used is closed else _oof(ridge, x_used, y[used], w[used], folds)
        p50, p90, _, _ = _fit_trees(
            estimators, resolution_params, [fields[i] for i in rows[used]], x_used, y[used],
            _w(w, used), mu_oof, sigma_model, params, (fixed["codes"], fixed["numeric"]))
        return {**estimators, "resolution_p50": p50, "resolution_p90": p90}, resolution_params
    if not val_rows:
        return estimators, resolution_params
    _, xv, _, fields_v = featurise(val_rows)
    yv = np.log1p([e.hours for e in val_rows])
    sigma_v = np.maximum(sigma_model.predict(xv), _SIGMA_FLOOR)

    def ridge_validation(model, recentre: bool = params.recentre) -> tuple[np.ndarray, float, float, float]:
        """(validation centres, centre offset, z90, log-MAE) of a centre ridge, recentred or not."""
        centres = model.predict(xv)
        # Recentre on the newest resolved tickets: imputing open ones corrects the ranking, but
        # the level of the times a team will see resolved drifts (and open tickets may never be).
        # Where cross-validation says the shift does not pay, it is left out (below).
        shift = float(np.median(yv - centres)) if recentre else 0.0
        return (centres, shift, max(_conformal((yv - centres - shift) / sigma_v), 0.0),
                float(np.mean(np.abs(yv - centres - shift))))
    mu_v, offset, z90, ridge_mae = ridge_validation(mu_model)
    resolution_params["centre_offset"] = round(offset, 6)
    resolution_params["z90"] = z90
    # The naive baseline: the training median (and p90) of resolved tickets. A model that
    # cannot beat it on the validation set is not shipped (``auto`` only).
    closed_hours = np.expm1(y_obs[closed])
    constant = ({"resolution_mu": None, "resolution_sigma": None}, {
        **base, "kind": "constant", "z90": 0.0, "median_hours": float(np.median(closed_hours)),
        "p90_hours": float(np.quantile(closed_hours, 0.9))})
    median_mae = float(np.mean(np.abs(yv - np.log1p(constant[1]["median_hours"]))))
    resolution_params["validation_log_mae"] = {"ridge": round(ridge_mae, 4),
                                               "median": round(median_mae, 4)}
    constant[1]["validation_log_mae"] = resolution_params["validation_log_mae"]
    if params.resolution_model == "ridge" or used.sum() < _MIN_GBM_ROWS:
        if params.resolution_model == "auto" and median_mae <= ridge_mae:
            return constant
        return estimators, resolution_params

    # Trees over the fields and the ridge's out-of-fold outputs (stacking).
    # Without imputed open tickets these are the rows and targets of ``oof`` above.
    x_used = x_closed if used is closed else x
    mu_oof = oof if used is closed else _oof(ridge, x_used, y[used], w[used], folds)
    p50, p90, gbm_params, dense = _fit_trees(
        estimators, resolution_params, [fields[i] for i in rows[used]], x_used, y[used],
        _w(w, used), mu_oof, sigma_model, params)
    gbm_params["settings"] = {**settings, "kind": "gbm"}
    probe = _gbm_probe(estimators, gbm_params)
    with threadpool_limits(1, "openmp"):
        dense_v = probe.gbm_inputs(fields_v, mu_v, sigma_v)
        centre_v = p50.predict(dense_v)
        p90_v = p90.predict(dense_v)
    gbm_offset = float(np.median(yv - centre_v)) if params.recentre else 0.0
    gbm_mae = float(np.mean(np.abs(yv - centre_v - gbm_offset)))
    resolution_params["validation_log_mae"]["gbm"] = round(gbm_mae, 4)
    scores = {"median": median_mae, "ridge": ridge_mae, "gbm": gbm_mae}
    recentre = dict.fromkeys(("ridge", "ridge_resolved", "gbm"), params.recentre)
    if params.cv_settings:
        scores = _cv_resolution_models(dense, x_used, y[used], closed[used], w[used],
                                       [times[i] for i in np.flatnonzero(used)], ridge, params)
        resolution_params["search"] = {**(alpha_search or {}), "cv_log_mae": dict(scores)}
        # Recentring is itself chosen by the same folds, for each model: it pays where the level
        # of the times drifts (ServiceNow's newest fifth) and costs where it does not.
        for name in [n for n in recentre if n in scores]:
            raw = scores.pop(f"{name}_not_recentred")
            recentre[name] = params.recentre and scores[name] < raw
            if not recentre[name]:
                scores[name] = raw
        resolution_params["search"]["recentre"] = {n: recentre[n] for n in recentre if n in scores}
    if params.resolution_model == "auto" and scores["median"] <= min(scores.values()):
        return constant
    if params.resolution_model == "auto" and scores.get("ridge_resolved", math.inf) < min(
            scores["ridge"], scores["gbm"]):
        # Imputing the open tickets did not pay: the centre is the ridge of resolved ones.
        _, offset, z90, mae = ridge_validation(mu_resolved, recentre["ridge_resolved"])
        resolution_params["validation_log_mae"]["ridge_resolved"] = round(mae, 4)
        return {**estimators, "resolution_mu": mu_resolved}, {
            **resolution_params, "centre_offset": round(offset, 6), "z90": z90,
            "open_tickets": "left out (cross-validated)",
            "settings": {**settings, "rows": int(closed.sum()), "open_tickets": "left out"}}
    if params.resolution_model == "auto" and scores["gbm"] >= scores["ridge"]:
        if recentre["ridge"] != params.recentre:
            _, offset, z90, _ = ridge_validation(mu_model, recentre["ridge"])
            resolution_params.update(centre_offset=round(offset, 6), z90=z90)
        return estimators, resolution_params
    gbm_params["validation_log_mae"] = resolution_params["validation_log_mae"]
    gbm_params["search"] = resolution_params["search"]
    gbm_params["centre_offset"] = round(gbm_offset if recentre["gbm"] else 0.0, 6)
    gbm_params["p90_offset"] = round(_conformal(yv - p90_v), 6)
    return {**estimators, "resolution_p50": p50, "resolution_p90": p90}, gbm_params


def _fit_trees(estimators, resolution_params, fields, x, y, w, mu_oof, sigma_model,
               params: TrainParams, coding: tuple[dict, list] | None = None):
    """The median and 90% trees over ``fields``' codes (``coding``, or chosen by ``y``) and
    the ridges' outputs (the centre's out-of-fold ``mu_oof``).

    Returns:
        (p50 trees, p90 trees, the resolution params of the trees, their dense inputs).
    """
    codes, numeric = coding or _field_codes(fields, y)
    gbm_params = {**resolution_params, "kind": "gbm", "codes": codes, "numeric": numeric}
    sigma_oof = np.maximum(sigma_model.predict(x), _SIGMA_FLOOR)
    dense = _gbm_probe(estimators, gbm_params).gbm_inputs(fields, mu_oof, sigma_oof)
    # One OpenMP thread: on a shared machine, scikit-learn's spinning threads can turn
    # seconds of boosting into minutes; alone, two threads save under a second here.
    with threadpool_limits(1, "openmp"):
        p50 = _gbm("absolute_error", None, params).fit(dense, y, sample_weight=w)
        p90 = _gbm("quantile", 0.9, params).fit(dense, y, sample_weight=w)
    return p50, p90, gbm_params, dense


def _gbm_probe(estimators, gbm_params) -> Predictor:
    """A predictor that computes the trees' inputs as serving does."""
    return Predictor(export_models({**_placeholder_estimators(), **estimators}), {
        "priority": {"classes": [], "review_threshold": 1.0}, "sentiment": {},
        "resolution": gbm_params}, "")


def _choose_alpha(x, y, w, times, val_rows, featurise, params: TrainParams,
                  n_text: int | None = None):
    """The ridge penalty, among ``params.ridge_alpha`` times ``_ALPHA_FACTORS``: by the
    recentred log-MAE of ridges on the resolved training tickets, cross-validated (time-aware
    folds when every ticket has a time) or, with ``cv_settings`` off, on the validation set.
    When ``x`` has field columns after its first ``n_text`` (text) ones, the cross-validation
    also scores every penalty on the text alone, and the fields are kept only if they beat it.

    Returns:
        (alpha, a record of the cross-validated search or None, whether the fields are kept).
    """
    candidates = [params.ridge_alpha * f for f in _ALPHA_FACTORS]

    def error(alpha, x_fit, y_fit, w_fit, x_val, y_val) -> float:
        residual = y_val - Ridge(alpha=alpha, tol=params.ridge_tol).fit(
            x_fit, y_fit, sample_weight=w_fit).predict(x_val)
        return float(np.mean(np.abs(residual - np.median(residual))))
    if params.cv_settings:
        pick = subsample(len(y), _CV_MAX_ROWS, params.seed)
        folds, method = cv_folds([times[i] for i in pick], None, params.seed)
        optional = n_text is not None and 0 < n_text < x.shape[1]
        views = [x, x[:, :n_text]] if optional else [x]
        scores = np.zeros((len(views), len(candidates)))
        for fit_idx, val_idx in folds:
            fit, val = pick[fit_idx], pick[val_idx]
            for v, columns in enumerate(views):
                for j, alpha in enumerate(candidates):
                    scores[v, j] += error(alpha, columns[fit], y[fit], _w(w, fit), columns[val],
                                          y[val])
        keep = not optional or bool(scores[0].min() <= scores[1].min())
        best = int(np.argmin(scores[0 if keep else 1]))
        search = {
            "folds": method, "n_folds": len(folds), "rows": len(pick),
            "grid": {"alpha": [round(a, 6) for a in candidates]},
            "cv_ridge_log_mae": (scores[0] / max(len(folds), 1)).round(4).tolist(),
            "chosen": {"alpha": round(candidates[best], 6)}}
        if optional:
            search["without_fields"] = {
                "cv_ridge_log_mae": (scores[1] / max(len(folds), 1)).round(4).tolist(),
                "kept": keep}
            if not keep:
                search["chosen"]["fields"] = False
        return candidates[best], search, keep
    if not val_rows:
        return candidates[len(candidates) // 2], None, True
    _, xv, _, _ = featurise(val_rows)
    yv = np.log1p([e.hours for e in val_rows])
    return min(candidates, key=lambda a: error(a, x, y, _w(w, slice(None)), xv, yv)), None, True


def _text_only(x: sp.csr_matrix, n_text: int) -> sp.csr_matrix:
    """``x`` with every column from ``n_text`` on zeroed (same shape)."""
    return sp.hstack([x[:, :n_text], sp.csr_matrix((x.shape[0], x.shape[1] - n_text),
                                                   dtype=x.dtype)], format="csr")


def _cv_resolution_models(dense, x, y, closed, w, times, ridge, params: TrainParams) -> dict:
    """Log-MAE of the training median, the ridge and the median trees on the same folds over
    the training rows (time-aware when all are timed), measured on the resolved ones (the
    others' targets are imputed). In each fold the ridge's outputs for the validated rows feed
    the trees, which learnt from out-of-fold outputs, as at serving.

    Each fold is a small copy of training: as the head is fitted on the training rows and
    recentred by its median residual on the validation rows, which it did not learn from and
    which are not the rows it will be scored on, so each model here is fitted on the fold's
    rows but a held share of them (``params.val_share``: the newest, for time folds, else a
    seeded share), recentred by its median residual on the held rows that are resolved, and
    scored on every resolved row of the fold's validation block, recentred and not
    (``<model>_not_recentred``), so that recentring is chosen by these folds too. (Until
    2026-12-06 the offset came from every other row of the scored block itself: in a block
    that shares a level the model missed, that half tells the other half's level, which a
    validation slice taken before the test rows cannot; it kept recentring where gitbugs' test
    rows were better without it.) The median is not recentred, as it is not at serving."""
    pick = subsample(len(y), _CV_MAX_GBM_ROWS, params.seed)
    picked_times = [times[i] for i in pick]
    folds, method = cv_folds(picked_times, None, params.seed)
    imputed = not closed.all()
    models = ["ridge", "gbm"] + (["ridge_resolved"] if imputed else [])
    totals = {"median": 0.0, **{m: 0.0 for m in models}, **{f"{m}_not_recentred": 0.0 for m in models}}
    counted = 0
    with threadpool_limits(1, "openmp"):
        for k, (fit_idx, val_idx) in enumerate(folds):
            learn_idx, held_idx = _held_share(fit_idx, picked_times, method, params.val_share,
                                              params.seed + k)
            learn, held, val = pick[learn_idx], pick[held_idx], pick[val_idx]
            held, val = held[closed[held]], val[closed[val]]
            if len(val) < 2 or not len(held) or not closed[learn].any():
                continue
            counted += 1
            both = np.concatenate([held, val])

            def add(name, predicted):
                offset = float(np.median(y[held] - predicted[:len(held)]))
                predicted = predicted[len(held):]
                totals[name] += float(np.mean(np.abs(y[val] - predicted - offset)))
                totals[f"{name}_not_recentred"] += float(np.mean(np.abs(y[val] - predicted)))
            totals["median"] += float(np.mean(np.abs(y[val] - np.median(y[learn][closed[learn]]))))
            mu_both = ridge().fit(x[learn], y[learn], sample_weight=_w(w, learn)).predict(x[both])
            add("ridge", mu_both)
            if imputed:
                resolved = learn[closed[learn]]
                add("ridge_resolved", ridge().fit(
                    x[resolved], y[resolved], sample_weight=_w(w, resolved)).predict(x[both]))
            dense_both = dense[both].copy()
            dense_both[:, -2] = mu_both  # The second-last column is the ridge's centre.
            trees = _gbm("absolute_error", None, params).fit(dense[learn], y[learn],
                                                             sample_weight=_w(w, learn))
            add("gbm", trees.predict(dense_both))
    return {k: round(v / max(counted, 1), 4) for k, v in totals.items()}


def _held_share(fit_idx: np.ndarray, times: list, method: str, share: float,
                seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A fold's fitted rows split as training splits the training file: (the rows to learn
    from, the held rows to recentre on), the held ones being ``share`` of them (at least one):
    the newest for time folds, a seeded draw otherwise."""
    n_held = min(max(int(round(share * len(fit_idx))), 1), len(fit_idx) - 1)
    if method == "time":
        ordered = np.array(sorted(fit_idx, key=lambda i: (times[i], i)), dtype=int)
        learn, held = ordered[:len(ordered) - n_held], ordered[len(ordered) - n_held:]
    else:
        held = np.random.default_rng(seed).choice(fit_idx, n_held, replace=False)
        learn = np.setdiff1d(fit_idx, held)
    return np.sort(learn), np.sort(held)


def _gbm(loss: str, quantile: float | None, params: TrainParams):
    # No categorical_features: scikit-learn then stores a ColumnTransformer holding a
    # functools.partial, a type no safe loader may trust. Codes are ordered by target instead.
    return HistGradientBoostingRegressor(
        loss=loss, quantile=quantile,
        max_iter=params.gbm_max_iter, learning_rate=params.gbm_learning_rate,
        min_samples_leaf=20, l2_regularization=1.0, random_state=params.seed,
    )


def _take(x: sp.csr_matrix, rows) -> sp.csr_matrix:
    """The rows of ``x``; ``x`` itself, not a copy, when they are all of them in order."""
    rows = np.asarray(rows, dtype=int)
    if len(rows) == x.shape[0] and np.array_equal(rows, np.arange(x.shape[0])):
        return x
    return x[rows]


def _oof(make, x, y, w, folds) -> np.ndarray:
    out = np.zeros(len(y))
    for fit_idx, pred_idx in folds.split(np.arange(len(y))):
        out[pred_idx] = make().fit(x[fit_idx], y[fit_idx], sample_weight=_w(w, fit_idx)).predict(
            x[pred_idx])
    return out


def _w(weights: np.ndarray, idx) -> np.ndarray | None:
    """Weights of the rows ``idx``, or None when they are all one: scikit-learn's ridge picks
    a far slower solver for sparse inputs as soon as it is given any sample weights."""
    picked = weights[idx]
    return None if np.all(picked == 1.0) else picked


def _field_codes(fields: list[dict], y: np.ndarray) -> tuple[dict, list[str]]:
    """Integer codes for each categorical field's frequent values, and the numeric names.

    Codes rank the values by their smoothed mean target, so that a tree's threshold split on
    a code separates fast values from slow ones (what LightGBM does for categoricals).
    """
    sums: dict[str, dict[str, list]] = {}
    numeric: set[str] = set()
    for row, target in zip(fields, y):
        for key in row:
            name, sep, value = key.partition("=")
            if sep:
                entry = sums.setdefault(name, {}).setdefault(value, [0, 0.0])
                entry[0] += 1
                entry[1] += float(target)
            else:
                numeric.add(key)
    overall = float(np.mean(y)) if len(y) else 0.0
    codes = {}
    for name in sorted(sums):
        frequent = sorted(((v, c) for v, c in sums[name].items() if c[0] >= _MIN_CODE_COUNT),
                          key=lambda vc: (-vc[1][0], vc[0]))[:_MAX_CODES]
        if len(frequent) < 2:
            continue
        smoothed = {v: (c[1] + _SMOOTHING * overall) / (c[0] + _SMOOTHING) for v, c in frequent}
        ranked = sorted(smoothed, key=lambda v: (smoothed[v], v))
        codes[name] = {value: code for code, value in enumerate(ranked)}
    return codes, sorted(numeric)


def _placeholder_estimators() -> dict:
    return {**placeholder_models(), "priority": None, "sentiment": None}


def _conformal(scores: np.ndarray) -> float:
    """Split-conformal 90% quantile: the ceil((n + 1) * 0.9)-th smallest score."""
    rank = min(len(scores), math.ceil((len(scores) + 1) * 0.9)) - 1
    return float(np.sort(scores)[rank])


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
