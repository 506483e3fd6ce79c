"""input_hash pins exactly the fields the model reads; model_input tolerates any ticket."""

import hashlib
import json
import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from ticketml.features import MISSING, MODEL_INPUT_FIELDS, input_hash, model_input, opening
from ticketml.mask import PLACEHOLDERS

TICKET = {
    "subject": "Cannot log in", "description": "SSO fails since this morning.",
    "contact": {"name": "Anna Schmidt", "email": "anna@example.com"},
    "category": "authentication", "type": "issue", "impact": 3, "experience": "advanced",
    "seniority": 2.5, "created_at": 1732000000000, "status": "new",
}


def test_model_input_fields_are_the_documented_ones():
    assert MODEL_INPUT_FIELDS == (
        "subject", "description", "category", "type", "impact", "experience", "seniority")


def test_input_hash_is_sha256_of_canonical_json_of_the_model_fields():
    canonical = json.dumps({f: TICKET.get(f) for f in MODEL_INPUT_FIELDS}, sort_keys=True,
                           separators=(",", ":"), ensure_ascii=False)
    assert input_hash(TICKET) == hashlib.sha256(canonical.encode()).hexdigest()


def test_input_hash_ignores_other_fields_and_key_order():
    echoed = {**TICKET, "enrichment": {"priority": "P1"}, "helpdesk": {"id": 7}, "status": "open",
              "contact": {"name": "Someone Else"}, "created_at": 1}
    reordered = dict(reversed(list(TICKET.items())))
    assert input_hash(echoed) == input_hash(TICKET) == input_hash(reordered)


def test_input_hash_treats_missing_as_null_and_integral_floats_as_ints():
    without = {k: v for k, v in TICKET.items() if k != "seniority"}
    assert input_hash(without) == input_hash({**TICKET, "seniority": None})
    assert input_hash({**TICKET, "impact": 3.0}) == input_hash(TICKET)


@pytest.mark.parametrize("field, value", [
    ("description", "SSO fails since this morning!"), ("subject", "Cannot log in."),
    ("impact", 4), ("category", "billing"), ("seniority", 2.6), ("experience", None),
])
def test_input_hash_changes_when_a_model_field_changes(field, value):
    assert input_hash({**TICKET, field: value}) != input_hash(TICKET)


def test_input_hash_is_64_hex_chars_even_for_odd_values():
    digest = input_hash({"subject": ["a"], "impact": float("nan"), "seniority": object()})
    assert len(digest) == 64 and int(digest, 16) >= 0


def test_model_input_masks_text_and_one_hots_fields():
    result = model_input({**TICKET, "description": "Mail anna@example.com please"})
    assert result.text == "Cannot log in\nMail [EMAIL] please"
    assert result.fields["category=authentication"] == 1.0
    assert result.fields["impact=3"] == 1.0
    assert result.fields["impact"] == pytest.approx(0.75)
    assert "seniority_log" in result.fields


def test_model_input_normalises_case_and_numeric_strings():
    result = model_input({"category": " Billing ", "impact": "2", "seniority": "1.5"})
    assert result.fields["category=billing"] == 1.0
    assert result.fields["impact=2"] == 1.0
    assert result.fields["seniority_log"] > 0


@pytest.mark.parametrize("ticket", [
    {}, {"impact": "high", "seniority": "ten"}, {"impact": None, "seniority": -3},
    {"impact": True, "category": 7, "type": ["issue"], "subject": 42, "description": {"a": 1}},
    {"impact": float("inf"), "seniority": float("nan")}, None, "not a mapping",
])
def test_model_input_tolerates_missing_and_malformed_fields(ticket):
    result = model_input(ticket)
    assert isinstance(result.text, str)
    assert all(isinstance(v, float) for v in result.fields.values())


def test_model_input_marks_missing_numbers():
    fields = model_input({"impact": "high"}).fields
    assert fields["impact=" + MISSING] == 1.0 and fields["seniority=" + MISSING] == 1.0
    assert "impact" not in fields


def test_model_input_clamps_out_of_range_impact():
    assert model_input({"impact": 99}).fields["impact=4"] == 1.0


def test_an_empty_or_absent_attributes_mapping_leaves_the_hash_unchanged():
    assert input_hash({**TICKET, "attributes": {}}) == input_hash(TICKET)
    assert input_hash({**TICKET, "attributes": None}) == input_hash(TICKET)


def test_attributes_are_covered_by_the_hash_and_read_as_categoricals_or_numbers():
    with_attrs = {**TICKET, "attributes": {"location": "Berlin", "reopened": 2, "code": "17"}}
    assert input_hash(with_attrs) != input_hash(TICKET)
    assert input_hash({**with_attrs, "attributes": {**with_attrs["attributes"], "location": "Rome"}}
                      ) != input_hash(with_attrs)
    fields = model_input(with_attrs).fields
    assert fields["attr.location=berlin"] == 1.0
    assert fields["attr.code=17"] == 1.0
    assert fields["attr.reopened"] == pytest.approx(1.0986, abs=1e-3)


def test_odd_attributes_do_not_raise():
    odd = {**TICKET, "attributes": {"a": None, "b": [1], "c": float("nan"), 5: "x"}}
    fields = model_input(odd).fields
    assert fields["attr.a=(missing)"] == fields["attr.b=(missing)"] == fields["attr.c=(missing)"] == 1.0
    assert model_input({**TICKET, "attributes": "not a mapping"}).fields == model_input(TICKET).fields


def _boundary_cut(text: str, limit: int) -> str:
    """The opening as the rule reads: the longest prefix of at most ``limit`` characters followed by
    whitespace (the first ``limit`` characters when there is none), without its trailing whitespace."""
    if len(text) <= limit:
        return text
    ends = [i for i in range(1, limit + 1) if text[i].isspace()]
    return text[:max(ends) if ends else limit].rstrip()


@given(st.text(alphabet=st.sampled_from("ab[]\n\t \u00a0\u2003"), max_size=40), st.integers(1, 45))
@example("hello world", 8)
@example("hello world", 5)
@example("x" * 30, 10)
@example(" abc", 2)
def test_the_opening_ends_at_a_word_boundary_within_the_limit(text, limit):
    cut = opening(text, limit)
    assert cut == _boundary_cut(text, limit)
    assert text.startswith(cut) and len(cut) <= max(limit, len(text) if len(text) <= limit else 0)
    assert opening(text, None) == text


def test_the_opening_cuts_back_to_the_last_word_that_fits():
    assert opening("Printer jams on every page", 16) == "Printer jams on"
    assert opening("Printer jams on every page", 15) == "Printer jams on"
    assert opening("Printer jams", 5) == "Print"  # no boundary before the limit: cut at it


def test_the_model_reads_the_masked_opening_of_a_long_description():
    # The address straddles the 1,000th character: cut first, "ann.smith@examp" would be read unmasked.
    filler = "word " * 197
    description = filler + "ann.smith@example.com or call +1 415 555 0100 today. " + "tail " * 300
    assert description.index("ann.smith") < 1000 < description.index(" or call")
    text = model_input({**TICKET, "description": description}, 1000).text
    assert "smith" not in text and "exa" not in text
    assert "tail" not in text and "[EMAIL]" in text
    assert all(p in PLACEHOLDERS for p in re.findall(r"\[[A-Z]*\]?", text))  # none cut in two
    assert len(text) <= len(TICKET["subject"]) + 1 + 1000
    assert "tail" in model_input({**TICKET, "description": description}).text  # None: all of it
