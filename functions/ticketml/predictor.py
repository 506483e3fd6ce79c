"""The three prediction heads over one shared featurisation, and the enrichment contract.

A Predictor is rebuilt from the estimators stored in a bundle's ``model.skops`` and the
plain-JSON ``params`` of its manifest (classes, temperature, review threshold, quantile
scale), so thresholds and business rules live after the model, in readable form. Training
evaluates through the same ``predict_many`` that serving uses.

Estimators (keys of the stored dict):
    word, char: TfidfVectorizer over the masked subject + description.
    fields: DictVectorizer over the structured features of ``features.model_input``.
    priority: LogisticRegression over [word, char, fields].
    sentiment: LogisticRegression over [word, char], or None (lexicon fallback).
    resolution_mu, resolution_sigma: Ridge over [word, char, fields] predicting the centre
        and spread of log1p(hours).
"""

import math
from collections.abc import Mapping, Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction import DictVectorizer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, Ridge

from ticketml import lexicon
from ticketml.errors import BundleError
from ticketml.features import PRIORITIES, SENTIMENTS, model_inputs

ESTIMATOR_TYPES = {
    "word": TfidfVectorizer,
    "char": TfidfVectorizer,
    "fields": DictVectorizer,
    "priority": LogisticRegression,
    "sentiment": (LogisticRegression, type(None)),
    "resolution_mu": Ridge,
    "resolution_sigma": Ridge,
}
_DECIMALS = 4
_HOURS_DECIMALS = 2


class Predictor:
    """Priority, sentiment and resolution time for tickets.

    Args:
        estimators: Fitted estimators, keyed as in ``ESTIMATOR_TYPES``.
        params: The manifest's ``params`` (see ``training.train.fit_heads``).
        version: Written into every prediction as ``model_version``.

    Raises:
        BundleError: An estimator is missing or of the wrong type, or params are incomplete.
    """

    def __init__(self, estimators: Mapping, params: Mapping, version: str):
        for name, expected in ESTIMATOR_TYPES.items():
            if not isinstance(estimators.get(name), expected):
                found = type(estimators.get(name)).__name__
                raise BundleError(
                    f'Invalid estimator "{name}": {found}. Expected {_type_names(expected)}.'
                )
        try:
            self._priority_classes = list(params["priority"]["classes"])
            self._temperature = float(params["priority"]["temperature"])
            self._review_threshold = float(params["priority"]["review_threshold"])
            self._sentiment_classes = list(params["sentiment"].get("classes") or [])
            resolution = params["resolution"]
            self._z90 = float(resolution["z90"])
            self._sigma_floor = float(resolution["sigma_floor"])
            self._log_hours_range = (
                math.log1p(float(resolution["min_hours"])),
                math.log1p(float(resolution["max_hours"])),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise BundleError(f"Invalid bundle params: {exc!r}. See ticketml.predictor.") from exc
        self._est = dict(estimators)
        self.version = version

    @property
    def review_threshold(self) -> float:
        """Top priority probability below which a prediction is flagged ``needs_review``."""
        return self._review_threshold

    def predict(self, ticket: Mapping) -> dict:
        """Return the enrichment for one ticket (see ``predict_many``)."""
        return self.predict_many([ticket])[0]

    def predict_many(self, tickets: Sequence[Mapping]) -> list[dict]:
        """Return the enrichment contract for each ticket.

        Args:
            tickets: Ticket mappings; missing, mistyped or unseen field values are tolerated.

        Returns:
            One dict per ticket: ``priority``, ``priority_scores`` (P1-P4, rounded, sum 1),
            ``sentiment`` ({label, score in [-1, 1]}), ``resolution_hours`` ({p50, p90},
            p90 >= p50 > 0), ``needs_review`` and ``model_version``.
        """
        texts, x_text, x_all = self._features(tickets)
        priority = self._priority_probabilities(x_all)
        sentiment = self._sentiment_probabilities(x_text, texts)
        p50, p90 = self._resolution_hours(x_all)
        results = []
        for i, text in enumerate(texts):
            scores = _rounded_distribution(priority[i], PRIORITIES)
            top = max(PRIORITIES, key=lambda p: (scores[p], -PRIORITIES.index(p)))
            results.append({
                "priority": top,
                "priority_scores": scores,
                "sentiment": _sentiment_result(sentiment[i]),
                "resolution_hours": {"p50": p50[i], "p90": p90[i]},
                "needs_review": bool(not text or priority[i].max() < self._review_threshold),
                "model_version": self.version,
            })
        return results

    def priority_probabilities(self, tickets: Sequence[Mapping]) -> np.ndarray:
        """Calibrated P1-P4 probabilities, shape (n, 4), unrounded (for evaluation)."""
        return self._priority_probabilities(self._features(tickets)[2])

    def _features(self, tickets: Sequence[Mapping]) -> tuple[list[str], sp.csr_matrix, sp.csr_matrix]:
        texts, fields = model_inputs(tickets)
        x_text = sp.hstack(
            [self._est["word"].transform(texts), self._est["char"].transform(texts)],
            format="csr",
        )
        x_all = sp.hstack([x_text, self._est["fields"].transform(fields)], format="csr")
        return texts, x_text, x_all

    def _priority_probabilities(self, x: sp.csr_matrix) -> np.ndarray:
        logits = self._est["priority"].decision_function(x)
        if logits.ndim == 1:  # Binary LogisticRegression returns one logit per row.
            logits = np.column_stack([np.zeros_like(logits), logits])
        probs = _softmax(logits / self._temperature)
        out = np.zeros((x.shape[0], len(PRIORITIES)))
        for j, label in enumerate(self._priority_classes):
            out[:, PRIORITIES.index(label)] = probs[:, j]
        return out

    def _sentiment_probabilities(self, x_text: sp.csr_matrix, texts: list[str]) -> np.ndarray:
        model = self._est["sentiment"]
        if model is None:
            return np.array([lexicon.probabilities(t) for t in texts]).reshape(-1, len(SENTIMENTS))
        probs = model.predict_proba(x_text)
        out = np.zeros((x_text.shape[0], len(SENTIMENTS)))
        for j, label in enumerate(self._sentiment_classes):
            out[:, SENTIMENTS.index(label)] = probs[:, j]
        return out

    def _resolution_hours(self, x: sp.csr_matrix) -> tuple[list[float], list[float]]:
        low, high = self._log_hours_range
        mu = np.clip(self._est["resolution_mu"].predict(x), low, high)
        sigma = np.maximum(self._est["resolution_sigma"].predict(x), self._sigma_floor)
        upper = np.clip(mu + self._z90 * sigma, mu, high)
        floor = round(math.expm1(low), _HOURS_DECIMALS)
        p50 = [max(round(math.expm1(m), _HOURS_DECIMALS), floor) for m in mu]
        p90 = [max(round(math.expm1(u), _HOURS_DECIMALS), lo) for u, lo in zip(upper, p50)]
        return p50, p90


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


def _type_names(expected: type | tuple) -> str:
    types = expected if isinstance(expected, tuple) else (expected,)
    return " or ".join(t.__name__ for t in types)
