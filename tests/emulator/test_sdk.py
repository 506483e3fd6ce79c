"""The unmodified firebase-admin SDK against a real emulator process."""

import threading
import time

import pytest
from firebase_admin import db, exceptions

from tests.support.procs import wait_for

TICKETS = {
    "-N0001": {"subject": "Login fails", "impact": 3, "category": "authentication", "seniority": 2.5,
               "created_at": 1700000000000, "meta": {"channel": "web", "score": 7}, "status": "new"},
    "-N0002": {"subject": "Invoice wrong", "impact": 1, "category": "billing", "seniority": 10,
               "created_at": 1700000100000, "meta": {"channel": "email", "score": 2}, "status": "closed"},
    "-N0003": {"subject": "Slow dashboard", "impact": 2, "category": "performance", "seniority": 0,
               "created_at": 1700000200000, "meta": {"channel": "web", "score": 9}, "status": "new"},
    "-N0004": {"subject": "API 500s", "impact": 4, "category": "technical", "seniority": 1,
               "created_at": 1700000300000, "meta": {"channel": "phone"}, "status": "open"},
    "-N0005": {"subject": "Password reset", "impact": 2, "category": "authentication", "seniority": 3,
               "created_at": 1700000400000, "meta": {"channel": "web", "score": 5}, "status": "new"},
    "-N0006": {"subject": "Refund", "impact": None, "category": "billing", "seniority": 7,
               "created_at": 1700000500000, "status": "new"},
}


@pytest.fixture
def tickets(ref):
    ref.set(TICKETS)
    return ref


def test_set_get_roundtrip_with_types(ref):
    value = {"s": "text", "i": 3, "f": 2.5, "b": False, "nested": {"deep": {"x": "y"}}, "list": [1, "two", 3.0]}
    ref.set(value)
    assert ref.get() == {**value, "list": [1, "two", 3]}
    assert ref.child("nested/deep/x").get() == "y"
    assert ref.child("missing").get() is None


def test_get_with_etag_and_shallow(ref):
    ref.set({"a": {"b": 1}, "c": "leaf"})
    value, etag = ref.get(etag=True)
    assert value == {"a": {"b": 1}, "c": "leaf"}
    assert isinstance(etag, str) and etag
    assert ref.get(shallow=True) == {"a": True, "c": "leaf"}
    assert ref.child("absent").get(etag=True) == (None, "null_etag")


def test_get_if_changed(ref):
    ref.set({"v": 1})
    _, etag = ref.get(etag=True)
    assert ref.get_if_changed(etag) == (False, None, None)
    ref.child("v").set(2)
    changed, value, new_etag = ref.get_if_changed(etag)
    assert changed and value == {"v": 2} and new_etag != etag


def test_set_if_unchanged(ref):
    ref.set({"v": 1})
    _, etag = ref.get(etag=True)
    ok, value, new_etag = ref.set_if_unchanged(etag, {"v": 2})
    assert ok and value == {"v": 2}
    ok, value, current_etag = ref.set_if_unchanged(etag, {"v": 3})
    assert not ok and value == {"v": 2} and current_etag == new_etag
    assert ref.get() == {"v": 2}


def test_set_if_unchanged_create_if_absent(ref):
    ok, value, _ = ref.child("new").set_if_unchanged("null_etag", "created")
    assert ok and ref.child("new").get() == "created"
    ok, value, _ = ref.child("new").set_if_unchanged("null_etag", "again")
    assert not ok and value == "created"


def test_push_ids_are_ordered_and_stored(ref):
    keys = [ref.push({"n": i}).key for i in range(50)]
    assert keys == sorted(keys) and len(set(keys)) == 50
    assert all(len(k) == 20 for k in keys)
    stored = ref.get()
    assert [stored[k]["n"] for k in sorted(stored)] == list(range(50))
    empty = ref.push()
    assert ref.child(empty.key).get() == ""


def test_update_deep_paths(ref):
    ref.set({"a": {"x": 1, "y": 2}, "b": 1})
    ref.update({"a/x": 10, "c/d/e": "new", "b": None})
    assert ref.get() == {"a": {"x": 10, "y": 2}, "c": {"d": {"e": "new"}}}


def test_update_overlapping_paths_is_rejected_and_changes_nothing(ref):
    ref.set({"a": {"x": 1}})
    with pytest.raises(exceptions.InvalidArgumentError, match="overlap"):
        ref.update({"a": {"x": 2}, "a/x": 3})
    assert ref.get() == {"a": {"x": 1}}


def test_delete_prunes_empty_parents(ref):
    ref.set({"a": {"b": {"c": 1}}, "keep": True})
    ref.child("a/b/c").delete()
    assert ref.get() == {"keep": True}
    ref.delete()
    assert ref.get() is None


def test_transaction_single(ref):
    counter = ref.child("counter")
    assert counter.transaction(lambda cur: (cur or 0) + 1) == 1
    assert counter.transaction(lambda cur: (cur or 0) + 1) == 2


def test_transaction_contention_from_threads(ref):
    counter = ref.child("counter")
    threads_n, per_thread = 6, 15
    done, aborted, other = [], [], []

    def work():
        for _ in range(per_thread):
            try:
                counter.transaction(lambda cur: (cur or 0) + 1)
                done.append(1)
            except db.TransactionAbortedError as exc:  # the SDK gives up after 25 conflicts in a row
                aborted.append(exc)
            except Exception as exc:  # surfaced below
                other.append(exc)

    threads = [threading.Thread(target=work) for _ in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not other
    # Every transaction the SDK reports as committed is counted once: no lost or doubled update. (On a loaded
    # machine a thread can lose 25 races in a row, which real Firebase allows too; most must get through.)
    assert counter.get() == len(done)
    assert len(done) >= 0.9 * threads_n * per_thread, f"{len(aborted)} of {threads_n * per_thread} aborted"


def test_server_values(ref):
    before = int(time.time() * 1000)
    ref.set({"at": {".sv": "timestamp"}, "n": 5})
    ref.child("n").set({".sv": {"increment": 3}})
    ref.child("fresh").set({".sv": {"increment": 2}})
    value = ref.get()
    assert before <= value["at"] <= int(time.time() * 1000) + 1
    assert value["n"] == 8 and value["fresh"] == 2


def test_listen_put_and_patch_events(ref):
    ref.set({"a": 1})
    events = []
    registration = ref.listen(lambda e: events.append((e.event_type, e.path, e.data)))
    try:
        wait_for(lambda: events, what="initial put")
        ref.child("b/c").set(2)
        ref.update({"a": 3, "d": 4})
        ref.child("a").delete()
        wait_for(lambda: len(events) >= 4, what="change events")
    finally:
        registration.close()
    assert events[0] == ("put", "/", {"a": 1})
    assert events[1] == ("put", "/b/c", 2)
    assert events[2] == ("patch", "/", {"a": 3, "d": 4})
    assert events[3] == ("put", "/a", None)


def test_listener_below_a_write_gets_its_new_value(ref):
    ref.set({"x": {"y": 1}})
    events = []
    registration = ref.child("x/y").listen(lambda e: events.append((e.event_type, e.path, e.data)))
    try:
        wait_for(lambda: events, what="initial put")
        ref.set({"x": {"y": 5}})
        ref.update({"x/y": 6})
        wait_for(lambda: len(events) >= 3, what="events")
    finally:
        registration.close()
    assert events == [("put", "/", 1), ("put", "/", 5), ("put", "/", 6)]


# ---- queries on a realistic ticket set -----------------------------------------------------

def _keys(result):
    return list(result.keys())


def test_order_by_child_limit_first_and_last(tickets):
    assert _keys(tickets.order_by_child("impact").limit_to_first(2).get()) == ["-N0006", "-N0002"]
    assert _keys(tickets.order_by_child("impact").limit_to_last(2).get()) == ["-N0001", "-N0004"]


def test_order_by_child_ranges(tickets):
    got = tickets.order_by_child("created_at").start_at(1700000100000).end_at(1700000300000).get()
    assert _keys(got) == ["-N0002", "-N0003", "-N0004"]
    assert _keys(tickets.order_by_child("category").equal_to("billing").get()) == ["-N0002", "-N0006"]
    assert _keys(tickets.order_by_child("status").equal_to("new").limit_to_first(2).get()) == ["-N0001", "-N0003"]


def test_order_by_nested_child(tickets):
    got = tickets.order_by_child("meta/score").start_at(5).get()
    assert _keys(got) == ["-N0005", "-N0001", "-N0003"]
    missing_first = tickets.order_by_child("meta/score").limit_to_first(2).get()
    assert _keys(missing_first) == ["-N0004", "-N0006"]


def test_order_by_key(tickets):
    assert _keys(tickets.order_by_key().start_at("-N0003").end_at("-N0004").get()) == ["-N0003", "-N0004"]
    assert _keys(tickets.order_by_key().limit_to_last(1).get()) == ["-N0006"]


def test_order_by_value(ref):
    ref.set({"a": 3, "b": "x", "c": 1, "d": True, "e": 2})
    assert _keys(ref.order_by_value().get()) == ["d", "c", "e", "a", "b"]
    assert _keys(ref.order_by_value().start_at(2).end_at(3).get()) == ["e", "a"]
    assert _keys(ref.order_by_value().limit_to_last(2).get()) == ["a", "b"]


def test_query_on_missing_location_is_empty(ref):
    assert ref.child("none").order_by_child("x").get() is None
