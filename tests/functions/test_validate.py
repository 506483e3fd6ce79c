"""Ticket validation: every rule, with messages a person can act on."""

import pytest

from enrichment.validate import problems

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
