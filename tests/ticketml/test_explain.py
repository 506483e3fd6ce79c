"""Explanations name the ticket's own words and fields, and follow the models' arithmetic."""

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ticketml.arraymodels import TreeEnsemble
from ticketml.explain import MAX_ITEMS, _PLACEHOLDERS, _Paths, _tokens_outside_placeholders

TICKETS = [
    {"subject": "Refund for a double charge",
     "description": "We were charged twice this month for our subscription. Please refund the "
                    "duplicate payment, this is unacceptable!",
     "category": "billing", "type": "request", "impact": 3, "experience": "experienced",
     "seniority": 4},
    {"subject": "Production outage", "description": "All servers are down, customers cannot "
     "reach the dashboard. Urgent!!! Contact me at ada@example.com or +44 20 7946 0958.",
     "category": "technical", "type": "issue", "impact": 4},
    {"subject": "Thanks", "description": "Great job on the last release, the new reports are "
     "lovely and much faster.", "category": "performance", "impact": 0, "seniority": 12},
]


def _words_of(ticket) -> set[str]:
    text = f"{ticket.get('subject', '')} {ticket.get('description', '')}".lower()
    return {re.sub(r"^\W+|\W+$", "", chunk) for chunk in text.split()} | set(
        re.findall(r"\b\w\w+\b", text))


@pytest.mark.parametrize("ticket", TICKETS)
def test_explanations_name_words_that_are_in_the_ticket(shipped_bundle, ticket):
    explanations = shipped_bundle.predict(ticket)["explanations"]
    words = _words_of(ticket)
    for head, items in explanations.items():
        assert 0 < len(items) <= MAX_ITEMS, head
        for item in items:
            if item["kind"] == "word":
                assert item["feature"] in words, (head, item)
                assert item["feature"] not in ("email", "phone"), item  # never a placeholder


def test_classification_explanations_argue_for_the_prediction(shipped_bundle):
    result = shipped_bundle.predict(TICKETS[0])
    for head in ("priority", "sentiment"):
        weights = [i["weight"] for i in result["explanations"][head]]
        assert all(w > 0 for w in weights) and weights == sorted(weights, reverse=True)


def test_fields_are_named_by_the_tickets_values(shipped_bundle):
    features = {i["feature"] for items in shipped_bundle.predict(TICKETS[1])["explanations"].values()
                for i in items if i["kind"] == "field"}
    assert "impact=4" in features
    assert all("=" in f for f in features)
    numeric = {i["feature"] for i in shipped_bundle.predict(TICKETS[0])["explanations"]["resolution"]}
    assert "seniority=4" in numeric


def test_the_angry_words_explain_a_negative_sentiment(shipped_bundle):
    result = shipped_bundle.predict(TICKETS[0])
    assert result["sentiment"]["label"] == "negative"
    assert "unacceptable" in [i["feature"] for i in result["explanations"]["sentiment"]]


def test_a_ticket_without_text_is_explained_by_its_fields(shipped_bundle):
    result = shipped_bundle.predict({"subject": "", "description": "", "impact": 4})
    assert all(i["kind"] == "field" for items in result["explanations"].values() for i in items)


def test_tree_contributions_add_up_to_the_prediction():
    # Tree 1 splits column 0 at 0.5 (leaves 1, 3); tree 2 splits column 1 at 2 (leaves -1, 1),
    # missing values to the left.
    trees = TreeEnsemble(
        n_features=2, tree_starts=np.array([0, 3]),
        is_leaf=np.array([0, 1, 1, 0, 1, 1], dtype=bool),
        feature=np.array([0, 0, 0, 1, 0, 0]), threshold=np.array([0.5, 0, 0, 2.0, 0, 0]),
        missing_left=np.array([0, 0, 0, 1, 0, 0], dtype=bool),
        left=np.array([1, 0, 0, 4, 0, 0]), right=np.array([2, 0, 0, 5, 0, 0]),
        value=np.array([0, 1.0, 3.0, 0, -1.0, 1.0]), baseline=np.array([0.5]))
    paths = _Paths(trees)
    for row in ([0.0, 5.0], [1.0, 1.0], [1.0, np.nan]):
        row = np.array(row)
        contributions = paths.contributions(row)
        # Each tree's mean leaf value (2 and 0) plus the baseline is where every row starts.
        assert 0.5 + 2.0 + 0.0 + contributions.sum() == pytest.approx(trees.predict(row[None])[0])
    assert paths.contributions(np.array([1.0, 5.0])).tolist() == [1.0, 1.0]
    assert paths.contributions(np.array([0.0, 1.0])).tolist() == [-1.0, -1.0]


@pytest.mark.parametrize("ticket", TICKETS)
def test_stored_explanations_are_one_json_text_per_head_and_read_back(shipped_bundle, ticket):
    from ticketml import explain

    explanations = shipped_bundle.predict(ticket)["explanations"]
    stored = explain.stored(explanations)
    assert set(stored) == set(explanations) and all(isinstance(v, str) for v in stored.values())
    assert explain.loaded(stored) == explanations
    # The list of objects written before the stored form, and what nobody should have written, read safely.
    assert explain.loaded(explanations) == explanations
    assert explain.loaded({"priority": "not json", "sentiment": "[1, [\"a\"], [\"w\", \"word\", 0.5]]",
                           "resolution": 7}) == {"sentiment": [{"feature": "w", "kind": "word", "weight": 0.5}]}
    assert explain.loaded(None) == {} and explain.loaded("[]") == {}


def test_vaders_share_goes_to_words_it_read():
    from ticketml import lexicon
    from ticketml.explain import _Words

    filler = " ".join(["server"] * lexicon.MAX_WORDS)
    words = _Words(f"Great support, thanks! {filler} terrible awful")
    assert "great" in words.scored() and "terrible" not in words.scored()  # past the opening VADER reads
    shares = words.by_valence(-1.0)
    assert {w for w, _ in shares} >= {"great"} and not {"terrible", "awful"} & {w for w, _ in shares}
    short = _Words("Great support, but the app is terrible")
    assert {"great", "terrible"} <= set(short.scored())


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=st.sampled_from(list("ab cd,.!\0é\n-")), max_size=80),
       gram=st.text(alphabet=st.sampled_from(list("ab cd,.\0é")), min_size=1, max_size=5))
def test_the_words_of_a_character_ngram_are_those_a_scan_finds(text, gram):
    from ticketml.explain import _Words

    words = _Words(text)
    scanned = sorted({w for c, w in words._padded if gram in c})
    assert words.containing(gram, "char_wb") == scanned
    for c, _ in words._padded[:3]:  # grams that are there, from each piece's edges
        for piece in (c[:3], c[-3:], c[1:4]):
            assert _Words(text).containing(piece, "char_wb") == sorted({w for p, w in words._padded if piece in p})


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=6),
                          st.sampled_from(["_", "word", "__x__", "(a)", "é", "٣", "—", "x.", "'"])), max_size=8).map(" ".join))
def test_each_piece_is_stripped_of_its_edge_punctuation_as_the_pattern_strips_it(text):
    from ticketml.explain import _PLACEHOLDERS, _Words
    lowered = _PLACEHOLDERS.sub(" ", text).lower()  # (placeholders are not the ticket's words)
    expected = {}
    for chunk in dict.fromkeys(lowered.split()):
        word = re.sub(r"^\W+|\W+$", "", chunk)
        if word:
            expected[chunk] = word
    assert _Words(text).chunks == expected


_TOKEN_PIECES = st.sampled_from([
    "[EMAIL]", "[PHONE]", "[CARD]", "[IBAN]", "[SSN]", "[SECRET]", "email", "Email", "[email]", "phone", "x", "ab",
    "Café", "İstanbul", "ǅ", "_", "9", " ", "-", "[", "]", "\n", "SECRET", "[SECRET]x", "card-card",
])


@settings(max_examples=2000, deadline=None)
@given(st.lists(_TOKEN_PIECES, max_size=15).map("".join))
def test_the_words_tokens_leave_placeholders_out_as_tokenizing_without_them_does(text):
    # The explanations take a ticket's tokens from the word vectorizer's (of the whole text), then leave the
    # placeholders' names out: as if the text had been tokenized with its placeholders taken out.
    expected = set(re.findall(r"(?u)\b\w\w+\b", _PLACEHOLDERS.sub(" ", text).lower()))
    assert _tokens_outside_placeholders(text) == expected
