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
    write = store.create_ticket(_fields(external_id="x"))
    ticket = write.ticket
    store.close()
    reopened = Store(path)
    assert write.status == 201
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
        write = store.create_ticket(_fields(external_id="same"), idempotency=("key-1", "body"))
        results.append((write.ticket["id"], write.status, write.replayed))

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
    first = store.create_ticket(_fields()).ticket
    store.wipe()
    assert store.list_tickets() == ([], 0)
    assert store.create_ticket(_fields()).ticket["id"] > first["id"]
    store.close()


def test_solve_then_reopen_sets_and_clears_solved_at(tmp_path):
    store = Store(":memory:")
    ticket = store.create_ticket(_fields()).ticket
    solved = store.update_ticket(ticket["id"], {"status": "solved"}, webhook_url="http://x/")
    assert solved.ticket["solved_at"] and len(solved.deliveries) == 1
    reopened = store.update_ticket(ticket["id"], {"status": "open"}, webhook_url="http://x/")
    assert reopened.ticket["solved_at"] is None and reopened.deliveries == []
    store.close()


def test_a_database_from_before_agents_and_audits_is_migrated(tmp_path):
    path = str(tmp_path / "old.sqlite3")
    with sqlite3.connect(path) as db:  # the users table as the stub wrote it before roles existed
        db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, email TEXT UNIQUE, "
                   "created_at TEXT NOT NULL)")
        db.execute("INSERT INTO users (name, email, created_at) VALUES ('Ada', 'ada@example.com', '2024-05-01T12:00:00Z')")
    store = Store(path)
    assert store.get_user(1)["role"] == "end-user"
    assert store.agent("ada@example.com")["role"] == "agent"
    write = store.create_ticket(_fields(requester_id=1), author_email="ada@example.com")
    assert write.audit["author_id"] == 1
    store.close()


def test_audits_are_kept_and_a_change_no_agent_made_is_the_systems(tmp_path):
    store = Store(str(tmp_path / "h.sqlite3"))
    created = store.create_ticket(_fields())
    solved = store.update_ticket(created.ticket["id"], {"status": "solved"}, channel="web")
    assert (solved.audit["author_id"], solved.audit["via"]["channel"]) == (-1, "web")
    assert solved.audit["id"] > created.audit["id"]
    assert min(e["id"] for e in solved.audit["events"]) > max(e["id"] for e in created.audit["events"])
    store.wipe()
    assert store.create_ticket(_fields()).audit["id"] > solved.audit["id"]
    store.close()


def test_cursor_pages_by_id_both_ways(tmp_path):
    store = Store(":memory:")
    ids = [store.create_ticket(_fields()).ticket["id"] for _ in range(5)]
    page = lambda **kw: ([t["id"] for t in store.page_tickets(2, **kw)[0]], store.page_tickets(2, **kw)[1])  # noqa: E731
    assert page() == (ids[:2], True)
    assert page(after=ids[1]) == (ids[2:4], True)
    assert page(after=ids[3]) == (ids[4:], False)
    assert page(before=ids[4]) == (ids[2:4], True)
    assert page(before=ids[2]) == (ids[:2], False)
    assert page(descending=True) == ([ids[4], ids[3]], True)
    assert page(descending=True, after=ids[3]) == ([ids[2], ids[1]], True)
    assert page(descending=True, before=ids[1]) == ([ids[3], ids[2]], True)
    store.close()
