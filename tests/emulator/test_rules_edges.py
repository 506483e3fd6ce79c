"""Rules edge cases decided as production Firebase decides them, through a real emulator over REST.

Each case of `tests/emulator/rules/edge_cases.py` (production's recorded verdicts, restated with this
project's data) loads its `.read` rule with `PUT /.settings/rules.json`, seeds the database, and reads
`/cases/c1` as its user (`auth_variable_override`, as firebase-admin sends it). A denied read is told
apart from a failing rule as the recordings did: `(rule) || true` allows the first and not the second.
Then the issue's own write example, and the property that a refused write never changes the tree.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.emulator.rules.edge_cases import (ALLOWED, CASES, CATEGORIES, DENIED, ERROR, REFUSED, UNDETERMINED,
                                             Case)
from tests.support.procs import start_emulator

ADMIN = {"Authorization": "Bearer owner"}
READ_AT = "/cases/c1"


@pytest.fixture(scope="module")
def emu():
    proc = start_emulator()
    yield proc
    proc.stop()


def _load_rules(emu, rules: dict) -> requests.Response:
    return requests.put(f"{emu.url}/.settings/rules.json", data=json.dumps({"rules": rules}), headers=ADMIN,
                        timeout=10)


def _read_rules(rule: str) -> dict:
    return {"cases": {"$case": {".read": rule}}}


def _rest_query(query: dict | None) -> dict:
    """An SDK-style query as REST parameters: every value JSON-encoded, orderBy included."""
    return {name: json.dumps(value) for name, value in (query or {}).items()}


def _reads(emu, case: Case) -> bool:
    params = {"auth_variable_override": json.dumps(case.auth), **_rest_query(case.query)}
    r = requests.get(f"{emu.url}{READ_AT}.json", params=params, headers=ADMIN, timeout=10)
    assert r.status_code in (200, 401), r.text
    return r.status_code == 200


def verdict_over_rest(emu, case: Case) -> str:
    """What the emulator answers for `case`: ALLOWED, DENIED, ERROR or REFUSED."""
    loaded = _load_rules(emu, _read_rules(case.rule))
    if loaded.status_code == 400:
        assert loaded.json()["error"].startswith("Invalid rules: line 1, column "), loaded.text
        return REFUSED
    loaded.raise_for_status()
    requests.put(f"{emu.url}/.json", data=json.dumps(case.data), headers=ADMIN, timeout=10).raise_for_status()
    if _reads(emu, case):
        return ALLOWED
    _load_rules(emu, _read_rules(f"({case.rule}) || true")).raise_for_status()
    return DENIED if _reads(emu, case) else ERROR


def test_every_category_of_the_issue_has_recorded_cases():
    recorded = Counter(case.category for case in CASES if case.recorded)
    assert set(recorded) == set(CATEGORIES) - {UNDETERMINED}
    assert sum(recorded.values()) >= 30
    assert {case.verdict for case in CASES} == {ALLOWED, DENIED, ERROR, REFUSED}


@pytest.mark.parametrize("category", CATEGORIES)
def test_recorded_verdicts_hold_over_rest(emu, category):
    cases = [case for case in CASES if case.category == category]
    wrong = [(case.rule, case.auth, case.verdict, got) for case in cases
             if (got := verdict_over_rest(emu, case)) != case.verdict]
    assert not wrong, "\n".join(f"{rule!r} as {auth}: Firebase says {want}, the emulator {got}"
                                for rule, auth, want, got in wrong)


def test_a_signed_out_write_that_production_allows_is_allowed(emu):
    """The issue's example: null == null when signed out, so Firebase lets the write through."""
    _load_rules(emu, {"posts": {"$id": {".write": "newData.child('owner').val() == auth.uid"}}}).raise_for_status()
    requests.put(f"{emu.url}/.json", data="null", headers=ADMIN, timeout=10).raise_for_status()
    signed_out = {"auth_variable_override": "null"}
    r = requests.put(f"{emu.url}/posts/p1.json", json={"text": "hi"}, params=signed_out, headers=ADMIN, timeout=10)
    assert r.status_code == 200, r.text
    r = requests.put(f"{emu.url}/posts/p2.json", json={"text": "hi", "owner": "ann"}, params=signed_out,
                     headers=ADMIN, timeout=10)
    assert r.status_code == 401
    assert requests.get(f"{emu.url}/posts.json", headers=ADMIN, timeout=10).json() == {"p1": {"text": "hi"}}


# ---- a refused write never changes the tree ----------------------------------------------------------------

# Rules in the patterns of the cases above, now on writes: members of a signed-out auth, an e-mail address
# inside child() (a key no stored node can have), a ratio that divides by zero, a conditional, a bracket call.
WRITE_RULES = {
    "posts": {"$id": {
        ".write": "newData.child('owner').val() == auth.uid || auth.token.team == 'support'",
        ".validate": "newData.hasChildren(['text'])",
        "text": {".validate": "newData.isString() && newData.val().matches(/^(hi|bye)( there)?$/)"},
    }},
    "profiles": {"$uid": {
        ".write": "auth.uid === $uid && root.child('blocked/' + auth.uid).val() != true"
                  " && root.child('blocked/' + auth.token.email).val() != true",
        "ratio": {".validate": "newData.val() / root.child('stats/total').val() >= 0"},
    }},
    "votes": {"$id": {".write": "auth.token.team != 'banned' && (data.exists() ? auth.uid == $id : true)"}},
    "blocked": {".write": False},
    "stats": {".write": "auth.token.team['contains']('sup') == true"},
}
SEED = {"blocked": {"mallory": True}, "stats": {"total": 0}, "posts": {"p1": {"text": "hi", "owner": "ann"}},
        "votes": {"agent-kim": 1}}
WHO = st.sampled_from([None, {"uid": "ann", "token": {"email": "ann@example.com"}},
                       {"uid": "mallory", "token": {"email": "mallory@example.com"}},
                       {"uid": "agent-kim", "token": {"team": "support"}}, {"uid": "eve", "token": {"team": "banned"}}])
KEYS = st.sampled_from(["p1", "p2", "ann", "mallory", "agent-kim", "eve", "total", "text", "owner", "ratio", "x"])
PATHS = st.tuples(st.sampled_from(["posts", "profiles", "votes", "blocked", "stats"]), st.lists(KEYS, max_size=2))
VALUES = st.recursive(st.none() | st.booleans() | st.integers(-2, 2) | st.sampled_from(["hi", "bye there", "hey"]),
                      lambda inner: st.dictionaries(KEYS, inner, max_size=3), max_leaves=5)


def _tree(emu) -> object:
    return requests.get(f"{emu.url}/.json", params={"format": "export"}, headers=ADMIN, timeout=10).json()


def test_a_refused_write_never_changes_the_tree(emu):
    _load_rules(emu, WRITE_RULES).raise_for_status()
    requests.put(f"{emu.url}/.json", json=SEED, headers=ADMIN, timeout=10).raise_for_status()
    answers = Counter()

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(who=WHO, method=st.sampled_from(["PUT", "PATCH", "DELETE"]), path=PATHS, value=VALUES)
    def refused_writes_change_nothing(who, method, path, value):
        if method == "PATCH" and not (isinstance(value, dict) and value):
            value = {"text": value}
        before = _tree(emu)
        url = f"{emu.url}/{'/'.join([path[0], *path[1]])}.json"
        r = requests.request(method, url, data=None if method == "DELETE" else json.dumps(value),
                             params={"auth_variable_override": json.dumps(who)}, headers=ADMIN, timeout=10)
        answers[r.status_code] += 1
        assert r.status_code in (200, 401), r.text
        if r.status_code == 401:
            assert r.json() == {"error": "Permission denied"}
            assert _tree(emu) == before

    refused_writes_change_nothing()
    # Both sides of the rules were exercised. Hypothesis draws anew each run and 19-46 of 300 writes were allowed
    # in the runs seen; a floor of 20 failed one of them. Below 5 by chance: under once in 40,000 runs, even at 19.
    assert answers[401] >= 100 and answers[200] >= 5, answers
