""".indexOn: an ordered query the rules do not index is served, with Firebase's emulator's warning.

Production refuses such a query (400 `Index not defined, add ".indexOn": ...`); Firebase's emulator
answers it and logs "Using an unspecified index ...". Keys and priorities are always indexed; ordering
by value needs `".indexOn": ".value"`, ordering by a child needs that child's path.
"""

import json
import logging

import pytest
import requests

from emulator.access import Access
from emulator.query import parse_query
from emulator.store import Auth
from tests.support.procs import start_emulator, wait_for

WARNING = "Using an unspecified index."
RULES = {
    "rules": {
        ".read": True,
        ".write": True,
        "tickets": {".indexOn": ["priority", "meta/created"]},
        "scores": {".indexOn": ".value"},
        "users": {"$uid": {"posts": {".indexOn": "ts"}}},
    }
}
DATA = {
    "tickets": {"t1": {"priority": 2, "status": "open", "meta": {"created": 5}},
                "t2": {"priority": 1, "status": "closed", "meta": {"created": 3}}},
    "scores": {"ann": 7, "bob": 3},
    "users": {"alice": {"posts": {"p1": {"ts": 2}, "p2": {"ts": 1}}}},
}


def _hint(index: str, path: str) -> str:
    return f'Consider adding ".indexOn": "{index}" at {path} to your security rules'


@pytest.fixture(scope="module")
def emu(tmp_path_factory):
    """An emulator process started with a firebase.json that names a rules file."""
    folder = tmp_path_factory.mktemp("indexon")
    (folder / "database.rules.json").write_text(json.dumps(RULES, indent=2))
    config = folder / "firebase.json"
    config.write_text(json.dumps({"database": {"rules": "database.rules.json"},
                                  "emulators": {"database": {"host": "127.0.0.1", "port": 0}}}))
    proc = start_emulator(config=config)
    requests.put(f"{proc.url}/.json", json=DATA, headers={"Authorization": "Bearer owner"}).raise_for_status()
    yield proc
    proc.stop()


def _query(emu, path: str, order_by: str, **params) -> dict:
    response = requests.get(f"{emu.url}{path}.json", params={"orderBy": json.dumps(order_by), **params}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def _warnings(emu) -> list[str]:
    return [line for line in emu.lines if WARNING in line]


def _fence(emu, name: str) -> None:
    """Run an unindexed query and wait for its warning: every line logged before it is then in `emu.lines`."""
    _query(emu, "/tickets", f"fence-{name}")
    wait_for(lambda: any(_hint(f"fence-{name}", "/tickets") in line for line in _warnings(emu)),
             what=f"the warning of fence {name}")


def test_unindexed_child_query_is_served_and_warns(emu):
    assert _query(emu, "/tickets", "status", equalTo=json.dumps("open")) == {"t1": DATA["tickets"]["t1"]}
    line = wait_for(lambda: next((l for l in _warnings(emu) if _hint("status", "/tickets") in l), None),
                    what="the unspecified-index warning")
    assert "WARNING emulator.access:" in line
    assert "production Firebase refuses this query" in line


def test_indexed_child_queries_do_not_warn(emu):
    assert _query(emu, "/tickets", "priority", limitToFirst="1") == {"t2": DATA["tickets"]["t2"]}
    assert _query(emu, "/tickets", "meta/created", startAt="4") == {"t1": DATA["tickets"]["t1"]}
    assert _query(emu, "/tickets", "/meta//created/", startAt="4") == {"t1": DATA["tickets"]["t1"]}
    assert _query(emu, "/users/alice/posts", "ts", limitToFirst="1") == {"p2": {"ts": 1}}
    _fence(emu, "indexed")
    noise = [l for l in _warnings(emu) if '"priority"' in l or "meta/created" in l or "/users/alice/posts" in l]
    assert noise == []


def test_key_and_priority_orders_never_warn(emu):
    assert _query(emu, "/tickets", "$key", limitToFirst="1") == {"t1": DATA["tickets"]["t1"]}
    _query(emu, "/tickets", "$priority")
    _query(emu, "/users", "$key")
    _fence(emu, "key")
    assert [l for l in _warnings(emu) if "$key" in l or "$priority" in l or " at /users " in l] == []


def test_value_order_without_value_index_warns(emu):
    assert _query(emu, "/users/alice/posts/p1", "$value") == {"ts": 2}
    wait_for(lambda: any(_hint(".value", "/users/alice/posts/p1") in l for l in _warnings(emu)),
             what='the ".indexOn": ".value" warning')
    assert [l for l in _warnings(emu) if '"$value"' in l] == []  # Firebase names the index ".value"


def test_value_order_with_value_index_does_not_warn(emu):
    assert _query(emu, "/scores", "$value", limitToFirst="1") == {"bob": 3}
    _fence(emu, "value")
    assert [l for l in _warnings(emu) if " at /scores " in l] == []


def test_each_unindexed_query_warns_once(emu):
    for _ in range(3):
        _query(emu, "/tickets", "once-only")
    _fence(emu, "once")
    assert len([l for l in _warnings(emu) if _hint("once-only", "/tickets") in l]) == 1


# ---- the same decisions, unit level -------------------------------------------------------------


class _Db:
    def __init__(self, rules: dict):
        self.rules = {"ns": json.dumps(rules)}
        self.roots = {}

    @staticmethod
    def clock() -> int:
        return 0


@pytest.mark.parametrize("path, order_by, warned", [
    (("tickets",), "status", '".indexOn": "status" at /tickets'),
    (("tickets",), "priority", None),
    (("tickets",), "meta/created", None),
    (("tickets",), "$key", None),
    (("tickets",), "$priority", None),
    (("tickets",), "$value", '".indexOn": ".value" at /tickets'),
    (("scores",), "$value", None),
    (("scores",), "priority", '".indexOn": "priority" at /scores'),
    (("users", "bob", "posts"), "ts", None),
    (("users", "bob"), "ts", '".indexOn": "ts" at /users/bob'),
    ((), "$value", '".indexOn": ".value" at /'),
])
def test_warning_decision(path, order_by, warned, caplog):
    access = Access(_Db(RULES), "{}")
    query = parse_query({"orderBy": json.dumps(order_by)})
    with caplog.at_level(logging.WARNING, logger="emulator.access"):
        access.check_read("ns", path, Auth(kind="unauthenticated"), query)
    messages = [r.getMessage() for r in caplog.records if r.name == "emulator.access"]
    if warned is None:
        assert messages == []
    else:
        assert len(messages) == 1 and messages[0].startswith(WARNING) and warned in messages[0], messages


def test_a_plain_read_does_not_warn(caplog):
    access = Access(_Db(RULES), "{}")
    with caplog.at_level(logging.WARNING, logger="emulator.access"):
        access.check_read("ns", ("tickets",), Auth(kind="unauthenticated"), None)
    assert caplog.records == []
