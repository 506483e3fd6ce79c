"""The rules coverage report over HTTP (/.inspect/coverage and /.inspect/coverage.json), as Firebase's emulator
serves it."""

import json
import re
import uuid

import pytest

from tests.support.procs import user_token

ADMIN = {"Authorization": "Bearer owner"}
U1, U2 = user_token("u1"), user_token("u2")
RULES = """{
  "rules": {
    "tickets": {
      "$ticketId": {
        // Only the owner reads; anyone signed in creates, the owner updates.
        ".read": "auth != null && data.child('owner').val() === auth.uid",
        ".write": "auth != null && (!data.exists() || data.child('owner').val() === auth.uid)",
        ".validate": "newData.child('title').val().length > 0",
        "owner": {".validate": "newData.val() === auth.uid"}
      }
    },
    "admin": {".read": "auth.token.admin === true"}
  }
}
"""


@pytest.fixture
def ns(emulator, http):
    """A fresh namespace with RULES."""
    name = f"cov-{uuid.uuid4().hex[:10]}"
    http.put(f"{emulator.url}/.settings/rules.json", params={"ns": name}, data=RULES, headers=ADMIN).raise_for_status()
    return name


def report(emulator, http, ns) -> dict:
    response = http.get(f"{emulator.url}/.inspect/coverage.json", params={"ns": ns})
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("application/json")
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    return response.json()


def expressions(data: dict) -> dict:
    """{(rule path, text): expression} for every rule and condition in a JSON report."""
    found = {}

    def visit(node, path):
        found[path, node["text"]] = node
        for child in node["children"]:
            visit(child, path)

    for rule in data["report"]:
        visit(rule, rule["path"])
    return found


def results(node) -> tuple[int, int, int, int]:
    return node["evaluations"], node["results"]["true"], node["results"]["false"], node["results"]["error"]


def firebase_location(text: str, within: str) -> tuple[str, str]:
    """Where `text` sits in the rule `within`, as Firebase writes it: 0-based "line:column", the end inclusive."""
    start = RULES.index(within) + within.index(text)

    def at(offset):
        line, line_start = RULES.count("\n", 0, offset), RULES.rfind("\n", 0, offset) + 1
        return f"{line}:{offset - line_start}"

    return at(start), at(start + len(text) - 1)


def exercise(emulator, http, ns):
    """Writes and reads whose rule results are worked out in the test below."""
    url = f"{emulator.url}/tickets/t1.json"
    params = {"ns": ns}
    assert http.put(url, params=params, json={"owner": "u1", "title": "x"}).status_code == 401  # anonymous
    assert http.put(url, params={**params, "auth": U1}, json={"owner": "u1", "title": "x"}).status_code == 200
    assert http.put(url, params={**params, "auth": U1}, json={"owner": "u1"}).status_code == 401  # no title: error
    assert http.get(url, params={**params, "auth": U1}).status_code == 200
    assert http.get(url, params={**params, "auth": U2}).status_code == 401


def test_counts_each_rule_and_condition_by_result(emulator, http, ns):
    exercise(emulator, http, ns)
    data = report(emulator, http, ns)
    assert data["ns"] == ns and data["rules"] == RULES
    assert data["summary"] == {"rules": 5, "rules_evaluated": 4, "expressions": 11, "expressions_evaluated": 10}
    assert [rule["path"] for rule in data["report"]] == [
        "/tickets/$ticketId/.read", "/tickets/$ticketId/.write", "/tickets/$ticketId/.validate",
        "/tickets/$ticketId/owner/.validate", "/admin/.read"]
    found = expressions(data)
    write, whole = "/tickets/$ticketId/.write", "auth != null && (!data.exists() || data.child('owner').val() === auth.uid)"
    assert results(found[write, whole]) == (3, 2, 1, 0)
    assert results(found[write, "auth != null"]) == (3, 2, 1, 0)
    assert results(found[write, "!data.exists() || data.child('owner').val() === auth.uid"]) == (2, 2, 0, 0)
    assert results(found[write, "!data.exists()"]) == (2, 1, 1, 0)
    assert results(found[write, "data.child('owner').val() === auth.uid"]) == (1, 1, 0, 0)
    read = "/tickets/$ticketId/.read"
    assert results(found[read, "auth != null && data.child('owner').val() === auth.uid"]) == (2, 1, 1, 0)
    assert results(found[read, "data.child('owner').val() === auth.uid"]) == (2, 1, 1, 0)
    validate = found["/tickets/$ticketId/.validate", "newData.child('title').val().length > 0"]
    assert results(validate) == (2, 1, 0, 1) and validate["status"] == "errors"
    assert results(found["/tickets/$ticketId/owner/.validate", "newData.val() === auth.uid"]) == (1, 1, 0, 0)
    never = found["/admin/.read", "auth.token.admin === true"]
    assert results(never) == (0, 0, 0, 0) and never["status"] == "not-evaluated" and never["values"] == []


def test_expressions_carry_firebase_locations_values_and_a_status(emulator, http, ns):
    exercise(emulator, http, ns)
    found = expressions(report(emulator, http, ns))
    text = "auth != null && (!data.exists() || data.child('owner').val() === auth.uid)"
    rule = found["/tickets/$ticketId/.write", text]
    assert (rule["location-start"], rule["location-end"]) == firebase_location(text, text) == ("6:19", "6:92")
    assert rule["values"] == [{"value": True, "count": 2}, {"value": False, "count": 1}]
    assert rule["status"] == "true-and-false"
    inner = found["/tickets/$ticketId/.write", "data.child('owner').val() === auth.uid"]
    assert (inner["location-start"], inner["location-end"]) == firebase_location(inner["text"], text)
    assert found["/tickets/$ticketId/owner/.validate", "newData.val() === auth.uid"]["status"] == "always-true"


def test_html_page_shows_the_rules_and_lists_what_never_ran(emulator, http, ns):
    exercise(emulator, http, ns)
    response = http.get(f"{emulator.url}/.inspect/coverage", params={"ns": ns})
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/html")
    page = response.text
    missed = re.search(r'<ul class="missed">(.*?)</ul>', page, re.S).group(1)
    assert "/admin/.read" in missed and "auth.token.admin === true" in missed
    assert "/tickets/$ticketId/.write" not in missed and "newData.val() === auth.uid" not in missed
    assert '<span class="not-evaluated" title="/admin/.read evaluated 0' in page
    assert '<span class="errors" title="/tickets/$ticketId/.validate evaluated 2: true 1, false 0, errors 1">' in page
    assert "// Only the owner reads; anyone signed in creates, the owner updates." in page  # the source, comments kept
    assert not re.search(r'(src|href)="(https?:)?//', page)  # standalone: nothing fetched from elsewhere


def test_replacing_the_rules_resets_the_counts(emulator, http, ns):
    exercise(emulator, http, ns)
    assert report(emulator, http, ns)["summary"]["rules_evaluated"] == 4
    http.put(f"{emulator.url}/.settings/rules.json", params={"ns": ns}, data=RULES, headers=ADMIN).raise_for_status()
    data = report(emulator, http, ns)
    assert data["summary"] == {"rules": 5, "rules_evaluated": 0, "expressions": 11, "expressions_evaluated": 0}
    changed = json.dumps({"rules": {".read": "auth != null"}})
    http.put(f"{emulator.url}/.settings/rules.json", params={"ns": ns}, data=changed, headers=ADMIN).raise_for_status()
    assert http.get(f"{emulator.url}/x.json", params={"ns": ns, "auth": U1}).status_code == 200
    [rule] = report(emulator, http, ns)["report"]
    assert (rule["path"], rule["text"], results(rule)) == ("/.read", "auth != null", (1, 1, 0, 0))


def test_a_namespace_without_rules_has_an_empty_report(emulator, http):
    ns = f"cov-none-{uuid.uuid4().hex[:8]}"
    assert http.get(f"{emulator.url}/x.json", params={"ns": ns}).status_code == 200  # the built-in allow-all
    assert report(emulator, http, ns) == {"ns": ns, "rules": None, "report": [], "summary": {
        "rules": 0, "rules_evaluated": 0, "expressions": 0, "expressions_evaluated": 0}}
    page = http.get(f"{emulator.url}/.inspect/coverage", params={"ns": ns})
    assert page.status_code == 200 and "has no rules of its own" in page.text


def test_bad_namespace_and_methods_are_refused(emulator, http):
    for path in ("/.inspect/coverage", "/.inspect/coverage.json"):
        bad = http.get(f"{emulator.url}{path}", params={"ns": "Bad_NS"})
        assert bad.status_code == 400 and bad.json()["error"].startswith('Invalid namespace: "Bad_NS".')
        post = http.post(f"{emulator.url}{path}")
        assert post.status_code == 400 and post.json()["error"].startswith('Invalid method: "POST"')
