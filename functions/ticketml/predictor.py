"""The three prediction heads over one shared featurisation, and the enrichment contract.

A Predictor is rebuilt from a bundle's models (``ticketml.arraymodels``: plain arrays and
JSON, run with numpy alone) and the plain-JSON ``params`` of its manifest (classes,
temperature, review threshold, quantile offsets, category codes), so thresholds and business
rules live after the model, in readable form. Training converts its fitted scikit-learn
estimators to the same models (``training.export``) and evaluates through the same
``predict_many`` that serving uses.

Models (keys of the dict; a head's model is None when its data had no labels):
    word, char: TextVectorizer (TF-IDF) over the masked subject + description.
    fields: FieldVectorizer over the structured features of ``features.model_input``.
    priority: LogisticModel over [word, char, fields], or None (training prior).
    sentiment: LogisticModel over [word, char, lexicon features], or None (VADER alone);
        where it contradicts VADER's clear polarity (|compound| >= ``lexicon_veto``) the two
        distributions are averaged.
    resolution_mu, resolution_sigma: LinearModel over [word, char, fields] for the centre and
        spread of log1p(hours), or None (training median and p90).
    resolution_p50, resolution_p90 (optional): TreeEnsemble over the categorical codes and
        numbers of the fields plus the linear centre and spread; when present they give p50
        and p90 (``params.resolution.kind == "gbm"``).

After the heads, business rules in readable params: the text's language (``ticketml.language``)
against the languages the bundle was trained on (``params.languages``, ["en"] when absent),
a confidence level per head (``ticketml.confidence``, thresholds in ``params.confidence``),
the words and fields behind each prediction (``ticketml.explain``), and the reasons a ticket
needs review.
"""

import math
from collections.abc import Mapping, Sequence

import numpy as np

from ticketml import language, lexicon
from ticketml.arraymodels import (
    FieldVectorizer, LinearModel, LogisticModel, Rows, TextVectorizer, TreeEnsemble, hstack,
)
from ticketml.confidence import HEADS, Levels, resolution_score
from ticketml.errors import BundleError
from ticketml.explain import Explainer
from ticketml.features import PRIORITIES, SENTIMENTS, model_inputs

_NONE = type(None)
MODEL_TYPES = {
    "word": TextVectorizer,
    "char": TextVectorizer,
    "fields": FieldVectorizer,
    "priority": (LogisticModel, _NONE),
    "sentiment": (LogisticModel, _NONE),
    "resolution_mu": (LinearModel, _NONE),
    "resolution_sigma": (LinearModel, _NONE),
}
OPTIONAL_MODEL_TYPES = {
    "resolution_p50": (TreeEnsemble, _NONE),
    "resolution_p90": (TreeEnsemble, _NONE),
}
_DECIMALS = 4
_NEGATIVE, _POSITIVE = SENTIMENTS.index("negative"), SENTIMENTS.index("positive")
_HOURS_DECIMALS = 2


class Predictor:
    """Priority, sentiment and resolution time for tickets.

    Args:
        models: The models, keyed as in ``MODEL_TYPES`` (and optionally
            ``OPTIONAL_MODEL_TYPES``); ``training.export`` makes them from fitted estimators.
        params: The manifest's ``params`` (see ``training.train.fit_heads``).
        version: Written into every prediction as ``model_version``.

    Raises:
        BundleError: A model is missing or of the wrong type, or params are incomplete.
            (``check_dimensions`` checks that models and params fit together.)
    """

    def __init__(self, models: Mapping, params: Mapping, version: str):
        expected_types = {**MODEL_TYPES, **{
            k: v for k, v in OPTIONAL_MODEL_TYPES.items() if k in models}}
        for name, expected in expected_types.items():
            if name not in models or not isinstance(models[name], expected):
                found = type(models.get(name)).__name__ if name in models else "nothing"
                raise BundleError(
                    f'Invalid model "{name}": {found}. Expected {_type_names(expected)}.'
                )
        try:
            priority = params["priority"]
            self._priority_classes = list(priority["classes"])
            self._temperature = float(priority.get("temperature", 1.0))
            self._review_threshold = float(priority["review_threshold"])
            self._priority_prior = np.array(
                [float(priority.get("prior", {}).get(p, 0.0)) for p in PRIORITIES])
            sentiment = params["sentiment"]
            self._sentiment_classes = list(sentiment.get("classes") or [])
            self._lexicon_features = bool(sentiment.get("lexicon_features", False))
            self._lexicon_veto = float(sentiment.get("lexicon_veto", 0.0))
            resolution = params["resolution"]
            self._z90 = float(resolution["z90"])
            self._sigma_floor = float(resolution["sigma_floor"])
            self._log_hours_range = (
                math.log1p(float(resolution["min_hours"])),
                math.log1p(float(resolution["max_hours"])),
            )
            self._constant_hours = (float(resolution.get("median_hours", 1.0)),
                                    float(resolution.get("p90_hours", 1.0)))
            self._p90_offset = float(resolution.get("p90_offset", 0.0))
            self._centre_offset = float(resolution.get("centre_offset", 0.0))
            self._codes = {g: dict(c) for g, c in resolution.get("codes", {}).items()}
            self._numeric = list(resolution.get("numeric", []))
            languages = params.get("languages", language.DEFAULT_LANGUAGES)
            if not isinstance(languages, (list, tuple)) or not all(
                    isinstance(code, str) for code in languages):
                raise ValueError(f"languages {languages!r} is not a list of codes")
            self._languages = frozenset(languages)
            self._levels = Levels(params.get("confidence"))
            self._description_chars = params.get("description_chars")
            if self._description_chars is not None and (
                    type(self._description_chars) is not int or self._description_chars < 1):
                raise ValueError(f"description_chars {self._description_chars!r} is not a whole number from 1")
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise BundleError(f"Invalid bundle params: {exc!r}. See ticketml.predictor.") from exc
        self._est = dict(models)
        self._gbm = self._est.get("resolution_p50") is not None
        self._explainer = Explainer(self._est, self._temperature, self._lexicon_features,
                                    self._codes, self._numeric)
        self.version = version

    @property
    def review_threshold(self) -> float:
        """Top priority probability below which a prediction is flagged ``needs_review``."""
        return self._review_threshold

    @property
    def description_chars(self) -> int | None:
        """How much of a description the model reads (``features.opening``); None: all of it."""
        return self._description_chars

    @property
    def languages(self) -> frozenset[str]:
        """The languages the bundle was trained on (empty: no language check)."""
        return self._languages

    @property
    def heads(self) -> dict[str, str]:
        """Which model each head uses: ``model``, ``lexicon``, ``prior`` or ``constant``."""
        return {
            "priority": "prior" if self._est["priority"] is None else "model",
            "sentiment": "lexicon" if self._est["sentiment"] is None else "model",
            "resolution": ("constant" if self._est["resolution_mu"] is None
                           else "gbm" if self._gbm else "ridge"),
        }

    def predict(self, ticket: Mapping) -> dict:
        """Return the enrichment for one ticket (see ``predict_many``)."""
        return self.predict_many([ticket])[0]

    def predict_many(self, tickets: Sequence[Mapping], explain: bool = True) -> list[dict]:
        """Return the enrichment contract for each ticket.

        Args:
            tickets: Ticket mappings; missing, mistyped or unseen field values are tolerated.
            explain: Compute ``explanations`` (evaluation code that does not read them may
                skip their cost).

        Returns:
            One dict per ticket: ``priority``, ``priority_scores`` (P1-P4, rounded, sum 1),
            ``sentiment`` ({label, score in [-1, 1]}), ``resolution_hours`` ({p50, p90},
            p90 >= p50 > 0), ``language`` (ISO 639-1 code or "und"), ``confidence`` ({head:
            high | medium | low}), ``explanations`` ({head: [{feature, kind, weight}]}, at
            most 5 each), ``needs_review``, ``review_reasons`` (why, e.g. ["language:fr",
            "low_confidence:priority", "empty_text"]; empty when not needed) and
            ``model_version``.
        """
        texts, fields, x_text, x_all = self._features(tickets)
        priority = self._priority_probabilities(x_all)
        sentiment_probs, lexicon_scores = self._sentiment_probabilities(x_text, texts)
        centre, upper, dense = self._quantiles(x_all, fields)
        p50, p90 = self._hours(centre, upper)
        languages = language.detect_many(texts)
        results = []
        for i, text in enumerate(texts):
            scores = _rounded_distribution(priority[i], PRIORITIES)
            top = max(PRIORITIES, key=lambda p: (scores[p], -PRIORITIES.index(p)))
            sentiment = (_sentiment_result(sentiment_probs[i]) if self._est["sentiment"]
                         is not None else _lexicon_result(text))
            reasons = self._review_reasons(text, languages[i], float(priority[i].max()))
            result = {
                "priority": top,
                "priority_scores": scores,
                "sentiment": sentiment,
                "resolution_hours": {"p50": p50[i], "p90": p90[i]},
                "language": languages[i],
                "confidence": {
                    "priority": self._levels.level("priority", float(priority[i].max())),
                    "sentiment": self._levels.level("sentiment", float(sentiment_probs[i].max())),
                    "resolution": self._levels.level("resolution",
                                                     resolution_score(p50[i], p90[i])),
                },
                "needs_review": bool(reasons),
                "review_reasons": reasons,
                "model_version": self.version,
            }
            if explain:
                result["explanations"] = self._explainer.explain(
                    tickets[i] if isinstance(tickets[i], Mapping) else {}, text, fields[i],
                    _OneRow(x_text, i), _OneRow(x_all, i), top, sentiment["label"],
                    None if dense is None else dense[i],
                    None if lexicon_scores is None else lexicon_scores[i])
            results.append(result)
        return results

    def _review_reasons(self, text: str, code: str, top_priority: float) -> list[str]:
        reasons = []
        if not text:
            reasons.append("empty_text")
        if self._languages and code != language.UNDETERMINED and code not in self._languages:
            reasons.append(f"language:{code}")
        if top_priority < self._review_threshold:
            reasons.append("low_confidence:priority")
        return reasons

    def priority_probabilities(self, tickets: Sequence[Mapping]) -> np.ndarray:
        """Calibrated P1-P4 probabilities, shape (n, 4), unrounded (for evaluation)."""
        return self._priority_probabilities(self._features(tickets)[3])

    def sentiment_probabilities(self, tickets: Sequence[Mapping]) -> np.ndarray:
        """Negative, neutral, positive probabilities, shape (n, 3), unrounded (for evaluation)."""
        texts, _, x_text, _ = self._features(tickets)
        return self._sentiment_probabilities(x_text, texts)[0]

    def resolution_log_hours(self, tickets: Sequence[Mapping]) -> tuple[np.ndarray, np.ndarray]:
        """Unrounded log1p(p50) and log1p(p90) hours (for evaluation)."""
        _, fields, _, x_all = self._features(tickets)
        return self._log_quantiles(x_all, fields)

    def head_scores(self, tickets: Sequence[Mapping], heads: Sequence[str] = HEADS) -> dict:
        """The unrounded scores of ``heads`` from one featurisation (for training and
        evaluation, which would otherwise featurise the same tickets once per head).

        Returns:
            ``priority`` and ``sentiment``: the arrays ``priority_probabilities`` and
            ``sentiment_probabilities`` return; ``resolution``: ``(log1p p50, log1p p90)`` as
            ``resolution_log_hours``, plus ``resolution_hours``: ``(p50, p90)`` arrays rounded
            as served.
        """
        texts, fields, x_text, x_all = self._features(tickets)
        out = {}
        if "priority" in heads:
            out["priority"] = self._priority_probabilities(x_all)
        if "sentiment" in heads:
            out["sentiment"] = self._sentiment_probabilities(x_text, texts)[0]
        if "resolution" in heads:
            centre, upper = self._log_quantiles(x_all, fields)
            out["resolution"] = centre, upper
            out["resolution_hours"] = tuple(np.array(v) for v in self._hours(centre, upper))
        return out

    def _features(self, tickets: Sequence[Mapping]):
        texts, fields = model_inputs(tickets, self._description_chars)
        x_text = hstack([self._est["word"].transform(texts), self._est["char"].transform(texts)])
        x_all = hstack([x_text, self._est["fields"].transform(fields)])
        return texts, fields, x_text, x_all

    def _priority_probabilities(self, x: Rows) -> np.ndarray:
        model = self._est["priority"]
        if model is None:
            return np.tile(self._priority_prior, (x.shape[0], 1))
        logits = model.decision_function(x)
        if logits.ndim == 1:  # Binary LogisticRegression returns one logit per row.
            logits = np.column_stack([np.zeros_like(logits), logits])
        probs = _softmax(logits / self._temperature)
        out = np.zeros((x.shape[0], len(PRIORITIES)))
        for j, label in enumerate(self._priority_classes):
            out[:, PRIORITIES.index(label)] = probs[:, j]
        return out

    def _sentiment(self, x_text: Rows, texts: list[str]) -> list[dict]:
        if self._est["sentiment"] is None:
            return [_lexicon_result(t) for t in texts]
        return [_sentiment_result(p) for p in self._sentiment_probabilities(x_text, texts)[0]]

    def _sentiment_probabilities(self, x_text: Rows, texts: list[str]):
        """(n, 3) probabilities, and VADER's (n, 4) scores when the model read them (else None).

        A lexicon-only head gives VADER's pseudo-probabilities."""
        model = self._est["sentiment"]
        if model is None:
            return np.array([lexicon.probabilities(t) for t in texts]).reshape(-1, 3), None
        scores = lexicon.features(texts) if self._lexicon_features or self._lexicon_veto else None
        if self._lexicon_features:
            x_text = hstack([x_text, Rows.from_dense(scores)])
        probs = model.predict_proba(x_text)
        out = np.zeros((x_text.shape[0], len(SENTIMENTS)))
        for j, label in enumerate(self._sentiment_classes):
            out[:, SENTIMENTS.index(label)] = probs[:, j]
        if self._lexicon_veto:
            # A model trained on one kind of text can be confidently wrong on words it never
            # saw ("losing sales every minute!" read as positive). Where it contradicts a
            # clear dictionary polarity, the two opinions are averaged.
            compound = scores[:, 3]
            top = out.argmax(axis=1)
            clash = (((top == _POSITIVE) & (compound <= -self._lexicon_veto))
                     | ((top == _NEGATIVE) & (compound >= self._lexicon_veto)))
            for i in np.nonzero(clash)[0]:
                out[i] = (out[i] + np.array(lexicon.probabilities_of(float(compound[i])))) / 2
        return out, (scores if self._lexicon_features else None)

    def _log_quantiles(self, x: Rows, fields: list[dict]) -> tuple[np.ndarray, np.ndarray]:
        return self._quantiles(x, fields)[:2]

    def _quantiles(self, x: Rows, fields: list[dict]):
        """log1p of p50 and p90, and the trees' dense inputs (None without trees)."""
        low, high = self._log_hours_range
        n = x.shape[0]
        dense = None
        if self._est["resolution_mu"] is None:
            median, p90 = self._constant_hours
            return np.full(n, math.log1p(median)), np.full(n, math.log1p(p90)), dense
        mu = self._est["resolution_mu"].predict(x)
        sigma = np.maximum(self._est["resolution_sigma"].predict(x), self._sigma_floor)
        if self._gbm:
            dense = self.gbm_inputs(fields, mu, sigma)
            centre = self._est["resolution_p50"].predict(dense) + self._centre_offset
            upper = self._est["resolution_p90"].predict(dense) + self._p90_offset
        else:
            centre = mu + self._centre_offset
            upper = centre + self._z90 * sigma
        centre = np.clip(centre, low, high)
        return centre, np.clip(upper, centre, high), dense

    def gbm_inputs(self, fields: list[dict], mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
        """Dense inputs of the gradient-boosted resolution head: one column per categorical
        field (its code, NaN when missing or unseen), one per number, then mu and sigma."""
        column = {name: j for j, name in enumerate(self._codes)}
        out = np.full((len(fields), len(column) + len(self._numeric) + 2), np.nan)
        for i, row in enumerate(fields):
            for key in row:
                name, sep, value = key.partition("=")
                if sep and name in column:
                    code = self._codes[name].get(value)
                    if code is not None:
                        out[i, column[name]] = code
            for j, name in enumerate(self._numeric):
                if name in row:
                    out[i, len(column) + j] = row[name]
        out[:, -2] = mu
        out[:, -1] = sigma
        return out

    def _resolution_hours(self, x, fields) -> tuple[list[float], list[float]]:
        return self._hours(*self._log_quantiles(x, fields))

    def _hours(self, centre, upper) -> tuple[list[float], list[float]]:
        floor = round(math.expm1(self._log_hours_range[0]), _HOURS_DECIMALS)
        p50 = [max(round(math.expm1(m), _HOURS_DECIMALS), floor) for m in centre]
        p90 = [max(round(math.expm1(u), _HOURS_DECIMALS), lo) for u, lo in zip(upper, p50)]
        return p50, p90


def check_dimensions(models: Mapping, params: Mapping) -> None:
    """Check that a bundle's models fit together and with its params.

    Every head must read as many features as the featurisers produce, a classifier's
    classes must be those ``params`` name (and known labels), and the paired models
    (ridge centre and spread, p50 and p90 trees) must be present together. Loading runs
    this, so a bundle that would fail on its first ticket is refused when it loads.

    Raises:
        BundleError: Naming the model and both sizes or lists.
    """
    missing = [name for name in MODEL_TYPES if name not in models]
    if missing:
        raise BundleError(f"Invalid models: {missing} are missing.")
    n_text = models["word"].n_features + models["char"].n_features
    n_all = n_text + models["fields"].n_features
    sentiment = params.get("sentiment") or {}
    resolution = params.get("resolution") or {}
    n_trees = len(resolution.get("codes") or {}) + len(resolution.get("numeric") or []) + 2
    expected = {
        "priority": n_all, "resolution_mu": n_all, "resolution_sigma": n_all,
        "sentiment": n_text + (len(lexicon.FEATURE_NAMES) if sentiment.get("lexicon_features")
                               else 0),
        "resolution_p50": n_trees, "resolution_p90": n_trees,
    }
    for name, n_features in expected.items():
        model = models.get(name)
        if model is not None and model.n_features != n_features:
            raise BundleError(
                f'Invalid model "{name}": it reads {model.n_features} features, but the '
                f"featurisers and params give {n_features}.")
    for head, labels in (("priority", PRIORITIES), ("sentiment", SENTIMENTS)):
        model = models.get(head)
        if model is None:
            continue
        classes = list((params.get(head) or {}).get("classes") or [])
        if classes != model.classes or not set(classes) <= set(labels):
            raise BundleError(
                f'Invalid model "{head}": classes {model.classes}, params name {classes}; '
                f"expected the same list, drawn from {list(labels)}.")
    for first, second in (("resolution_mu", "resolution_sigma"),
                          ("resolution_p50", "resolution_p90")):
        if (models.get(first) is None) != (models.get(second) is None):
            raise BundleError(f'Invalid models: "{first}" and "{second}" come together.')
    if models.get("resolution_p50") is not None and models.get("resolution_mu") is None:
        raise BundleError('Invalid models: the trees read "resolution_mu", which is missing.')


class _OneRow:
    """Row ``i`` of CSR rows, as the explainer reads it (``indptr`` of two offsets)."""

    __slots__ = ("indptr", "indices", "data")

    def __init__(self, rows: Rows, i: int):
        self.indptr = rows.indptr[i:i + 2]
        self.indices = rows.indices
        self.data = rows.data


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def _rounded_distribution(probs: np.ndarray, labels: Sequence[str]) -> dict[str, float]:
    rounded = [round(float(p), _DECIMALS) for p in probs]
    # Rounding can leave the sum at 0.9999 or 1.0001; the largest class absorbs the rest.
    top = int(np.argmax(probs))
    rounded[top] = round(1.0 - sum(r for j, r in enumerate(rounded) if j != top), _DECIMALS)
    return dict(zip(labels, rounded))


def _sentiment_result(probs: np.ndarray) -> dict:
    label = SENTIMENTS[int(np.argmax(probs))]
    score = float(probs[SENTIMENTS.index("positive")] - probs[SENTIMENTS.index("negative")])
    return {"label": label, "score": round(min(max(score, -1.0), 1.0), _DECIMALS)}


def _lexicon_result(text: str) -> dict:
    score = lexicon.score(text)
    label = lexicon.label_of(score)
    return {"label": label, "score": round(min(max(score, -1.0), 1.0), _DECIMALS)}


def _type_names(expected: type | tuple) -> str:
    types = expected if isinstance(expected, tuple) else (expected,)
    return " or ".join(t.__name__ for t in types)
