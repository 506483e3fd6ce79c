"""Tests for emulator.rules.ruleset: cascading .read/.write, .validate on writes, wildcards, queries."""

import copy
import json
import time

import pytest

from emulator.query import parse_query
from emulator.rules import Context, Decision, RuleSet

NOW = 1_700_000_000_000
ANON = None
U1 = {"uid": "u1", "provider": "anonymous", "token": {"firebase": {"sign_in_provider": "anonymous"}}}
U2 = {"uid": "u2", "provider": "anonymous", "token": {}}
AGENT = {"uid": "agent", "provider": "custom", "token": {"agent": True}}


def rules(tree: dict) -> RuleSet:
    return RuleSet.parse(json.dumps({"rules": tree}))


def ctx(auth=None, root=None, now=NOW) -> Context:
    return Context(auth=auth, root=root, now=now)


def path(text: str) -> tuple[str, ...]:
    return tuple(key for key in text.split("/") if key)


def write(ruleset: RuleSet, auth, root, *sets) -> Decision:
    return ruleset.check_write([(path(p), value) for p, value in sets], ctx(auth, root))


CASCADE = rules({
    "public": {".read": True, "secret": {".read": False}},
    "users": {
        "$uid": {
            ".read": "auth != null && auth.uid == $uid",
            ".write": "auth != null && auth.uid == $uid",
            "profile": {".read": True},
            "locked": {".write": False},
        },
    },
    "open": {".write": True, "closed": {".write": False}},
})
USERS = {"users": {"u1": {"name": "Ann", "profile": {"bio": "hi"}}, "u2": {"name": "Bob"}}, "public": {"secret": 1}}


@pytest.mark.parametrize("where, auth, allowed", [
    ("/public", ANON, True),
    ("/public/secret", ANON, True),            # a grant above cannot be revoked below
    ("/public/secret/deeper/still", ANON, True),
    ("/", ANON, False),                        # absence of a rule is false
    ("/users", U1, False),                     # rules are not filters: no grant at /users
    ("/users/u1", U1, True),
    ("/users/u1/name", U1, True),
    ("/users/u2", U1, False),
    ("/users/u1", ANON, False),                # auth.uid on null auth: error, so false
    ("/users/u1/profile", ANON, True),         # a deeper grant reads that node...
    ("/users/u1/profile/bio", ANON, True),
    ("/users/u1/name", ANON, False),           # ...but nothing beside or above it
    ("/nowhere", ANON, False),
])
def test_read_cascades_down_and_never_up(where, auth, allowed):
    assert CASCADE.can_read(path(where), ctx(auth, USERS)) is allowed


@pytest.mark.parametrize("sets, auth, allowed", [
    ([("/users/u1/name", "Ann B")], U1, True),
    ([("/users/u1/locked", 1)], U1, True),             # .write: false below a grant revokes nothing
    ([("/users/u1", {"name": "x"})], U1, True),
    ([("/users/u2/name", "x")], U1, False),
    ([("/users", {"u1": {"name": "x"}})], U1, False),  # rules below the location never grant it
    ([("/users/u1/name", None)], U1, True),            # a delete needs the same grant
    ([("/users/u1/name", None)], U2, False),
    ([("/open/closed/x", 1)], ANON, True),
    ([("/open", {"closed": 2})], ANON, True),
    ([("/elsewhere", 1)], U1, False),
    ([("/", {"users": {}})], U1, False),
    ([], ANON, True),
])
def test_write_needs_a_grant_at_or_above_every_location(sets, auth, allowed):
    assert write(CASCADE, auth, USERS, *sets).allowed is allowed


def test_denied_write_says_where_and_why():
    decision = write(CASCADE, U1, USERS, ("/users/u1/name", "ok"), ("/users/u2/name", "no"))
    assert decision == Decision(False, ("users", "u2", "name"), "No .write rule allowed the write at /users/u2/name")


TICKETS = rules({
    "tickets": {
        ".indexOn": ["created_at", "status"],
        ".read": "auth != null && auth.token.agent === true",
        "$ticketId": {
            ".read": "auth != null && data.child('uid').val() === auth.uid",
            ".write": "auth != null && !data.exists()",
            ".validate": "newData.hasChildren(['title', 'uid', 'created_at', 'status'])",
            "title": {".validate": "newData.isString() && newData.val().length > 0 && newData.val().length <= 80"},
            "uid": {".validate": "newData.val() === auth.uid"},
            "created_at": {".validate": "newData.val() == now"},
            "status": {".validate": "newData.val() == 'new'"},
            "impact": {".validate": "newData.isNumber() && newData.val() >= 1 && newData.val() <= 4"},
            "details": {"$key": {".validate": "newData.isString() && $key.matches(/^[a-z_]+$/)"}},
            "$other": {".validate": False},
        },
    },
})
GOOD = {"title": "Printer", "uid": "u1", "created_at": NOW, "status": "new", "impact": 2}


def test_a_valid_ticket_is_created():
    assert write(TICKETS, U1, None, ("/tickets/t1", GOOD)) == Decision(True, None, "")


@pytest.mark.parametrize("change, where, rule", [
    ({"impact": "high"}, "/tickets/t1/impact", "newData.isNumber() && newData.val() >= 1 && newData.val() <= 4"),
    ({"impact": 9}, "/tickets/t1/impact", "newData.isNumber() && newData.val() >= 1 && newData.val() <= 4"),
    ({"title": "x" * 81}, "/tickets/t1/title", None),
    ({"uid": "u2"}, "/tickets/t1/uid", None),
    ({"created_at": NOW - 1}, "/tickets/t1/created_at", None),
    ({"status": "done"}, "/tickets/t1/status", None),
    ({"enrichment": {"team": "x"}}, "/tickets/t1/enrichment", "false"),    # $other forbids unknown children
    ({"details": {"os_name": "linux", "Bad-Key": "x"}}, "/tickets/t1/details/Bad-Key", None),
    ({"details": {"os": 5}}, "/tickets/t1/details/os", None),
])
def test_validate_runs_on_every_written_node(change, where, rule):
    decision = write(TICKETS, U1, None, ("/tickets/t1", {**GOOD, **change}))
    assert (decision.allowed, decision.path) == (False, path(where))
    assert decision.reason.startswith(f".validate failed at {where}: ")
    if rule is not None:
        assert decision.reason == f".validate failed at {where}: {rule}"


def test_parent_validate_sees_the_whole_new_node():
    missing = {k: v for k, v in GOOD.items() if k != "status"}
    decision = write(TICKETS, U1, None, ("/tickets/t1", missing))
    assert decision.path == ("tickets", "t1")
    assert "hasChildren" in decision.reason


def test_write_rule_runs_before_validation_and_blocks_updates():
    stored = {"tickets": {"t1": GOOD}}
    assert write(TICKETS, U1, stored, ("/tickets/t1/title", "New")).reason == \
        "No .write rule allowed the write at /tickets/t1/title"
    assert not write(TICKETS, ANON, None, ("/tickets/t2", GOOD)).allowed


def test_named_children_win_over_the_wildcard_and_wildcards_capture_keys():
    assert write(TICKETS, U1, None, ("/tickets/t1", {**GOOD, "details": {"os_name": "linux"}})).allowed


SCHEMA = rules({
    ".write": True,
    "things": {
        ".validate": "newData.hasChild('required')",
        "required": {".validate": "newData.isString()"},
        "$item": {".validate": "newData.isNumber()"},
    },
    "nested": {".validate": "newData.hasChild('b')", "b": {"c": {".validate": "newData.val() == 1"}}},
    "solo": {".validate": False},
    "pair": {"a": {".validate": "newData.val() == newData.parent().child('b').val()"}},
})
STORED = {"things": {"required": "yes", "x": 1, "y": 2}, "solo": {"k": 1}}


@pytest.mark.parametrize("sets, allowed, where", [
    ([("/things/x", None)], True, None),                     # a delete is not validated...
    ([("/things/z", 3)], True, None),
    ([("/things/z", "three")], False, "/things/z"),
    ([("/things/required", None)], False, "/things"),       # ...but the parent it changes is
    ([("/things", None)], True, None),
    ([("/solo/k", None)], True, None),                      # the parent vanishes: nothing to validate
    ([("/solo/k", 2)], False, "/solo"),                     # an ancestor that changes is validated
    ([("/nested", {"b": {"c": 1}})], True, None),           # .validate does not cascade to children
    ([("/nested/b/c", 2)], False, "/nested/b/c"),
    ([("/nested/x", 1)], False, "/nested"),
    # multi-path: all or nothing, and newData sees every set
    ([("/things/z", 3), ("/things/w", "bad")], False, "/things/w"),
    ([("/pair/a", 1), ("/pair/b", 1)], True, None),
    ([("/pair/a", 1)], False, "/pair/a"),
    ([("/things/z", 3), ("/things/required", None)], False, "/things"),
])
def test_validate_applies_to_changed_non_null_nodes_only(sets, allowed, where):
    decision = write(SCHEMA, ANON, STORED, *sets)
    assert decision.allowed is allowed, decision
    assert decision.path == (path(where) if where else None)


def test_check_write_never_mutates_the_stored_tree():
    stored = copy.deepcopy(STORED)
    write(SCHEMA, ANON, stored, ("/things/x", None), ("/things/n", 5), ("/solo", {"q": 1}))
    assert stored == STORED


def test_write_rules_see_data_before_and_new_data_after_at_their_own_level():
    ruleset = rules({"counters": {"$c": {
        ".write": "newData.isNumber() && (!data.exists() || newData.val() == data.val() + 1)"}}})
    stored = {"counters": {"a": 4}}
    assert write(ruleset, ANON, stored, ("/counters/a", 5)).allowed
    assert not write(ruleset, ANON, stored, ("/counters/a", 7)).allowed
    assert write(ruleset, ANON, stored, ("/counters/b", 7)).allowed


def test_nested_wildcards_and_root_lookups():
    ruleset = rules({"rooms": {"$room": {"members": {"$uid": {
        ".write": "$uid === auth.uid && root.child('rooms/' + $room + '/open').val() === true"}}}}})
    stored = {"rooms": {"r1": {"open": True}, "r2": {"open": False}}}
    assert write(ruleset, U1, stored, ("/rooms/r1/members/u1", True)).allowed
    assert not write(ruleset, U1, stored, ("/rooms/r2/members/u1", True)).allowed
    assert not write(ruleset, U1, stored, ("/rooms/r1/members/u2", True)).allowed


def test_reads_of_tickets_by_owner_agent_and_query():
    ruleset = rules({"tickets": {
        ".read": "auth != null && (auth.token.agent === true"
                 " || (query.orderByChild === 'uid' && query.equalTo === auth.uid))",
        "$id": {".read": "auth != null && data.child('uid').val() === auth.uid"}}})
    stored = {"tickets": {"t1": {"uid": "u1"}, "t2": {"uid": "u2"}}}
    own = parse_query({"orderBy": '"uid"', "equalTo": '"u1"'})
    assert ruleset.can_read(("tickets",), ctx(AGENT, stored))
    assert ruleset.can_read(("tickets",), ctx(U1, stored), own)
    assert not ruleset.can_read(("tickets",), ctx(U2, stored), own)
    assert not ruleset.can_read(("tickets",), ctx(U1, stored))
    assert not ruleset.can_read(("tickets",), ctx(U1, stored), parse_query({"orderBy": '"uid"'}))
    assert ruleset.can_read(("tickets", "t1"), ctx(U1, stored))
    assert not ruleset.can_read(("tickets", "t2"), ctx(U1, stored))


def test_index_on_follows_wildcards():
    ruleset = rules({"a": {".indexOn": "x", "$k": {".indexOn": ["y", "z"]}, "named": {}}})
    assert ruleset.index_on(("a",)) == ["x"]
    assert ruleset.index_on(("a", "any")) == ["y", "z"]
    assert ruleset.index_on(("a", "named")) == []
    assert TICKETS.index_on(("tickets",)) == ["created_at", "status"]


def test_write_into_a_large_tree_does_not_copy_it():
    big = {"tickets": {f"t{i:06d}": {"title": "x", "uid": "u", "created_at": 1, "status": "new"}
                       for i in range(100_000)}}
    started = time.perf_counter()
    for i in range(50):
        assert write(TICKETS, U1, big, (f"/tickets/new{i}", GOOD)).allowed
    assert time.perf_counter() - started < 0.5
