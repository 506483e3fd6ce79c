"""Explanations: the few words and fields of a ticket that moved each head's prediction most.

Every head is linear in the sparse features, or trees over a few dense columns, so the
contribution of a feature is exact and cheap; only a row's non-zero features are visited.
  * priority, sentiment (logistic): value x (coefficient of the predicted class - the mean
    coefficient of all classes), over the temperature for priority: what the feature added to
    the predicted class's logit relative to the others. Positive weights only (what argued
    for the prediction), largest first.
  * resolution, ridge: value x coefficient of the centre (log hours). Largest |weight|
    first; a positive weight lengthened the estimate, a negative one shortened it.
  * resolution, trees: each split on a ticket's path adds the change in the subtree's mean
    leaf value to the split's column (Saabas' path attribution, children weighted equally as
    bundles do not store node counts). The two text columns (the ridge centre and spread)
    hand their share on to the words and fields that made them, in proportion.
  * VADER's scores, a sentiment input, are handed on to the words VADER scored (in the opening
    it reads, ``lexicon.scored_text``), in proportion to their valence; a lexicon-only
    sentiment head is explained by those words.
Features become what a person recognises: a word n-gram splits between its words; a
character n-gram goes to the words of the ticket it occurs in; a field is shown as
``name=value`` ("impact=4", "seniority=3"). To stay cheap, only the ``_CANDIDATES`` largest
contributions of a head are turned back into words. A word is only ever one of the ticket's
own (masked) words, never a placeholder such as ``[EMAIL]``.

May import only the standard library, numpy and ticketml.
"""

import bisect
import json
import re
from collections.abc import Mapping

import numpy as np

from ticketml import lexicon
from ticketml.arraymodels import word_tokens
from ticketml.features import ATTRIBUTES_FIELD, number
from ticketml.mask import PLACEHOLDERS

MAX_ITEMS = 5
_CANDIDATES = 30
_DECIMALS = 4
_PLACEHOLDERS = re.compile("|".join(re.escape(p) for p in PLACEHOLDERS))
_PLACEHOLDER_TOKENS = tuple((p, p[1:-1].lower()) for p in PLACEHOLDERS)
_EDGE_PUNCTUATION = re.compile(r"^\W+|\W+$")


def stored(explanations: Mapping[str, list[dict]]) -> dict[str, str]:
    """Explanations as the enrichment keeps them in the database: per head, one JSON text of
    ``[feature, kind, weight]`` triples, largest first.

    The database keeps every object as a node of its own: fifteen ``{feature, kind, weight}``
    objects made a stored ticket three times its memory without them (7.3 KB, not 3.6, at 20k
    tickets) and doubled training's read and a restart at 100k. One text per head costs 0.8 KB.
    ``loaded`` reads it back.
    """
    return {head: json.dumps([[i["feature"], i["kind"], i["weight"]] for i in items],
                             ensure_ascii=False, separators=(",", ":"))
            for head, items in explanations.items()}


def loaded(value: object) -> dict[str, list[dict]]:
    """``{head: [{feature, kind, weight}]}`` from a stored enrichment's ``explanations`` (the form
    ``stored`` writes, or a list of objects as written before it); what is unreadable is left out."""
    out: dict[str, list[dict]] = {}
    if not isinstance(value, Mapping):
        return out
    for head, items in value.items():
        if isinstance(items, str):
            try:
                items = json.loads(items)
            except ValueError:
                continue
            items = [{"feature": i[0], "kind": i[1], "weight": i[2]} for i in items
                     if isinstance(i, list) and len(i) == 3] if isinstance(items, list) else []
        if isinstance(items, list):
            out[head] = [i for i in items if isinstance(i, Mapping)]
    return out


class Explainer:
    """Explanations for one bundle's models.

    Args:
        models: The predictor's models (see ``ticketml.predictor.MODEL_TYPES``).
        temperature: The priority head's softmax temperature.
        lexicon_features: Whether the sentiment head reads VADER's four scores.
        tree_codes, tree_numeric: The categorical and numeric columns of the resolution
            trees' inputs, in order (``params.resolution.codes`` and ``numeric``).
    """

    def __init__(self, models: Mapping, temperature: float, lexicon_features: bool,
                 tree_codes: Mapping | None = None, tree_numeric: list[str] | None = None):
        word, char, fields = models["word"], models["char"], models["fields"]
        self._word, self._char = word, char
        self._word_tokens = _SplitWords(word.vocabulary)
        self._n_word, self._n_text = word.n_features, word.n_features + char.n_features
        self._field_names = fields.feature_names
        self._lexicon_features = lexicon_features
        self._priority = _class_weights(models.get("priority"), temperature)
        self._sentiment = _class_weights(models.get("sentiment"), 1.0)
        self._mu, self._sigma = models.get("resolution_mu"), models.get("resolution_sigma")
        self._trees = _Paths(models["resolution_p50"]) if models.get(
            "resolution_p50") is not None else None
        self._tree_codes = list(tree_codes or {})
        self._tree_numeric = list(tree_numeric or [])

    def explain(self, ticket: Mapping, text: str, fields: Mapping, x_text, x_all,
                priority: str, sentiment: str, gbm_row: np.ndarray | None,
                lexicon_row: np.ndarray | None) -> dict[str, list[dict]]:
        """The explanations of one ticket.

        Args:
            ticket: The ticket as given (for raw field values).
            text, fields: Its model inputs (``features.model_input``).
            x_text, x_all: Its text and full feature rows (one-row ``Rows``).
            priority, sentiment: The predicted labels.
            gbm_row: Its dense tree inputs when the resolution head is trees, else None.
            lexicon_row: VADER's four scores of its text, when the sentiment head reads them.

        Returns:
            ``{"priority": [...], "sentiment": [...], "resolution": [...]}``, each a list of at
            most ``MAX_ITEMS`` ``{"feature", "kind": "word" | "field", "weight"}``.
        """
        words = _Words(text)
        out = {}
        out["priority"] = self._classification(
            self._priority, priority, x_all, None, ticket, fields, words)
        if self._sentiment is None:
            out["sentiment"] = _lexicon_only(sentiment, words)
        else:
            out["sentiment"] = self._classification(
                self._sentiment, sentiment, x_text,
                lexicon_row if self._lexicon_features else None, ticket, fields, words)
        out["resolution"] = self._resolution(x_all, gbm_row, ticket, fields, words)
        return out

    def _classification(self, weights, label, x, lexicon_row, ticket, fields, words):
        if weights is None:
            return []
        classes, relative = weights
        if label not in classes:
            return []
        w = relative[classes.index(label)]
        columns, values = _row(x)
        n_base = len(w) - (len(lexicon_row) if lexicon_row is not None else 0)
        in_base = columns < n_base
        contributions = values[in_base] * w[columns[in_base]]
        items = self._named(columns[in_base], contributions, ticket, fields, words, positive=True)
        if lexicon_row is not None:
            total = float(np.dot(lexicon_row, w[n_base:]))
            _add_all(items, words.by_valence(total))
        return _top(items, positive=True)

    def _resolution(self, x_all, gbm_row, ticket, fields, words):
        if self._mu is None:
            return []
        if self._trees is None:
            columns, values = _row(x_all)
            contributions = values * self._mu.coef[columns]
            return _top(self._named(columns, contributions, ticket, fields, words))
        per_column = self._trees.contributions(gbm_row)
        names = self._trees_columns(ticket, fields)
        items: dict = {}
        n = len(per_column)
        for j, weight in enumerate(per_column):
            if weight == 0.0:
                continue
            if j >= n - 2:  # The ridge centre and spread: hand on to what made them.
                model = self._mu if j == n - 2 else self._sigma
                columns, values = _row(x_all)
                linear = values * model.coef[columns]
                scale = float(np.abs(linear).sum())
                if scale > 0:
                    _add_all(items, self._named(columns, linear * (weight / scale), ticket,
                                                fields, words))
            elif names[j] is not None:
                _add(items, (names[j], "field"), float(weight))
        return _top(items)

    def _trees_columns(self, ticket: Mapping, fields: Mapping) -> list[str | None]:
        """Display names of the tree inputs but the last two (the ridge centre and spread)."""
        names = []
        for name in self._tree_codes:
            value = next((k.partition("=")[2] for k in fields
                          if k.partition("=")[0] == name and "=" in k), None)
            names.append(None if value is None else f"{_display_name(name)}={value}")
        for name in self._tree_numeric:
            names.append(_field_display(name, fields, ticket))
        return names

    def _named(self, columns, contributions, ticket, fields, words, positive=False) -> dict:
        """The largest contributions, as {(feature, kind): weight}."""
        if not len(contributions):
            return {}
        key = -contributions if positive else -np.abs(contributions)
        if len(contributions) > _CANDIDATES:
            keep = np.argpartition(key, _CANDIDATES)[:_CANDIDATES]
            columns, contributions = columns[keep], contributions[keep]
        items: dict = {}
        get = items.get
        n_word, n_text, present = self._n_word, self._n_text, words.tokens
        word_tokens, char_vocabulary = self._word_tokens, self._char.vocabulary
        for column, weight in zip(columns.tolist(), contributions.tolist()):
            if positive and weight <= 0:
                continue
            if column < n_word:
                tokens = word_tokens[column]
                for token in tokens:
                    if token in present:
                        key = (token, "word")
                        items[key] = get(key, 0.0) + weight / len(tokens)
            elif column < n_text:
                owners = words.containing(char_vocabulary[column - n_word], self._char.analyzer)
                for owner in owners:
                    key = (owner, "word")
                    items[key] = get(key, 0.0) + weight / len(owners)
            else:
                name = _field_display(self._field_names[column - n_text], fields, ticket)
                if name is not None:
                    key = (name, "field")
                    items[key] = get(key, 0.0) + weight
        return items


def _tokens_outside_placeholders(text: str) -> set[str]:
    """The distinct tokens of ``text`` lower-cased, placeholders left out: the word vectorizer's tokens of the text
    with each placeholder replaced by a space, computed from its tokens of the whole text (cached, so not found twice).

    A placeholder is bracketed, so taking it out splits or joins no other token; it adds one token, its name
    ("[EMAIL]": "email"), which is left out when every occurrence of that token is a placeholder's.
    """
    tokens = word_tokens(text.lower())
    present = set(tokens)
    for placeholder, name in _PLACEHOLDER_TOKENS:
        found = text.count(placeholder)
        if found and name in present and tokens.count(name) == found:
            present.discard(name)
    return present


class _SplitWords(dict):
    """The words of each word n-gram column, split on first use (the vocabulary holds 10^4-10^5)."""

    def __init__(self, vocabulary: list[str]):
        super().__init__()
        self._vocabulary = vocabulary

    def __missing__(self, column: int) -> list[str]:
        tokens = self[column] = self._vocabulary[column].split(" ")
        return tokens


class _Words:
    """The words of one ticket's masked text (placeholders left out), lower-cased."""

    def __init__(self, text: str):
        self._original = text
        self.tokens = _tokens_outside_placeholders(text)
        text = _PLACEHOLDERS.sub(" ", text).lower()
        self.text = text
        self.chunks: dict[str, str] = {}  # whitespace-separated piece -> its word
        for chunk in dict.fromkeys(text.split()):  # each distinct piece once (a pasted log repeats many)
            first, last = chunk[0], chunk[-1]
            # (most pieces are words already; \w is what str.isalnum() accepts, and "_")
            word = chunk if ((first.isalnum() or first == "_") and (last.isalnum() or last == "_")) else (
                _EDGE_PUNCTUATION.sub("", chunk))
            if word:
                self.chunks[chunk] = word
        self._padded = [(f" {c} ", w) for c, w in self.chunks.items()]
        self._owners: dict[str, list[str]] = {}
        self._joined: str | None = None  # the padded pieces, one after another (built on first use)
        self._starts: list[int] = []  # where each padded piece starts in _joined

    def containing(self, gram: str, analyzer: str) -> list[str]:
        """The words a character n-gram came from."""
        owners = self._owners.get(gram)
        if owners is None:
            if analyzer == "char_wb":
                owners = self._found(gram) if "\0" not in gram else sorted(
                    {w for c, w in self._padded if gram in c})
            else:
                pieces = gram.split()
                owners = sorted({w for c, w in self._padded if any(p in c for p in pieces)})
            self._owners[gram] = owners
        return owners

    def _found(self, gram: str) -> list[str]:
        """The words whose padded piece holds ``gram`` (which holds no NUL): one search of all the pieces
        joined by NULs, instead of a test of each piece (a long ticket has hundreds)."""
        if self._joined is None:
            self._starts, offset = [], 0
            for padded, _ in self._padded:
                self._starts.append(offset)
                offset += len(padded) + 1
            self._joined = "\0".join(padded for padded, _ in self._padded)
        joined, starts, padded = self._joined, self._starts, self._padded
        owners, at = set(), joined.find(gram)
        while at != -1:
            piece = bisect.bisect_right(starts, at) - 1
            owners.add(padded[piece][1])
            at = joined.find(gram, starts[piece] + len(padded[piece][0]))  # on from the next piece
        return sorted(owners)

    def scored(self) -> list[str]:
        """The words VADER reads (those of ``lexicon.scored_text``, the text's opening), sorted."""
        prefix = lexicon.scored_text(self._original)
        words = self if len(prefix) == len(self._original) else _Words(prefix)
        return sorted(set(words.chunks.values()) | words.tokens)

    def by_valence(self, total: float) -> dict:
        """``total`` shared among the words VADER scores, by |valence|."""
        valences = lexicon.valences(self.scored())
        scale = sum(abs(v) for v in valences.values())
        if not scale or not total:
            return {}
        return {(w, "word"): total * abs(v) / scale for w, v in valences.items()}


class _Paths:
    """Saabas path attribution over a ``TreeEnsemble``: each split on a row's path credits its
    column with the change in the mean leaf value below it."""

    def __init__(self, trees):
        _, arrays = trees.state()
        self.n_features = trees.n_features
        leaf = arrays["is_leaf"].astype(bool)
        n = len(leaf)
        own = np.arange(n)
        self._leaf = leaf
        self._feature = np.where(leaf, 0, arrays["feature"]).astype(np.intp)
        self._threshold = np.where(leaf, 0.0, arrays["threshold"]).astype(np.float64)
        self._missing_left = arrays["missing_left"].astype(bool) & ~leaf
        self._left = np.where(leaf, own, arrays["left"]).astype(np.intp)
        self._right = np.where(leaf, own, arrays["right"]).astype(np.intp)
        self._roots = arrays["tree_starts"].astype(np.intp)
        mean = arrays["value"].astype(np.float64).copy()
        for node in np.flatnonzero(~leaf)[::-1]:  # Children come after their parents.
            mean[node] = (mean[self._left[node]] + mean[self._right[node]]) / 2
        self._mean = mean

    def contributions(self, row: np.ndarray) -> np.ndarray:
        """Per input column, what the splits on ``row``'s paths added (sum over trees)."""
        out = np.zeros(self.n_features)
        node = self._roots.copy()
        while True:
            split = ~self._leaf[node]
            if not split.any():
                return out
            node = node[split]
            column = self._feature[node]
            value = row[column]
            go_left = (value <= self._threshold[node]) | (np.isnan(value) & self._missing_left[node])
            child = np.where(go_left, self._left[node], self._right[node])
            np.add.at(out, column, self._mean[child] - self._mean[node])
            node = child


def _class_weights(model, temperature: float):
    """(classes, per-class coefficient minus the classes' mean), or None without a model."""
    if model is None:
        return None
    coef = np.asarray(model.coef, dtype=np.float64)
    if coef.shape[0] == 1:  # Two classes: one logit, of the second class.
        coef = np.vstack([np.zeros_like(coef[0]), coef[0]])
    return list(model.classes), (coef - coef.mean(axis=0)) / temperature


def _row(x) -> tuple[np.ndarray, np.ndarray]:
    start, end = int(x.indptr[0]), int(x.indptr[1])
    return (np.asarray(x.indices[start:end], dtype=np.intp),
            np.asarray(x.data[start:end], dtype=np.float64))


def _field_display(name: str, fields: Mapping, ticket: Mapping) -> str | None:
    """``name=value`` for a field feature; a number is named by its one-hot level ("impact=4")
    or by the ticket's own value ("seniority=3")."""
    if "=" in name:
        field, _, value = name.partition("=")
        return f"{_display_name(field)}={value}"
    if name == "impact":
        return next((k for k in fields if k.startswith("impact=")), None)
    if name == "seniority_log":
        value = number(ticket.get("seniority"))
    elif name.startswith("attr."):
        attributes = ticket.get(ATTRIBUTES_FIELD)
        value = number(attributes.get(name[len("attr."):])) if isinstance(attributes, Mapping) else None
    else:
        return name
    return None if value is None else f"{_display_name(name)}={_short_number(value)}"


def _display_name(field: str) -> str:
    if field == "seniority_log":
        return "seniority"
    return field[len("attr."):] if field.startswith("attr.") else field


def _short_number(value: float) -> str:
    rounded = round(value, 2)
    return str(int(rounded)) if float(rounded).is_integer() else str(rounded)


def _lexicon_only(label: str, words: _Words) -> list[dict]:
    if label == "neutral":
        return []
    sign = 1.0 if label == "positive" else -1.0
    valences = lexicon.valences(words.scored())
    return _top({(w, "word"): sign * v for w, v in valences.items()}, positive=True)


def _add(items: dict, key: tuple, weight: float) -> None:
    items[key] = items.get(key, 0.0) + weight


def _add_all(items: dict, more: dict) -> None:
    for key, weight in more.items():
        _add(items, key, weight)


def _top(items: dict, positive: bool = False) -> list[dict]:
    ranked = [(k, w) for k, w in items.items() if (w > 0 if positive else w != 0)]
    ranked.sort(key=lambda kw: (-(kw[1] if positive else abs(kw[1])), kw[0]))
    return [{"feature": feature, "kind": kind, "weight": round(weight, _DECIMALS)}
            for (feature, kind), weight in ranked[:MAX_ITEMS]]
