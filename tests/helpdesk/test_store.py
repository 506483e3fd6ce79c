"""SQLite persistence: durability across reopen, WAL mode, concurrent writers, wipe."""

from __future__ import annotations

import sqlite3
import threading

from helpdesk.store import Store
from helpdesk.tickets import validate_create


def _fields(**extra):
    return validate_create({"comment": {"body": "body"}, **extra})


def test_ticket_survives_reopening_the_database(tmp_path):
    path = str(tmp_path / "db" / "helpdesk.sqlite3")
    store = Store(path)
    ticket, status, _, _ = store.create_ticket(_fields(external_id="x"))
    store.close()
    reopened = Store(path)
    assert status == 201
    assert reopened.get_ticket(ticket["id"]) == ticket
    reopened.close()


def test_database_uses_wal(tmp_path):
    path = str(tmp_path / "h.sqlite3")
    Store(path).close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_concurrent_creates_with_one_idempotency_key_make_one_ticket(tmp_path):
    store = Store(str(tmp_path / "h.sqlite3"))
    results = []

    def create():
        ticket, status, replayed, _ = store.create_ticket(_fields(external_id="same"), idempotency=("key-1", "body"))
        results.append((ticket["id"], status, replayed))

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {ticket_id for ticket_id, _, _ in results} == {1}
    assert sorted(replayed for _, _, replayed in results) == [False] + [True] * 7
    assert {status for _, status, _ in results} == {201}
    assert store.list_tickets()[1] == 1
    store.close()


def test_wipe_keeps_ids_increasing(tmp_path):
    store = Store(str(tmp_path / "h.sqlite3"))
    first = store.create_ticket(_fields())[0]
    store.wipe()
    assert store.list_tickets() == ([], 0)
    assert store.create_ticket(_fields())[0]["id"] > first["id"]
    store.close()


def test_solve_then_reopen_sets_and_clears_solved_at(tmp_path):
    store = Store(":memory:")
    ticket = store.create_ticket(_fields())[0]
    solved, deliveries = store.update_ticket(ticket["id"], {"status": "solved"}, webhook_url="http://x/")
    assert solved["solved_at"] and len(deliveries) == 1
    reopened, deliveries = store.update_ticket(ticket["id"], {"status": "open"}, webhook_url="http://x/")
    assert reopened["solved_at"] is None and deliveries == []
    store.close()
