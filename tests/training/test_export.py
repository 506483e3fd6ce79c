"""Parity: the exported plain-array models compute what the fitted scikit-learn estimators do.

Serving runs ``ticketml.arraymodels`` without scikit-learn; training fits scikit-learn
estimators and converts them (``training.export``). These tests fit the heads on demo data
and compare both on demo tickets and on awkward text, estimator by estimator and through the
whole Predictor, to 1e-6 (in practice they agree bit for bit).
"""

import math

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.feature_extraction import DictVectorizer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, Ridge

from ticketml import lexicon
from ticketml.arraymodels import Rows, _counted, hstack
from ticketml.features import PRIORITIES, SENTIMENTS, model_inputs
from ticketml.predictor import Predictor, check_dimensions
from training.export import ExportError, export_model, export_models

TOLERANCE = 1e-6
BASE = {"subject": "Export to CSV fails", "description": "The export fails with a 500 error.",
        "category": "technical", "type": "issue", "impact": 2, "experience": "experienced",
        "seniority": 3}
AWKWARD_TEXTS = [
    "", " ", "\t\n\r", "a", "ab", "a b c d e f",
    "Émojis 🚀🔥 and ünïcödé: naïve café, façade — déjà vu",
    "中文工单：系统无法登录，请尽快处理。日本語のテキストも。한국어 텍스트",
    "Текст на русском: всё сломалось!!! Ελληνικά κείμενα",
    "<p>Hello <b>world</b></p><script>alert('x')</script> &amp; &lt;tag&gt; [link](http://x.y)",
    "1234567890 !!! ??? ... --- +++ ### $$$ %%% 3.14159 1e10 0x1F",
    "    leading   and    trailing   spaces   \u00a0non\u2003breaking\u200bzero-width   ",
    "CAPITALS SHOUTING PRODUCTION DOWN", "MiXeD CaSe WoRdS İstanbul ǅ ß straße",
    "tab\tseparated\tvalues\nnew\nlines\r\nwindows\x0bvertical\x0cfeed\x1cfile-sep",
    "\U0001F600\U0001F601 \U0001F468\u200D\U0001F469\u200D\U0001F467 flags \U0001F1E9\U0001F1EA",
    "combining: e\u0301 a\u0308 o\u0303; ligature ﬁ ﬂ; fullwidth ＡＢＣ１２３",
    "login fails " * 600,
    "x" * 5000,
    " ".join(f"w{i}" for i in range(3000)),
    "Production is down, all users blocked! Urgent!!!",
    "Thanks a lot for your help, really appreciate it :)",
]
AWKWARD_TICKETS = [
    *[{**BASE, "description": text} for text in AWKWARD_TEXTS],
    {**BASE, "subject": "", "description": ""},
    {},
    {"description": "Only a description"},
    {**BASE, "category": "space-travel", "type": "complaint", "experience": "guru"},
    {**BASE, "impact": "3", "seniority": "ten years"},
    {**BASE, "impact": None, "seniority": None, "experience": None, "category": None},
    {**BASE, "impact": -7, "seniority": 1e9},
    {**BASE, "impact": 2.5, "seniority": 0},
    {**BASE, "subject": 42, "description": ["not", "text"]},
    {**BASE, "attributes": {"location": "Berlin", "count": 12, "nan": float("nan")}},
]


@pytest.fixture(scope="module")
def fitted(gbm_heads):
    """Heads fitted with scikit-learn (trees forced on, so all five kinds are exercised),
    their exported models, and tickets to compare on."""
    examples, _, _, estimators, predictor_params = gbm_heads
    tickets = [e.ticket for e in examples[1750:]] + AWKWARD_TICKETS
    return estimators, export_models(estimators), predictor_params, tickets


def _assert_close(expected, actual):
    expected, actual = np.asarray(expected), np.asarray(actual)
    assert expected.shape == actual.shape
    missing = np.isnan(expected)
    assert np.array_equal(missing, np.isnan(actual))
    assert np.all(np.abs(expected[~missing] - actual[~missing]) < TOLERANCE)


def _assert_same_rows(expected, actual: Rows):
    expected = sp.csr_matrix(expected)
    assert expected.shape == actual.shape
    assert np.array_equal(expected.indptr, actual.indptr)
    assert np.array_equal(expected.indices, actual.indices)
    assert expected.dtype == actual.data.dtype
    _assert_close(expected.data, actual.data)


def test_every_estimator_is_exported_to_a_plain_array_model(fitted):
    estimators, models, params, _ = fitted
    assert set(models) == set(estimators)
    kinds = {name: getattr(model, "kind", None) for name, model in models.items()}
    assert kinds == {"word": "tfidf", "char": "tfidf", "fields": "dict", "priority": "logistic",
                     "sentiment": "logistic", "resolution_mu": "linear",
                     "resolution_sigma": "linear", "resolution_p50": "trees",
                     "resolution_p90": "trees"}
    check_dimensions(models, params)


def test_featurisers_match_scikit_learn(fitted):
    estimators, models, _, tickets = fitted
    texts, fields = model_inputs(tickets)
    for name, inputs in (("word", texts), ("char", texts), ("fields", fields)):
        _assert_same_rows(estimators[name].transform(inputs), models[name].transform(inputs))


def test_heads_match_scikit_learn(fitted):
    estimators, models, _, tickets = fitted
    texts, fields = model_inputs(tickets)
    x_text = sp.hstack([estimators["word"].transform(texts), estimators["char"].transform(texts)],
                       format="csr")
    x_all = sp.hstack([x_text, estimators["fields"].transform(fields)], format="csr")
    ours_text = hstack([models["word"].transform(texts), models["char"].transform(texts)])
    ours_all = hstack([ours_text, models["fields"].transform(fields)])
    _assert_same_rows(x_all, ours_all)
    _assert_close(estimators["priority"].decision_function(x_all),
                  models["priority"].decision_function(ours_all))
    _assert_close(estimators["priority"].predict_proba(x_all),
                  models["priority"].predict_proba(ours_all))
    scores = lexicon.features(texts)
    x_sentiment = sp.hstack([x_text, scores], format="csr")
    ours_sentiment = hstack([ours_text, Rows.from_dense(scores)])
    _assert_close(estimators["sentiment"].predict_proba(x_sentiment),
                  models["sentiment"].predict_proba(ours_sentiment))
    for name in ("resolution_mu", "resolution_sigma"):
        _assert_close(estimators[name].predict(x_all), models[name].predict(ours_all))


def test_trees_match_scikit_learn_including_missing_values(fitted):
    estimators, models, params, tickets = fitted
    _, fields = model_inputs(tickets)
    probe = Predictor(models, params, "")
    rng = np.random.default_rng(0)
    mu, sigma = rng.normal(2.0, 1.0, len(fields)), rng.uniform(0.05, 2.0, len(fields))
    dense = probe.gbm_inputs(fields, mu, sigma)
    assert np.isnan(dense).any()  # Unseen and missing categories.
    extremes = dense[:8].copy()
    extremes[0, :] = np.nan
    extremes[1, :] = 1e300
    extremes[2, :] = -1e300
    extremes[3, -2:] = [np.inf, -np.inf]
    dense = np.vstack([dense, extremes])
    for name in ("resolution_p50", "resolution_p90"):
        _assert_close(estimators[name].predict(dense), models[name].predict(dense))


def _reference(estimators, params, tickets):
    """What the Predictor computed when it ran the scikit-learn estimators themselves."""
    texts, fields = model_inputs(tickets, params["description_chars"])  # the opening the bundle reads
    x_text = sp.hstack([estimators["word"].transform(texts), estimators["char"].transform(texts)],
                       format="csr")
    x_all = sp.hstack([x_text, estimators["fields"].transform(fields)], format="csr")
    logits = estimators["priority"].decision_function(x_all) / params["priority"]["temperature"]
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    priority = np.zeros((len(tickets), len(PRIORITIES)))
    for j, label in enumerate(params["priority"]["classes"]):
        priority[:, PRIORITIES.index(label)] = probs[:, j]
    x_sentiment = sp.hstack([x_text, lexicon.features(texts)], format="csr")
    sentiment = np.zeros((len(tickets), len(SENTIMENTS)))
    for j, label in enumerate(params["sentiment"]["classes"]):
        sentiment[:, SENTIMENTS.index(label)] = estimators["sentiment"].predict_proba(
            x_sentiment)[:, j]
    resolution = params["resolution"]
    mu = estimators["resolution_mu"].predict(x_all)
    sigma = np.maximum(estimators["resolution_sigma"].predict(x_all), resolution["sigma_floor"])
    dense = Predictor(export_models(estimators), params, "").gbm_inputs(fields, mu, sigma)
    low, high = math.log1p(resolution["min_hours"]), math.log1p(resolution["max_hours"])
    centre = np.clip(estimators["resolution_p50"].predict(dense) + resolution["centre_offset"],
                     low, high)
    upper = np.clip(estimators["resolution_p90"].predict(dense) + resolution["p90_offset"],
                    centre, high)
    return priority, sentiment, centre, upper


def test_the_predictor_matches_the_scikit_learn_reference_on_every_output(fitted):
    estimators, models, params, tickets = fitted
    predictor = Predictor(models, params, "parity")
    priority, sentiment, centre, upper = _reference(estimators, params, tickets)
    _assert_close(priority, predictor.priority_probabilities(tickets))
    ours_centre, ours_upper = predictor.resolution_log_hours(tickets)
    _assert_close(centre, ours_centre)
    _assert_close(upper, ours_upper)
    no_veto = Predictor(models, {**params, "sentiment": {**params["sentiment"],
                                                         "lexicon_veto": 0.0}}, "parity")
    results = [r["sentiment"] for r in no_veto.predict_many(tickets)]
    assert [r["label"] for r in results] == [SENTIMENTS[int(np.argmax(p))] for p in sentiment]
    scores = sentiment[:, SENTIMENTS.index("positive")] - sentiment[:, SENTIMENTS.index("negative")]
    # Scores are rounded to 4 decimals: equal, or one rounding step apart at a boundary.
    assert all(abs(r["score"] - s) <= 0.5e-4 + TOLERANCE for r, s in zip(results, scores))
    one_by_one = [predictor.predict(t) for t in tickets[:40]]
    assert predictor.predict_many(tickets[:40]) == one_by_one


CORPUS = [
    "Login fails for every user since this morning", "Export to CSV fails with error 500",
    "Billing page shows the wrong amount", "Thanks a lot, the fix works great",
    "The app is slow and crashes on startup", "Password reset mail never arrives",
    "Café naïve résumé façade déjà", "中文 工单 无法 登录", "login login login fails fails",
    "a b c d e", "Production is DOWN!!!", "tab\tseparated\nlines", "12 34 56 7.5 8,9",
]


@pytest.mark.parametrize("settings", [
    {"ngram_range": (1, 2), "sublinear_tf": True, "dtype": np.float32},
    {"analyzer": "char_wb", "ngram_range": (2, 5), "sublinear_tf": True, "dtype": np.float32},
    {"analyzer": "char_wb", "ngram_range": (1, 3)},
    {"analyzer": "char", "ngram_range": (1, 4), "lowercase": False},
    {"ngram_range": (1, 3), "binary": True, "use_idf": False},
    {"ngram_range": (2, 3), "norm": None, "smooth_idf": False},
    {"ngram_range": (1, 1), "lowercase": False, "dtype": np.float32},
    {"analyzer": "char_wb", "ngram_range": (3, 3), "min_df": 2},
], ids=lambda s: ",".join(f"{k}={v}" for k, v in s.items()))
def test_text_vectorizer_settings_match_scikit_learn(settings):
    vec = TfidfVectorizer(**settings).fit(CORPUS)
    model = export_model("text", vec)
    for text in AWKWARD_TEXTS + CORPUS:
        assert model.analyze(text) == vec.build_analyzer()(text)
    texts = AWKWARD_TEXTS + CORPUS
    _assert_same_rows(vec.transform(texts), model.transform(texts))
    for text in texts + [" ".join(texts)]:  # One text at a time, as serving asks, takes a path of its own.
        _assert_same_rows(vec.transform([text]), model.transform([text]))


@pytest.mark.parametrize("n, width", [(0, 10), (5, 1000), (100, 1000), (5000, 1000), (40, 40)])
def test_a_texts_columns_are_counted_as_sorting_counts_them(n, width):
    # Few columns against the width are sorted, many are counted into a vocabulary-wide array: the same answer.
    columns = np.random.default_rng(n).integers(0, width, n).astype(np.int64)
    expected_indices, expected_counts = np.unique(columns, return_counts=True)
    indices, counts = _counted(columns, width)
    assert indices.dtype == expected_indices.dtype and counts.dtype == expected_counts.dtype
    assert np.array_equal(indices, expected_indices) and np.array_equal(counts, expected_counts)


def test_dict_vectorizer_matches_scikit_learn_on_numbers_strings_and_unknowns():
    vec = DictVectorizer(dtype=np.float32).fit([{"a": 1.5, "b": "x"}, {"b": "y", "c": 2}])
    rows = [{"a": 0.1, "b": "x", "zz": 4.0}, {}, {"c": True, "b": "unseen"}, {"a": 1e30}]
    _assert_same_rows(vec.transform(rows), export_model("fields", vec).transform(rows))


def test_binary_and_multiclass_logistic_regression_match_scikit_learn():
    rng = np.random.default_rng(1)
    x = sp.random(300, 40, density=0.2, random_state=1, format="csr", dtype=np.float64)
    for labels in (["no", "yes"], ["a", "b", "c", "d"]):
        y = rng.choice(labels, 300)
        for dtype in (np.float64, np.float32):
            model = LogisticRegression(C=3.0).fit(x.astype(dtype), y)
            ours = export_model("lr", model)
            test = x.astype(dtype)
            _assert_close(model.decision_function(test), ours.decision_function(test))
            _assert_close(model.predict_proba(test), ours.predict_proba(test))
    no_intercept = LogisticRegression(fit_intercept=False).fit(x, rng.choice(["a", "b", "c"], 300))
    _assert_close(no_intercept.predict_proba(x), export_model("lr", no_intercept).predict_proba(x))


def test_ridge_matches_scikit_learn_with_and_without_intercept():
    rng = np.random.default_rng(2)
    x = sp.random(200, 30, density=0.3, random_state=2, format="csr", dtype=np.float32)
    y = rng.normal(size=200)
    for fit_intercept in (True, False):
        model = Ridge(alpha=0.5, fit_intercept=fit_intercept).fit(x, y)
        _assert_close(model.predict(x), export_model("ridge", model).predict(x))


@pytest.mark.parametrize("loss", ["squared_error", "absolute_error", "quantile"])
def test_gradient_boosting_matches_scikit_learn_with_missing_values(loss):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(600, 5))
    y = x[:, 0] * 2 + np.where(np.isnan(x[:, 1]), 3.0, 0.0) + rng.normal(size=600)
    x[rng.random((600, 5)) < 0.2] = np.nan
    model = HistGradientBoostingRegressor(loss=loss, quantile=0.9 if loss == "quantile" else None,
                                          max_iter=40, random_state=0).fit(x, y)
    ours = export_model("trees", model)
    test = np.vstack([x, rng.normal(size=(50, 5)) * 10, np.full((1, 5), np.nan)])
    _assert_close(model.predict(test), ours.predict(test))


@pytest.mark.parametrize("estimator, setting", [
    (TfidfVectorizer(strip_accents="unicode").fit(CORPUS), "strip_accents"),
    (TfidfVectorizer(stop_words="english").fit(CORPUS), "stop words"),
    (TfidfVectorizer(token_pattern=r"\w+").fit(CORPUS), "token_pattern"),
    (TfidfVectorizer(tokenizer=str.split, token_pattern=None).fit(CORPUS), "tokenizer"),
    (TfidfVectorizer(norm="l1").fit(CORPUS), "norm"),
    (HistGradientBoostingRegressor(loss="poisson", max_iter=5).fit(
        np.arange(40.0).reshape(-1, 1), np.arange(40.0) + 1), "poisson"),
    (HistGradientBoostingRegressor(categorical_features=[0], max_iter=5).fit(
        np.arange(40.0).reshape(-1, 1) % 4, np.arange(40.0)), "categorical"),
    (Ridge().fit(np.eye(4), np.eye(4)), "several targets"),
    (TfidfVectorizer(), "fitted"),
    (LogisticRegression(), "fitted"),
    (object(), "Supported"),
])
def test_export_refuses_what_the_array_models_would_compute_differently(estimator, setting):
    with pytest.raises(ExportError, match=setting):
        export_model("head", estimator)


def test_head_scores_are_each_heads_own_scores_from_one_featurisation(fitted):
    _, models, params, tickets = fitted
    predictor = Predictor(models, params, "parity")
    together = predictor.head_scores(tickets)
    np.testing.assert_array_equal(together["priority"], predictor.priority_probabilities(tickets))
    np.testing.assert_array_equal(together["sentiment"], predictor.sentiment_probabilities(tickets))
    for ours, alone in zip(together["resolution"], predictor.resolution_log_hours(tickets)):
        np.testing.assert_array_equal(ours, alone)
    served = predictor.predict_many(tickets, explain=False)
    assert together["resolution_hours"][0].tolist() == [o["resolution_hours"]["p50"] for o in served]
    assert together["resolution_hours"][1].tolist() == [o["resolution_hours"]["p90"] for o in served]
    assert set(predictor.head_scores(tickets[:3], ["sentiment"])) == {"sentiment"}
