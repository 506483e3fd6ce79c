"""Ticket validation: every rule, with messages a person can act on."""

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.rules.regex import translate_regex
from enrichment.validate import problems
from stack.procs import ROOT

# The e-mail regex of database.rules.json (a JSON string there), run by the emulator's JavaScript-faithful
# regex engine.
_LITERAL = re.search(r'"email": \{\s*".validate": "[^"]*matches\(/(.*)/\)"', (ROOT / "database.rules.json").read_text())
RULES_EMAIL = translate_regex(json.loads(f'"{_LITERAL.group(1)}"'), "")

VALID = {"subject": "Login fails", "description": "It fails.", "contact": {"name": "Ada", "email": "ada@example.com"},
         "category": "billing", "type": "request", "impact": 0, "experience": "trainer", "seniority": 0}


def test_a_valid_ticket_has_no_problems():
    assert problems(VALID) == []
    assert problems({**VALID, "impact": 4, "seniority": 12.5}) == []


@pytest.mark.parametrize("change,message", [
    ({"subject": ""}, "Subject is empty; describe the problem in 1 to 200 characters."),
    ({"subject": "x" * 201}, "Subject is 201 characters long; the limit is 200."),
    ({"description": None}, "Description is missing; it must be text of 1 to 5,000 characters."),
    ({"description": "   "}, "Description is empty"),
    ({"description": 5}, "Description is 5; it must be text"),
    ({"category": "sales"}, "Category is 'sales'; it must be one of technical, performance, authentication, billing."),
    ({"type": None}, "Type is missing; it must be one of request, issue."),
    ({"experience": "guru"}, "Experience is 'guru'"),
    ({"impact": 9}, "Impact is 9; it must be a whole number from 0 (none) to 4 (critical)."),
    ({"impact": 2.5}, "Impact is 2.5"),
    ({"impact": True}, "Impact is True"),
    ({"seniority": -1}, "Seniority is -1"),
    ({"seniority": "10"}, "Seniority is '10'"),
    ({"contact": "ada"}, "Contact is 'ada'; it must be an object with a name and an e-mail address."),
    ({"contact": {"name": "", "email": "ada@example.com"}}, "Contact name is ''"),
    ({"contact": {"name": "Ada", "email": "ada"}}, "Contact e-mail is 'ada'; give an address like name@example.com."),
    # As the rules count and match (JavaScript): UTF-16 units, its \s, and $ at the very end.
    ({"subject": "\U0001F600" * 101}, "Subject is 202 characters long; the limit is 200."),
    ({"contact": {"name": "\U0001F600" * 51, "email": "ada@example.com"}}, "Contact name is"),
    ({"contact": {"name": "Ada", "email": "a" * 243 + "@example.com"}},
     "Contact e-mail is 255 characters long; the limit is 254."),
    ({"contact": {"name": "Ada", "email": "ada@example.com\n"}}, "Contact e-mail is 'ada@example.com\\n'"),
    ({"contact": {"name": "Ada", "email": "ada\u3000@example.com"}}, "Contact e-mail is"),
])
def test_each_rule_names_the_value_and_the_fix(change, message):
    found = problems({**VALID, **change})
    assert len(found) == 1 and found[0].startswith(message), found


def test_all_problems_are_reported_at_once():
    assert len(problems({"subject": 1})) == 8
    assert problems("not a ticket") == ["The ticket must be an object with fields; found str."]


def test_long_values_are_shortened_in_messages():
    (message,) = problems({**VALID, "category": "y" * 500})
    assert len(message) < 130 and "y" * 50 not in message


def test_an_address_at_the_limit_and_characters_javascript_does_not_count_as_space_are_valid():
    assert problems({**VALID, "contact": {"name": "Ada", "email": "a" * 242 + "@example.com"}}) == []
    assert problems({**VALID, "contact": {"name": "Ada", "email": "a\x1cb\x85@example.com"}}) == []
    assert problems({**VALID, "subject": "\U0001F600" * 100}) == []


_PIECES = st.text(alphabet=st.sampled_from("ab.@ \t\n\r\x0b\x0c\x1c\x1f\x85\xa0\u2028\u3000\ufeff"), max_size=3)


@settings(max_examples=500, deadline=None)
@given(st.tuples(_PIECES, _PIECES, _PIECES, _PIECES).map(lambda p: f"{p[0]}@{p[1]}.{p[2]}{p[3]}"))
def test_the_e_mail_check_agrees_with_the_rules_regex(address):
    ticket = {**VALID, "contact": {"name": "Ada", "email": address}}
    assert (problems(ticket) == []) == bool(RULES_EMAIL.search(address))
