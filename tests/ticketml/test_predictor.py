"""The enrichment contract, on ordinary and malformed tickets, and the model's behaviour."""

import copy
import json
import re
import time

import numpy as np
import pytest

from ticketml.bundle import MANIFEST_FILE, load_bundle
from ticketml.errors import BundleError
from ticketml.features import PRIORITIES
from training.publish import publish

from .conftest import clone_version

TICKET = {
    "subject": "Export to CSV fails",
    "description": "Exporting the monthly report to CSV fails with a 500 error since this morning.",
    "contact": {"name": "Anna Schmidt", "email": "anna@example.com"},
    "category": "technical", "type": "issue", "impact": 2, "experience": "experienced",
    "seniority": 3, "created_at": 1732000000000, "status": "new",
}

MALFORMED = [
    {},
    {"subject": "Help"},
    {"description": "Nothing works", "category": "space-travel", "type": "complaint"},
    {**TICKET, "impact": "3"},
    {**TICKET, "impact": "high", "seniority": "ten years"},
    {**TICKET, "impact": None, "seniority": None, "experience": None, "category": None},
    {**TICKET, "impact": -7, "seniority": 1e9},
    {**TICKET, "subject": 42, "description": ["not", "text"]},
    {**TICKET, "description": "word " * 50_000},
    {**TICKET, "subject": "", "description": ""},
    {**TICKET, "description": "Émojis 🚀 and ünïcödé, 中文 текст"},
]


def assert_contract(result, version):
    assert set(result) == {"priority", "priority_scores", "sentiment", "resolution_hours",
                           "language", "confidence", "explanations", "needs_review",
                           "review_reasons", "model_version"}
    assert isinstance(result["language"], str) and result["language"]
    assert set(result["confidence"]) == set(result["explanations"]) == {
        "priority", "sentiment", "resolution"}
    assert set(result["confidence"].values()) <= {"high", "medium", "low"}
    for items in result["explanations"].values():
        assert len(items) <= 5
        assert all(set(i) == {"feature", "kind", "weight"} and i["kind"] in ("word", "field")
                   and isinstance(i["weight"], float) for i in items)
    assert result["needs_review"] == bool(result["review_reasons"])
    assert result["priority"] in PRIORITIES
    scores = result["priority_scores"]
    assert list(scores) == list(PRIORITIES)
    assert all(isinstance(v, float) and 0 <= v <= 1 and round(v, 4) == v for v in scores.values())
    assert sum(scores.values()) == pytest.approx(1.0, abs=1e-9)
    assert scores[result["priority"]] == max(scores.values())
    assert set(result["sentiment"]) == {"label", "score"}
    assert result["sentiment"]["label"] in ("negative", "neutral", "positive")
    assert -1.0 <= result["sentiment"]["score"] <= 1.0
    hours = result["resolution_hours"]
    assert set(hours) == {"p50", "p90"}
    assert isinstance(hours["p50"], float) and isinstance(hours["p90"], float)
    assert hours["p90"] >= hours["p50"] > 0
    assert isinstance(result["needs_review"], bool)
    assert result["model_version"] == version


def test_predict_returns_the_enrichment_contract(shipped_bundle):
    assert_contract(shipped_bundle.predict(TICKET), shipped_bundle.version)


@pytest.mark.parametrize("ticket", MALFORMED)
def test_predict_tolerates_missing_unknown_and_mistyped_fields(shipped_bundle, ticket):
    assert_contract(shipped_bundle.predict(ticket), shipped_bundle.version)


def test_a_ticket_without_text_needs_review(shipped_bundle):
    assert shipped_bundle.predict({**TICKET, "subject": "", "description": "  "})["needs_review"]


def test_predict_is_pure_and_deterministic(shipped_bundle):
    original = copy.deepcopy(TICKET)
    first = shipped_bundle.predict(TICKET)
    assert shipped_bundle.predict(TICKET) == first
    assert TICKET == original


def test_predict_many_matches_predict(shipped_bundle):
    tickets = [TICKET, *MALFORMED[:5]]
    assert shipped_bundle.predict_many(tickets) == [shipped_bundle.predict(t) for t in tickets]


@pytest.mark.parametrize("contact", [
    {"name": "Zoe Nguyen", "email": "zoe@globex.co.uk"}, {"name": "", "email": ""}, None,
    {"name": "Production Down Urgent", "email": "angry.customer@unacceptable.com"},
])
def test_changing_the_contact_changes_no_prediction(shipped_bundle, contact):
    changed = {**TICKET, "contact": contact}
    assert shipped_bundle.predict(changed) == shipped_bundle.predict(TICKET)


@pytest.mark.parametrize("impact", [1, 2, 3])
def test_production_down_raises_p1_probability(shipped_bundle, impact):
    ticket = {**TICKET, "impact": impact}
    urgent = {**ticket, "description": ticket["description"] + " Production is down, all users blocked."}
    before = shipped_bundle.predict(ticket)["priority_scores"]
    after = shipped_bundle.predict(urgent)["priority_scores"]
    assert after["P1"] > before["P1"] + 0.05
    # The expected priority (1 = P1 ... 4 = P4) moves at least one class towards P1.
    expected = lambda scores: sum((i + 1) * scores[p] for i, p in enumerate(PRIORITIES))  # noqa: E731
    assert expected(after) < expected(before) - 1.0


def test_an_angry_message_scores_lower_than_a_grateful_one(shipped_bundle):
    angry = {**TICKET, "description": TICKET["description"]
             + " This is unacceptable, I am extremely frustrated with your service."}
    grateful = {**TICKET, "description": TICKET["description"]
                + " Thanks a lot for your help, really appreciate it!"}
    angry_result = shipped_bundle.predict(angry)["sentiment"]
    grateful_result = shipped_bundle.predict(grateful)["sentiment"]
    assert angry_result["score"] < 0 < grateful_result["score"]
    assert angry_result["label"] == "negative" and grateful_result["label"] == "positive"


def test_personal_data_in_the_text_does_not_change_predictions(shipped_bundle):
    a = {**TICKET, "description": TICKET["description"] + " Reach me at anna@example.com or +49 30 1234567."}
    b = {**TICKET, "description": TICKET["description"] + " Reach me at zoe@globex.io or +1 (555) 987-6543."}
    assert shipped_bundle.predict(a) == shipped_bundle.predict(b)


def test_one_ticket_is_predicted_well_under_5_ms(shipped_bundle):
    tickets = [{**TICKET, "description": f"{TICKET['description']} Attempt {i}."} for i in range(200)]
    shipped_bundle.predict(TICKET)
    durations = []
    for ticket in tickets:
        start = time.perf_counter()
        shipped_bundle.predict(ticket)
        durations.append(time.perf_counter() - start)
    assert np.median(durations) < 0.005


@pytest.mark.parametrize("complaint", [
    "Checkout times out for all our customers… losing sales every minute!",
    "Your app crashed again and we lost a whole day of work. Terrible.",
])
def test_a_complaint_in_words_the_demo_data_never_used_is_not_positive(shipped_bundle, complaint):
    grateful = {**TICKET, "description": "Thanks a lot for your help, really appreciate it!"}
    result = shipped_bundle.predict({**TICKET, "description": complaint})["sentiment"]
    assert result["label"] != "positive"
    assert result["score"] < shipped_bundle.predict(grateful)["sentiment"]["score"]


# Plainly worded tickets, none of them phrased like the demo data: a clear complaint is never
# read as positive, and clear thanks never as negative.
@pytest.mark.parametrize("subject, description, never", [
    ("Checkout is slow", "Since the release at 9:00 every checkout takes 40 seconds and then fails. "
     "We are losing sales every minute!", "positive"),
    ("Refund", "I was charged twice and nobody answers my emails. This is really frustrating.", "positive"),
    ("Still broken", "Third time asking. Nothing works and we are losing customers.", "positive"),
    ("Production is down", "Production is down, all users blocked.", "positive"),
    ("Login fails", "Users cannot log in since this morning. Error 500.", "positive"),
    ("Great support", "Your team solved it in minutes, thank you so much!", "negative"),
    ("Love it", "We love the new dashboard, one small request: add dark mode.", "negative"),
    ("Thanks", "Thanks a lot, the fix works great.", "negative"),
    ("Invoice question", "Could you resend last month's invoice? Thanks!", "negative"),
])
def test_plainly_worded_tickets_get_the_obvious_polarity(shipped_bundle, subject, description, never):
    ticket = {**TICKET, "subject": subject, "description": description}
    assert shipped_bundle.predict(ticket)["sentiment"]["label"] != never


def test_p99_of_one_ticket_through_all_three_heads_is_a_few_ms(shipped_bundle):
    shipped_bundle.predict(TICKET)
    durations = []
    for i in range(300):
        start = time.perf_counter()
        shipped_bundle.predict({**TICKET, "description": f"{TICKET['description']} Try {i}."})
        durations.append(time.perf_counter() - start)
    # The 5 ms target is measured by bench.models on a quiet machine; CI shares its CPU.
    assert np.percentile(durations, 99) < 0.02


def _bundle_with_params(model_dir, **changes):
    """The shipped bundle, republished under another name with its params changed (None removes a key)."""
    target = clone_version(model_dir, "params-changed")
    manifest = json.loads((target / MANIFEST_FILE).read_text())
    for key, value in changes.items():
        manifest["params"].pop(key, None)
        if value is not None:
            manifest["params"][key] = value
    (target / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2))
    publish(model_dir, "params-changed")
    return load_bundle(model_dir)


OPENING = "Exporting the monthly report to CSV fails with a 500 error since this morning."


@pytest.mark.parametrize("ending", [" The whole team is blocked, this is unacceptable!!!",
                                    " Thanks a lot, great work as always, no hurry :)"])
def test_a_bundle_reads_only_the_opening_of_the_description_it_names(model_dir, ending):
    reads_opening = _bundle_with_params(model_dir, description_chars=len(OPENING) + 1)
    assert reads_opening.predictor.description_chars == len(OPENING) + 1
    assert reads_opening.predict({**TICKET, "description": OPENING + ending}) == \
        reads_opening.predict({**TICKET, "description": OPENING})


def test_a_bundle_without_the_setting_reads_the_whole_description(model_dir):
    reads_all = _bundle_with_params(model_dir, description_chars=None)
    assert reads_all.predictor.description_chars is None
    calm = reads_all.predict({**TICKET, "description": OPENING + " Thanks a lot, great work as always :)"})
    angry = reads_all.predict({**TICKET, "description": OPENING + " Unacceptable, we are losing money!!!"})
    assert calm["sentiment"] != angry["sentiment"]


@pytest.mark.parametrize("value", [0, -5, 2.5, "1000", True, [1000]])
def test_a_bundle_with_an_invalid_description_length_is_refused_naming_it(model_dir, value):
    with pytest.raises(BundleError, match="description_chars " + re.escape(repr(value))):
        _bundle_with_params(model_dir, description_chars=value)
