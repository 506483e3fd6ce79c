"""Ticket validation: the fields the form writes, checked with messages a person can act on."""

import re

CATEGORIES = ("technical", "performance", "authentication", "billing")
TYPES = ("request", "issue")
EXPERIENCES = ("beginner", "experienced", "advanced", "trainer")
MAX_SUBJECT = 200
MAX_DESCRIPTION = 5000
MAX_NAME = 100
MAX_SENIORITY = 100
MAX_EMAIL = 254
# The rules' /^[^@\s]+@[^@\s]+\.[^@\s]+$/ as JavaScript reads it: its \s is this set (Python's differs,
# e.g. for U+001C-U+001F and U+0085), and its $ is the very end (Python's also matches before a final "\n").
_JS_SPACE = "\t\n\v\f\r \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_EMAIL = re.compile(f"[^@{_JS_SPACE}]+@[^@{_JS_SPACE}]+\\.[^@{_JS_SPACE}]+")


def length(text: str) -> int:
    """The length the rules (and JavaScript) give a string: UTF-16 code units, so an emoji counts 2."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def problems(ticket) -> list[str]:
    """Everything wrong with a ticket, one sentence each; empty when it is valid."""
    if not isinstance(ticket, dict):
        return [f"The ticket must be an object with fields; found {type(ticket).__name__}."]
    out = []
    out += _text(ticket, "subject", MAX_SUBJECT)
    out += _text(ticket, "description", MAX_DESCRIPTION)
    out += _choice(ticket, "category", CATEGORIES)
    out += _choice(ticket, "type", TYPES)
    out += _choice(ticket, "experience", EXPERIENCES)
    impact = ticket.get("impact")
    if isinstance(impact, bool) or not isinstance(impact, int) or not 0 <= impact <= 4:
        out.append(f"Impact is {_show(impact)}; it must be a whole number from 0 (none) to 4 (critical).")
    seniority = ticket.get("seniority")
    if isinstance(seniority, bool) or not isinstance(seniority, (int, float)) or not 0 <= seniority <= MAX_SENIORITY:
        out.append(f"Seniority is {_show(seniority)}; it must be the number of years as a customer, 0 to {MAX_SENIORITY}.")
    contact = ticket.get("contact")
    if not isinstance(contact, dict):
        out.append(f"Contact is {_show(contact)}; it must be an object with a name and an e-mail address.")
    else:
        name, email = contact.get("name"), contact.get("email")
        if not isinstance(name, str) or not name.strip() or length(name) > MAX_NAME:
            out.append(f"Contact name is {_show(name)}; give a name of 1 to {MAX_NAME} characters.")
        if not isinstance(email, str) or not _EMAIL.fullmatch(email):
            out.append(f"Contact e-mail is {_show(email)}; give an address like name@example.com.")
        elif length(email) > MAX_EMAIL:
            out.append(f"Contact e-mail is {length(email):,} characters long; the limit is {MAX_EMAIL}.")
    return out


def _text(ticket, field, limit):
    value = ticket.get(field)
    label = field.capitalize()
    if not isinstance(value, str):
        return [f"{label} is {_show(value)}; it must be text of 1 to {limit:,} characters."]
    if not value.strip():
        return [f"{label} is empty; describe the problem in 1 to {limit:,} characters."]
    if length(value) > limit:
        return [f"{label} is {length(value):,} characters long; the limit is {limit:,}. Shorten it, or attach details in the helpdesk."]
    return []


def _choice(ticket, field, allowed):
    value = ticket.get(field)
    if value not in allowed:
        return [f"{field.capitalize()} is {_show(value)}; it must be one of {', '.join(allowed)}."]
    return []


def _show(value) -> str:
    if value is None:
        return "missing"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
