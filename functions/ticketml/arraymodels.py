"""The fitted models as plain arrays and JSON, and the arithmetic serving does with them.

Serving needs five kinds of fitted model: two TF-IDF text vectorizers, one vectorizer of
structured fields, logistic regressions, ridge regressions and (optionally) gradient-boosted
regression trees. ``training.export`` converts scikit-learn's fitted estimators into the
classes here; they compute what scikit-learn's ``transform``, ``decision_function``,
``predict_proba`` and ``predict`` compute, with numpy alone, in the same floating-point
precision and summation order (``tests/training/test_export.py`` checks the parity).

Stored form: each model is a JSON object (its ``type``, settings, vocabularies, class
labels) plus named numeric arrays (idf, coefficients, tree nodes), the arrays of model
``name`` being called ``name.<field>``. ``dump_models`` and ``load_models`` convert a dict
of models to and from that form; ``write_npz`` and ``read_npz`` write and read the arrays
as a ``.npz`` file, read with ``allow_pickle=False`` and refused unless every array is a
plain boolean, integer or float array. Loading validates every shape, index and setting, so
a malformed file is refused when the bundle loads, not at the first ticket: nothing in a
bundle is code, and nothing a bundle says can make prediction loop, read out of bounds or
compile a regular expression of its choosing.

May import only the standard library and numpy.
"""

import functools
import io
import math
import re
import zipfile
from itertools import repeat
from collections.abc import Mapping, Sequence
from numbers import Number

import numpy as np

from ticketml.errors import BundleError, UntrustedTypeError

DEFAULT_TOKEN_PATTERN = r"(?u)\b\w\w+\b"
"""The only token pattern a word vectorizer may use (scikit-learn's default): a bundle does
not get to bring its own regular expression."""
ANALYZERS = ("word", "char", "char_wb")
MAX_NGRAM = 10
_TOKENS = re.compile(DEFAULT_TOKEN_PATTERN)
_WHITE_SPACES = re.compile(r"\s\s+")  # What scikit-learn's char analyzers collapse.
_FLOATS = {"float32": np.float32, "float64": np.float64}
_ARRAY_KINDS = "biuf"  # bool, signed and unsigned integers, floats: nothing else loads.
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # Fixed, so the same arrays give the same file bytes.
_WORD_CACHE_SIZE = 50_000  # words whose char_wb columns a vectorizer keeps (cleared when full)


class Rows:
    """Sparse rows in CSR layout: row ``i`` holds ``data[indptr[i]:indptr[i+1]]`` at
    columns ``indices[...]``, sorted within the row.

    The linear models also accept scipy's CSR matrices (same attributes), which lets
    training pass the features it computed with scikit-learn.
    """

    __slots__ = ("indptr", "indices", "data", "shape")

    def __init__(self, indptr: np.ndarray, indices: np.ndarray, data: np.ndarray,
                 n_columns: int):
        self.indptr = indptr
        self.indices = indices
        self.data = data
        self.shape = (len(indptr) - 1, n_columns)

    @classmethod
    def from_dense(cls, dense: np.ndarray) -> "Rows":
        """The non-zero entries of a 2-D array (as scipy keeps them when it stacks one)."""
        dense = np.asarray(dense)
        rows, cols = np.nonzero(dense)
        indptr = np.zeros(dense.shape[0] + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=dense.shape[0]), out=indptr[1:])
        return cls(indptr, cols.astype(np.int64), dense[rows, cols], dense.shape[1])

    def toarray(self) -> np.ndarray:
        """The rows as a dense array (for tests and debugging)."""
        out = np.zeros(self.shape, dtype=self.data.dtype)
        rows = np.repeat(np.arange(self.shape[0]), np.diff(self.indptr))
        out[rows, self.indices] = self.data
        return out


def hstack(blocks: Sequence) -> Rows:
    """Stack row blocks side by side (like ``scipy.sparse.hstack(..., format="csr")``):
    each row holds its entries of the first block, then those of the second, and so on,
    with the data upcast to a common dtype."""
    n = blocks[0].shape[0]
    dtype = np.result_type(*[b.data.dtype for b in blocks])
    if n == 1:  # One ticket, as serving stacks them: the same arrays with a few numpy calls.
        offset = 0
        index_parts, data_parts = [], []
        for b in blocks:
            start, end = int(b.indptr[0]), int(b.indptr[1])
            index_parts.append(np.asarray(b.indices[start:end], dtype=np.int64) + offset)
            data_parts.append(np.asarray(b.data[start:end], dtype=dtype))
            offset += int(b.shape[1])
        indices = np.concatenate(index_parts)
        return Rows(np.array([0, len(indices)], dtype=np.int64), indices,
                    np.concatenate(data_parts), offset)
    offsets = np.cumsum([0] + [b.shape[1] for b in blocks])
    counts = np.stack([np.diff(np.asarray(b.indptr, dtype=np.int64)) for b in blocks])
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts.sum(axis=0), out=indptr[1:])
    # Where each block's entries of row i start in the output: after the row's earlier
    # blocks, which come after all earlier rows.
    starts = indptr[:-1] + np.cumsum(counts, axis=0) - counts
    indices = np.empty(indptr[-1], dtype=np.int64)
    data = np.empty(indptr[-1], dtype=dtype)
    for j, block in enumerate(blocks):
        sizes = counts[j]
        if not sizes.sum():
            continue
        block_ptr = np.asarray(block.indptr, dtype=np.int64)
        first, last = block_ptr[0], block_ptr[-1]
        positions = np.repeat(starts[j] - block_ptr[:-1], sizes) + np.arange(first, last)
        indices[positions] = np.asarray(block.indices[first:last], dtype=np.int64) + offsets[j]
        data[positions] = block.data[first:last]
    return Rows(indptr, indices, data, int(offsets[-1]))


def sparse_dot(x, weights: np.ndarray) -> np.ndarray:
    """``x @ weights`` as scipy computes it for a CSR ``x`` and dense ``weights``.

    Args:
        x: CSR rows (``Rows`` or a scipy CSR matrix) with ``x.shape[1] == len(weights)``.
        weights: (n_features,) or (n_features, k).

    Returns:
        (n,) or (n, k) in the dtype common to ``x.data`` and ``weights``; each output is the
        sum of its row's products taken in column order, as scipy's sparsetools add them,
        so that float32 models give bit-identical results.
    """
    if x.shape[1] != weights.shape[0]:
        raise ValueError(f"Expected rows of {weights.shape[0]} columns, got {x.shape[1]}.")
    dtype = np.result_type(x.data.dtype, weights.dtype)
    weights = weights.astype(dtype, copy=False)
    data = x.data.astype(dtype, copy=False)
    indptr, indices = x.indptr, x.indices
    n = x.shape[0]
    out = np.zeros((n,) + weights.shape[1:], dtype=dtype)
    for i in range(n):
        start, end = indptr[i], indptr[i + 1]
        if start == end:
            continue
        rows = weights[indices[start:end]]
        products = data[start:end, None] * rows if rows.ndim == 2 else data[start:end] * rows
        # cumsum adds strictly left to right (sum() would add pairwise).
        out[i] = np.cumsum(products, axis=0)[-1]
    return out


class TextVectorizer:
    """TF-IDF of n-grams: what a fitted ``TfidfVectorizer`` computes in ``transform``.

    Covers analyzers ``word`` (with the default token pattern), ``char`` and ``char_wb``,
    lowercasing or not, no accent stripping, no stop words, raw counts or ``binary``,
    ``sublinear_tf``, an idf vector or none, and l2 or no row normalisation.

    Args:
        analyzer: ``word``, ``char`` or ``char_wb``.
        ngram_range: (min_n, max_n).
        vocabulary: The term of each column, in column order.
        idf: Per-column idf weights, or None (``use_idf=False``).
        lowercase, binary, sublinear_tf: As in scikit-learn.
        norm: ``"l2"`` or None.
        dtype: ``"float32"`` or ``"float64"``, the dtype of the output.
    """

    kind = "tfidf"

    def __init__(self, *, analyzer: str, ngram_range: Sequence[int], vocabulary: Sequence[str],
                 idf: np.ndarray | None, lowercase: bool = True, binary: bool = False,
                 sublinear_tf: bool = False, norm: str | None = "l2", dtype: str = "float64"):
        _require(analyzer in ANALYZERS, f"analyzer {analyzer!r} is not one of {ANALYZERS}")
        _require(_is_ngram_range(ngram_range),
                 f"ngram_range {ngram_range!r} is not two integers 1 <= min <= max <= {MAX_NGRAM}")
        _require(norm in ("l2", None), f"norm {norm!r} is not 'l2' or None")
        _require(dtype in _FLOATS, f"dtype {dtype!r} is not one of {list(_FLOATS)}")
        for name, flag in (("lowercase", lowercase), ("binary", binary),
                           ("sublinear_tf", sublinear_tf)):
            _require(isinstance(flag, bool), f"{name} {flag!r} is not a boolean")
        _require(isinstance(vocabulary, (list, tuple))
                 and all(isinstance(t, str) for t in vocabulary),
                 "vocabulary is not a list of strings")
        self.vocabulary = list(vocabulary)
        self._index = {term: j for j, term in enumerate(self.vocabulary)}
        _require(len(self._index) == len(self.vocabulary), "vocabulary has duplicate terms")
        self.dtype = np.dtype(_FLOATS[dtype])
        if idf is not None:
            _require(idf.shape == (len(self.vocabulary),) and idf.dtype == self.dtype,
                     f"idf has shape {idf.shape} and dtype {idf.dtype}, expected "
                     f"({len(self.vocabulary)},) and {self.dtype}")
            _require(bool(np.isfinite(idf).all()), "idf holds a non-finite value")
        self.idf = idf
        self.analyzer = analyzer
        self.ngram_range = (int(ngram_range[0]), int(ngram_range[1]))
        self.lowercase = lowercase
        self.binary = binary
        self.sublinear_tf = sublinear_tf
        self.norm = norm
        self._word_columns: dict[str, bytes] = {}  # char_wb: a word's known columns, as int64 bytes

    @property
    def n_features(self) -> int:
        return len(self.vocabulary)

    def analyze(self, text: str) -> list[str]:
        """The n-grams of one text, in scikit-learn's order (``build_analyzer()(text)``)."""
        if self.lowercase:
            text = text.lower()
        if self.analyzer == "word":
            return _word_ngrams(word_tokens(text), *self.ngram_range)
        text = _WHITE_SPACES.sub(" ", text)
        if self.analyzer == "char":
            return _char_ngrams(text, *self.ngram_range)
        return _char_wb_ngrams(text, *self.ngram_range)

    def transform(self, texts: Sequence[str]) -> Rows:
        """TF-IDF rows of ``texts`` (unknown n-grams are ignored)."""
        n, width = len(texts), self.n_features
        if n == 1:  # One ticket, as serving asks: its sorted columns and counts directly.
            if self.analyzer == "char_wb":
                columns = self._char_wb_columns(texts[0])
            else:
                grams = self.analyze(texts[0])
                columns = np.fromiter(map(self._index.get, grams, repeat(-1)), dtype=np.int64,
                                      count=len(grams))
                columns = columns[columns >= 0]
            indices, counts = _counted(columns, width)
            indptr = np.array([0, len(indices)], dtype=np.int64)
            return self._weighted(indptr, indices, counts)
        grams = []
        lengths = []
        for text in texts:
            found = self.analyze(text)
            lengths.append(len(found))
            grams += found
        # Column of every n-gram (-1 when unknown), looked up without a Python-level loop.
        columns = np.fromiter(map(self._index.get, grams, repeat(-1)), dtype=np.int64,
                              count=len(grams))
        known = columns >= 0
        rows = np.repeat(np.arange(n, dtype=np.int64), np.array(lengths, dtype=np.int64))
        keys = rows[known] * width + columns[known]
        # Sorted (row, column) pairs with their counts: the CSR layout scikit-learn sorts into.
        keys, counts = np.unique(keys, return_counts=True)
        rows, indices = np.divmod(keys, width) if width else (keys, keys)
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
        return self._weighted(indptr, indices, counts)

    def _char_wb_columns(self, text: str) -> np.ndarray:
        """The known columns of a text's ``char_wb`` n-grams, in any order: those of each word,
        which depend on the word alone, looked up once per word (cached) instead of per n-gram.
        Each word's are kept as the bytes of an int64 array, which join into the text's without
        a Python int apiece (a 2,000-character ticket has about 6,000)."""
        if self.lowercase:
            text = text.lower()
        cache = self._word_columns
        parts: list[bytes] = []
        for word in _WHITE_SPACES.sub(" ", text).split():
            known = cache.get(word)
            if known is None:
                known = np.fromiter(
                    (j for j in map(self._index.get, _char_wb_ngrams(word, *self.ngram_range)) if j is not None),
                    dtype=np.int64).tobytes()
                if len(cache) >= _WORD_CACHE_SIZE:
                    cache.clear()
                cache[word] = known
            parts.append(known)
        return np.frombuffer(b"".join(parts), dtype=np.int64)

    def _weighted(self, indptr: np.ndarray, indices: np.ndarray, counts: np.ndarray) -> Rows:
        """TF-IDF rows from the sorted columns of each row's n-grams and their counts."""
        data = counts.astype(self.dtype)
        if self.binary:
            data[:] = 1
        if self.sublinear_tf:
            np.log(data, out=data)
            data += 1.0
        if self.idf is not None:
            data *= self.idf[indices]
        if self.norm == "l2":
            _normalize_l2(indptr, data)
        return Rows(indptr, indices, data, self.n_features)

    def state(self) -> tuple[dict, dict]:
        spec = {"type": self.kind, "analyzer": self.analyzer, "ngram_range": list(self.ngram_range),
                "lowercase": self.lowercase, "token_pattern": DEFAULT_TOKEN_PATTERN,
                "binary": self.binary, "sublinear_tf": self.sublinear_tf, "norm": self.norm,
                "dtype": self.dtype.name, "use_idf": self.idf is not None,
                "vocabulary": self.vocabulary}
        return spec, ({} if self.idf is None else {"idf": self.idf})

    @classmethod
    def from_state(cls, spec: Mapping, arrays: Mapping) -> "TextVectorizer":
        _require(spec.get("token_pattern", DEFAULT_TOKEN_PATTERN) == DEFAULT_TOKEN_PATTERN,
                 f"token_pattern {spec.get('token_pattern')!r} is not the default "
                 f"{DEFAULT_TOKEN_PATTERN!r}")
        _expect_arrays(arrays, {"idf"} if spec.get("use_idf") is True else set())
        return cls(analyzer=spec.get("analyzer"), ngram_range=spec.get("ngram_range"),
                   vocabulary=spec.get("vocabulary"), idf=arrays.get("idf"),
                   lowercase=spec.get("lowercase"), binary=spec.get("binary"),
                   sublinear_tf=spec.get("sublinear_tf"), norm=spec.get("norm"),
                   dtype=spec.get("dtype"))


class FieldVectorizer:
    """One column per known feature name: what a fitted ``DictVectorizer`` (sparse output)
    computes in ``transform``. A number (or None) ``v`` under key ``k`` goes to column ``k``;
    a string ``s`` sets column ``k<separator>s`` to 1. Unknown names are ignored."""

    kind = "dict"

    def __init__(self, *, feature_names: Sequence[str], separator: str = "=",
                 dtype: str = "float64"):
        _require(isinstance(feature_names, (list, tuple))
                 and all(isinstance(f, str) for f in feature_names),
                 "feature_names is not a list of strings")
        _require(isinstance(separator, str), "separator is not a string")
        _require(dtype in _FLOATS, f"dtype {dtype!r} is not one of {list(_FLOATS)}")
        self.feature_names = list(feature_names)
        self._index = {name: j for j, name in enumerate(self.feature_names)}
        _require(len(self._index) == len(self.feature_names), "feature_names has duplicates")
        self.separator = separator
        self.dtype = np.dtype(_FLOATS[dtype])

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    def transform(self, rows: Sequence[Mapping]) -> Rows:
        """Rows of the given dicts of features."""
        indptr = np.zeros(len(rows) + 1, dtype=np.int64)
        columns: list[int] = []
        values: list = []
        index = self._index
        for i, row in enumerate(rows):
            found = []
            for key, value in row.items():
                if isinstance(value, str):
                    key, value = f"{key}{self.separator}{value}", 1
                elif not (isinstance(value, Number) or value is None):
                    raise TypeError(f"Unsupported value type {type(value)} for {key}: {value}.")
                j = index.get(key)
                if j is not None:
                    found.append((j, value))
            found.sort(key=lambda jv: jv[0])
            columns.extend(j for j, _ in found)
            values.extend(np.nan if v is None else v for _, v in found)
            indptr[i + 1] = len(columns)
        return Rows(indptr, np.array(columns, dtype=np.int64),
                    np.array(values, dtype=self.dtype), self.n_features)

    def state(self) -> tuple[dict, dict]:
        return {"type": self.kind, "feature_names": self.feature_names,
                "separator": self.separator, "dtype": self.dtype.name}, {}

    @classmethod
    def from_state(cls, spec: Mapping, arrays: Mapping) -> "FieldVectorizer":
        _expect_arrays(arrays, set())
        return cls(feature_names=spec.get("feature_names"), separator=spec.get("separator"),
                   dtype=spec.get("dtype"))


class LogisticModel:
    """A fitted ``LogisticRegression``: ``coef`` (1 or k, n_features), ``intercept`` (1 or k,).

    ``decision_function`` and ``predict_proba`` follow scikit-learn: two classes have one
    logit (of the second class) and probabilities [1 - expit, expit]; more classes have one
    logit each and a softmax.
    """

    kind = "logistic"

    def __init__(self, *, classes: Sequence[str], coef: np.ndarray, intercept: np.ndarray):
        _require(isinstance(classes, (list, tuple)) and len(classes) >= 2
                 and all(isinstance(c, str) for c in classes) and len(set(classes)) == len(classes),
                 "classes is not a list of at least two distinct strings")
        rows = 1 if len(classes) == 2 else len(classes)
        _require(coef.ndim == 2 and coef.shape[0] == rows and coef.dtype.kind == "f",
                 f"coef has shape {coef.shape}, expected ({rows}, n_features) floats")
        _require(intercept.shape == (rows,) and intercept.dtype.kind == "f",
                 f"intercept has shape {intercept.shape}, expected ({rows},) floats")
        _require(bool(np.isfinite(coef).all() and np.isfinite(intercept).all()),
                 "coef or intercept holds a non-finite value")
        self.classes = list(classes)
        self.coef = coef
        self.intercept = intercept
        self._weights = np.ascontiguousarray(coef.T)

    @property
    def n_features(self) -> int:
        return self.coef.shape[1]

    def decision_function(self, x) -> np.ndarray:
        """(n,) logits of the second class for two classes, else (n, k)."""
        scores = sparse_dot(x, self._weights) + self.intercept
        return scores[:, 0] if scores.shape[1] == 1 else scores

    def predict_proba(self, x) -> np.ndarray:
        """(n, k) class probabilities, columns in ``classes`` order."""
        scores = self.decision_function(x)
        if scores.ndim == 1:
            with np.errstate(over="ignore"):
                positive = 1 / (1 + np.exp(-scores))
            return np.stack([1 - positive, positive], axis=1)
        scores -= scores.max(axis=1).reshape(-1, 1)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=1).reshape(-1, 1)
        return scores

    def state(self) -> tuple[dict, dict]:
        return ({"type": self.kind, "classes": self.classes},
                {"coef": self.coef, "intercept": self.intercept})

    @classmethod
    def from_state(cls, spec: Mapping, arrays: Mapping) -> "LogisticModel":
        _expect_arrays(arrays, {"coef", "intercept"})
        return cls(classes=spec.get("classes"), coef=arrays["coef"], intercept=arrays["intercept"])


class LinearModel:
    """A fitted single-output linear regression (``Ridge``): ``x @ coef + intercept``."""

    kind = "linear"

    def __init__(self, *, coef: np.ndarray, intercept: np.ndarray):
        _require(coef.ndim == 1 and coef.dtype.kind == "f",
                 f"coef has shape {coef.shape}, expected (n_features,) floats")
        _require(intercept.shape == () and intercept.dtype.kind == "f",
                 f"intercept has shape {intercept.shape}, expected a float scalar")
        _require(bool(np.isfinite(coef).all() and np.isfinite(intercept)),
                 "coef or intercept holds a non-finite value")
        self.coef = coef
        self.intercept = intercept

    @property
    def n_features(self) -> int:
        return self.coef.shape[0]

    def predict(self, x) -> np.ndarray:
        """(n,) predictions."""
        return sparse_dot(x, self.coef) + self.intercept

    def state(self) -> tuple[dict, dict]:
        return {"type": self.kind}, {"coef": self.coef, "intercept": self.intercept}

    @classmethod
    def from_state(cls, spec: Mapping, arrays: Mapping) -> "LinearModel":
        _expect_arrays(arrays, {"coef", "intercept"})
        return cls(coef=arrays["coef"], intercept=arrays["intercept"])


class TreeEnsemble:
    """Regression trees summed onto a baseline: a fitted ``HistGradientBoostingRegressor``
    with an identity link and numerical splits only.

    The nodes of every tree are concatenated; tree ``t`` occupies ``tree_starts[t]`` up to
    the next start, its root first. A split node sends a row left when its feature value is
    ``<= threshold``, or is NaN and ``missing_left``; a leaf has a ``value``. Children always
    come after their parent (as scikit-learn grows them), which is checked when loading, so
    every walk ends within the deepest tree's depth.
    """

    kind = "trees"
    _FIELDS = ("tree_starts", "is_leaf", "feature", "threshold", "missing_left", "left",
               "right", "value", "baseline")

    def __init__(self, *, n_features: int, tree_starts: np.ndarray, is_leaf: np.ndarray,
                 feature: np.ndarray, threshold: np.ndarray, missing_left: np.ndarray,
                 left: np.ndarray, right: np.ndarray, value: np.ndarray, baseline: np.ndarray):
        _require(isinstance(n_features, int) and not isinstance(n_features, bool)
                 and n_features >= 1, f"n_features {n_features!r} is not a positive integer")
        n = value.shape[0] if value.ndim == 1 else -1
        for name, array, kinds in (
                ("is_leaf", is_leaf, "bu"), ("feature", feature, "iu"),
                ("threshold", threshold, "f"), ("missing_left", missing_left, "bu"),
                ("left", left, "iu"), ("right", right, "iu"), ("value", value, "f")):
            _require(array.shape == (n,) and array.dtype.kind in kinds,
                     f"{name} has shape {array.shape} and dtype {array.dtype}, expected ({n},)")
        _require(n > 0, "there are no nodes")
        _require(tree_starts.ndim == 1 and tree_starts.dtype.kind in "iu" and len(tree_starts) > 0
                 and tree_starts[0] == 0 and bool(np.all(np.diff(tree_starts) > 0))
                 and tree_starts[-1] < n, "tree_starts is not an increasing list of node offsets")
        _require(baseline.shape == (1,) and baseline.dtype.kind == "f"
                 and bool(np.isfinite(baseline).all()), "baseline is not one finite float")
        is_leaf = is_leaf.astype(bool)
        tree_ends = np.append(tree_starts[1:], n).astype(np.int64)
        tree_of = np.repeat(np.arange(len(tree_starts)), np.diff(np.append(tree_starts, n)))
        own = np.arange(n)
        split = ~is_leaf
        for name, child in (("left", left), ("right", right)):
            child = child.astype(np.int64)
            _require(bool(np.all((child[split] > own[split])
                                 & (child[split] < tree_ends[tree_of[split]]))),
                     f"a {name} child is not a later node of the same tree")
        _require(bool(np.all((feature[split] >= 0) & (feature[split] < n_features))),
                 f"a split reads a feature outside 0..{n_features - 1}")
        _require(bool(np.isfinite(value[is_leaf]).all()), "a leaf value is not finite")
        _require(not np.isnan(threshold[split]).any(), "a split threshold is NaN")
        self.n_features = n_features
        self.tree_starts = tree_starts
        self.baseline = baseline
        self._arrays = {"is_leaf": is_leaf, "feature": feature, "threshold": threshold,
                        "missing_left": missing_left.astype(bool), "left": left, "right": right,
                        "value": value}
        # Walk arrays: a leaf points to itself on both sides, so every row can take the
        # same number of steps.
        self._feature = np.where(is_leaf, 0, feature).astype(np.intp)
        self._threshold = np.where(is_leaf, 0.0, threshold).astype(np.float64)
        self._missing_left = missing_left.astype(bool) & split
        self._left = np.where(is_leaf, own, left).astype(np.intp)
        self._right = np.where(is_leaf, own, right).astype(np.intp)
        self._value = value.astype(np.float64)
        self._roots = tree_starts.astype(np.intp)
        self._depth = 0
        frontier = self._roots[~is_leaf[self._roots]]
        while len(frontier):  # Ends: children come after parents.
            self._depth += 1
            frontier = np.unique(np.concatenate([self._left[frontier], self._right[frontier]]))
            frontier = frontier[~is_leaf[frontier]]

    @property
    def n_trees(self) -> int:
        return len(self.tree_starts)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """(n,) predictions for a dense (n, n_features) array; NaN is a missing value."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ValueError(f"Expected an (n, {self.n_features}) array, got {x.shape}.")
        n = x.shape[0]
        node = np.broadcast_to(self._roots, (n, len(self._roots))).copy()
        rows = np.arange(n)[:, None]
        for _ in range(self._depth):
            values = x[rows, self._feature[node]]
            go_left = (values <= self._threshold[node]) | (
                np.isnan(values) & self._missing_left[node])
            node = np.where(go_left, self._left[node], self._right[node])
        # Baseline first, then each tree in order: the order scikit-learn adds them in.
        terms = np.empty((n, node.shape[1] + 1))
        terms[:, 0] = self.baseline[0]
        terms[:, 1:] = self._value[node]
        return np.cumsum(terms, axis=1)[:, -1]

    def state(self) -> tuple[dict, dict]:
        return ({"type": self.kind, "n_features": self.n_features},
                {"tree_starts": self.tree_starts, "baseline": self.baseline, **self._arrays})

    @classmethod
    def from_state(cls, spec: Mapping, arrays: Mapping) -> "TreeEnsemble":
        _expect_arrays(arrays, set(cls._FIELDS))
        return cls(n_features=spec.get("n_features"), **{f: arrays[f] for f in cls._FIELDS})


MODEL_CLASSES = {cls.kind: cls for cls in (
    TextVectorizer, FieldVectorizer, LogisticModel, LinearModel, TreeEnsemble)}


def dump_models(models: Mapping[str, object]) -> tuple[dict, dict[str, np.ndarray]]:
    """The stored form of a dict of models (None allowed): a JSON-able spec and arrays.

    Raises:
        BundleError: A value is not one of this module's model classes.
    """
    spec: dict = {}
    arrays: dict[str, np.ndarray] = {}
    for name, model in models.items():
        if not isinstance(name, str) or not name or "." in name:
            raise BundleError(f'Invalid model name "{name}": expected a name without dots.')
        if model is None:
            spec[name] = None
            continue
        if type(model) not in MODEL_CLASSES.values():
            raise BundleError(
                f'Invalid model "{name}": {type(model).__module__}.{type(model).__qualname__} '
                f"({_short_repr(model)}). Expected one of ticketml.arraymodels' classes "
                "(training.export converts fitted scikit-learn estimators).")
        model_spec, model_arrays = model.state()
        spec[name] = model_spec
        arrays.update({f"{name}.{field}": np.asarray(a) for field, a in model_arrays.items()})
    return {"models": spec}, arrays


def load_models(spec: Mapping, arrays: Mapping[str, np.ndarray]) -> dict[str, object]:
    """Rebuild and validate the models from their stored form (see ``dump_models``).

    Raises:
        BundleError: An unknown type, a missing or unexpected array, or an invalid setting,
            shape or index, naming the model.
    """
    models_spec = spec.get("models") if isinstance(spec, Mapping) else None
    if not isinstance(models_spec, Mapping):
        raise BundleError('Invalid model spec: "models" must map names to models.')
    grouped: dict[str, dict] = {}
    for key, array in arrays.items():
        name, _, field = key.partition(".")
        if name not in models_spec or models_spec[name] is None or not field:
            raise BundleError(f'Invalid model arrays: "{key}" belongs to no model.')
        grouped.setdefault(name, {})[field] = array
    models: dict[str, object] = {}
    for name, model_spec in models_spec.items():
        if model_spec is None:
            models[name] = None
            continue
        kind = model_spec.get("type") if isinstance(model_spec, Mapping) else None
        cls = MODEL_CLASSES.get(kind)
        if cls is None:
            raise BundleError(
                f'Invalid model "{name}": type {kind!r}. Expected one of {sorted(MODEL_CLASSES)}.')
        try:
            models[name] = cls.from_state(model_spec, grouped.get(name, {}))
        except (_Invalid, TypeError, ValueError, KeyError) as exc:
            raise BundleError(f'Invalid model "{name}" ({kind}): {exc}.') from exc
    return models


def write_npz(arrays: Mapping[str, np.ndarray]) -> bytes:
    """The arrays as ``.npz`` bytes (deflated, entries sorted, fixed dates: the same arrays
    always give the same bytes). Object arrays are refused."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(arrays):
            array = np.asarray(arrays[name])
            if array.dtype.kind not in _ARRAY_KINDS:
                raise BundleError(f'Invalid array "{name}": dtype {array.dtype} is not a number.')
            info = zipfile.ZipInfo(name + ".npy", date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            entry = io.BytesIO()
            # (ascontiguousarray would turn a 0-d array into shape (1,).)
            np.lib.format.write_array(entry, np.array(array, order="C"), allow_pickle=False)
            archive.writestr(info, entry.getvalue(), compresslevel=9)
    return buffer.getvalue()


def read_npz(data: bytes, source: str = "model.npz") -> dict[str, np.ndarray]:
    """Read ``.npz`` bytes with ``allow_pickle=False``.

    Raises:
        UntrustedTypeError: An array is not a plain bool, integer or float array (an object
            array would need pickle).
        BundleError: The bytes are not a readable ``.npz``.
    """
    if not data.startswith(b"PK\x03\x04"):
        raise BundleError(f'Invalid model file "{source}": it is not an .npz (zip) archive.')
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            names = list(archive.files)
            arrays = {}
            for name in names:
                try:
                    arrays[name] = archive[name]
                except ValueError as exc:
                    if "allow_pickle" in str(exc):
                        raise UntrustedTypeError(
                            f'Invalid model file "{source}": array "{name}" holds Python '
                            "objects, which only pickle can load; bundles hold plain numeric "
                            "arrays and are read with allow_pickle=False.") from exc
                    raise
    except BundleError:
        raise
    except Exception as exc:  # zipfile and numpy raise assorted errors on corrupt input.
        raise BundleError(f'Invalid model file "{source}": {exc!r}.') from exc
    for name, array in arrays.items():
        if array.dtype.kind not in _ARRAY_KINDS or array.dtype.fields is not None:
            raise UntrustedTypeError(
                f'Invalid model file "{source}": array "{name}" has dtype {array.dtype}; only '
                "bool, integer and float arrays are allowed.")
    return arrays


# Sorting costs about 25 ns a column found, counting into a vocabulary-wide array about 2 ns a vocabulary column:
# a text with more than a twelfth as many n-grams as the vocabulary has columns is counted, not sorted (a
# 5,000-character ticket's 15,000 character n-grams against 24,560 columns: 470 -> 80 µs).
_COUNT_NOT_SORT = 12


def _counted(columns: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Each distinct column of one text, ascending, and how many times it occurs."""
    if len(columns) * _COUNT_NOT_SORT <= width:
        return np.unique(columns, return_counts=True)
    counts = np.bincount(columns, minlength=width)
    indices = np.flatnonzero(counts)
    return indices.astype(np.int64, copy=False), counts[indices]


# The explanations read a ticket's words as the word vectorizer does, just after it: its tokens are kept for the
# last few texts (a 5,000-character ticket's take 0.2 ms to find).
@functools.lru_cache(maxsize=32)
def word_tokens(text: str) -> tuple[str, ...]:
    """The tokens of ``text`` as scikit-learn's default token pattern finds them, in order."""
    return tuple(_TOKENS.findall(text))


def _word_ngrams(tokens: Sequence[str], min_n: int, max_n: int) -> list[str]:
    if max_n == 1:
        return list(tokens)
    grams = list(tokens) if min_n == 1 else []
    for n in range(max(min_n, 2), min(max_n, len(tokens)) + 1):
        grams += map(" ".join, zip(*(tokens[k:] for k in range(n))))  # each run of n tokens, in order
    return grams


def _char_ngrams(text: str, min_n: int, max_n: int) -> list[str]:
    grams: list[str] = []
    for n in range(min_n, min(max_n, len(text)) + 1):
        grams += [text[i:i + n] for i in range(len(text) - n + 1)]
    return grams


def _char_wb_ngrams(text: str, min_n: int, max_n: int) -> list[str]:
    """n-grams inside each whitespace-separated word padded with one space on each side.

    scikit-learn's rule for short words: the n-grams of every n shorter than the padded
    word, then, if some n in range reaches its length, the padded word itself, once.
    """
    grams: list[str] = []
    for word in text.split():
        word = f" {word} "
        length = len(word)
        grams += [word[i:i + n] for n in range(min_n, min(max_n, length - 1) + 1)
                  for i in range(length - n + 1)]
        if max_n >= length:
            grams.append(word)
    return grams


def _normalize_l2(indptr: np.ndarray, data: np.ndarray) -> None:
    """Divide each row by its l2 norm, in place, as scikit-learn's
    ``inplace_csr_row_normalize_l2`` does: squares in the data's dtype, summed in double
    left to right, each value divided in double and stored back in its dtype."""
    squares = (data * data).astype(np.float64)
    for i in range(len(indptr) - 1):
        start, end = indptr[i], indptr[i + 1]
        if start == end:
            continue
        total = np.cumsum(squares[start:end])[-1]
        if total == 0.0:
            continue
        data[start:end] = data[start:end].astype(np.float64) / math.sqrt(total)


class _Invalid(ValueError):
    pass


def _require(condition: object, message: str) -> None:
    if not condition:
        raise _Invalid(message)


def _expect_arrays(arrays: Mapping, expected: set[str]) -> None:
    missing = sorted(expected - set(arrays))
    extra = sorted(set(arrays) - expected)
    _require(not missing, f"arrays {missing} are missing")
    _require(not extra, f"arrays {extra} are not expected")


def _is_ngram_range(value: object) -> bool:
    return (isinstance(value, (list, tuple)) and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
            and 1 <= value[0] <= value[1] <= MAX_NGRAM)


def _short_repr(value: object, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


__all__ = [
    "DEFAULT_TOKEN_PATTERN", "FieldVectorizer", "LinearModel", "LogisticModel", "Rows",
    "TextVectorizer", "TreeEnsemble", "dump_models", "hstack", "load_models", "read_npz",
    "sparse_dot", "write_npz",
]
