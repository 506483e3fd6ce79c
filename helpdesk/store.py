"""SQLite persistence of the stub: tickets, users, comments, audits, idempotency keys, webhook outbox.

One connection in WAL mode behind a lock, so every request thread and the webhook worker share it safely.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterator

from helpdesk.audits import SYSTEM_AUTHOR_ID, change_events, create_events, render_audit
from helpdesk.errors import IdempotencyConflict, NotFound, RecordInvalid
from helpdesk.schema import MIGRATIONS, SCHEMA
from helpdesk.search import TicketSearch, text_matches
from helpdesk.tickets import FINAL_STATUSES, webhook_body

IDEMPOTENCY_TTL_SECONDS = 2 * 60 * 60  # Zendesk keeps an Idempotency-Key for two hours.
SORT_COLUMNS = ("id", "created_at", "updated_at", "status", "subject")
_BUSY_TIMEOUT_MS = 5_000
_JSON_COLUMNS = ("tags", "custom_fields", "satisfaction_rating", "history")
_TICKET_COLUMNS = ("external_id", "subject", "raw_subject", "status", "priority", "type", "tags",
                   "custom_fields", "requester_id", "satisfaction_rating")


@dataclass(frozen=True)
class Write:
    """The outcome of a create or update.

    Attributes:
        ticket: the ticket after the write.
        audit: the write's audit, rendered (a replayed create returns the first create's; None for a
            ticket created before the stub kept audits).
        status: the HTTP status to answer (201 for a create, also when replayed).
        replayed: True when an Idempotency-Key named an earlier create.
        deliveries: webhook outbox rows written, for the dispatcher.
    """

    ticket: dict[str, Any]
    audit: dict[str, Any] | None
    status: int = 200
    replayed: bool = False
    deliveries: list[int] = field(default_factory=list)


def utc_now() -> str:
    """Returns the current UTC time as Zendesk writes it: ``2024-05-01T12:00:00Z``."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Store:
    """Thread-safe access to the stub's SQLite database.

    Args:
        path: database file; its folder is created. ``:memory:`` keeps data in this process only.
    """

    def __init__(self, path: str) -> None:
        if path != ":memory:" and os.path.dirname(path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = NORMAL")
        self._db.executescript(SCHEMA)
        self._migrate()
        self._db.create_function("text_matches", 2, text_matches, deterministic=True)

    def close(self) -> None:
        """Closes the connection; the store is unusable afterwards."""
        with self._lock:
            self._db.close()

    def wipe(self) -> None:
        """Deletes every row of every table (ids keep increasing, so old links never alias)."""
        with self._tx() as db:
            for table in ("comments", "audit_events", "audits", "idempotency_keys", "webhook_deliveries", "tickets",
                          "users"):
                db.execute(f"DELETE FROM {table}")

    def create_ticket(self, fields: dict[str, Any], webhook_url: str = "",
                      idempotency: tuple[str, str] | None = None, author_email: str | None = None,
                      channel: str = "api") -> Write:
        """Creates a ticket, with its audit, unless the idempotency key already names one.

        As in Zendesk, `external_id` is not unique: creating twice with one makes two tickets, so a
        client that must not duplicate looks it up first (or sends an Idempotency-Key).

        Args:
            fields: output of ``tickets.validate_create``.
            webhook_url: when set and the ticket starts solved/closed, an outbox row is written.
            idempotency: ``(Idempotency-Key, hash of the request body)``, or None.
            author_email: the agent who creates it (made a user if new), or None for the system (-1).
            channel: the audit's ``via.channel``.

        Returns:
            The write: status 201 (a replay repeats the first answer's, with the first audit).

        Raises:
            IdempotencyConflict: the key was used before with a different body.
            RecordInvalid: ``requester_id`` names no user.
        """
        with self._tx() as db:
            if idempotency:
                key, digest = idempotency
                db.execute("DELETE FROM idempotency_keys WHERE created_at < ?",
                           (time.time() - IDEMPOTENCY_TTL_SECONDS,))
                seen = db.execute("SELECT * FROM idempotency_keys WHERE key = ?", (key,)).fetchone()
                if seen and seen["request_hash"] != digest:
                    raise IdempotencyConflict(key)
                if seen and self._ticket(db, seen["ticket_id"]):
                    first = db.execute("SELECT id FROM audits WHERE ticket_id = ? ORDER BY id LIMIT 1",
                                       (seen["ticket_id"],)).fetchone()
                    audit = self._audit(db, first["id"]) if first else None
                    return Write(self._ticket(db, seen["ticket_id"]), audit, seen["status_code"], replayed=True)
            ticket_id, status = self._insert_ticket(db, fields), 201
            ticket = self._ticket(db, ticket_id)
            audit_id = self._insert_audit(db, ticket_id, author_email, channel, create_events(ticket, fields["comment"]))
            deliveries = self._record_transition(db, ticket_id, None, webhook_url)
            if idempotency:
                db.execute("INSERT OR REPLACE INTO idempotency_keys VALUES (?, ?, ?, ?, ?)",
                           (*idempotency, ticket_id, status, time.time()))
            return Write(ticket, self._audit(db, audit_id), status, deliveries=deliveries)

    def update_ticket(self, ticket_id: int, changes: dict[str, Any], webhook_url: str = "",
                      author_email: str | None = None, channel: str = "api") -> Write:
        """Applies a partial update, with its audit; a ``comment`` is appended, ``custom_fields`` merge by id.

        Args:
            ticket_id: the ticket to change.
            changes: output of ``tickets.validate_update``.
            webhook_url: when set and the status becomes solved/closed, an outbox row is written.
            author_email: the agent who updates it (made a user if new), or None for the system (-1).
            channel: the audit's ``via.channel``.

        Returns:
            The write: the ticket after the change, its audit (no events if nothing changed), outbox rows.

        Raises:
            NotFound: no such ticket.
            RecordInvalid: the ticket is closed, or ``requester_id`` names no user.
        """
        with self._tx() as db:
            before = self._ticket(db, ticket_id)
            if before is None:
                raise NotFound(f"Ticket {ticket_id} not found.")
            if changes and before["status"] == "closed":
                raise RecordInvalid({"status": ['Invalid status: "closed". A closed ticket cannot be updated.']})
            values = self._resolve_requester(db, dict(changes))
            comment = values.pop("comment", None)
            if "custom_fields" in values:
                merged = {f["id"]: f["value"] for f in before["custom_fields"] + values["custom_fields"]}
                values["custom_fields"] = [{"id": k, "value": v} for k, v in merged.items()]
            values = {k: v for k, v in values.items() if k in _TICKET_COLUMNS and before[k] != v}
            now = utc_now()
            if comment:
                self._insert_comment(db, ticket_id, comment, now)
            if values or comment:
                values["updated_at"] = now
                values.update(self._status_times(before, values.get("status"), now))
                sets = ", ".join(f"{k} = ?" for k in values)
                db.execute(f"UPDATE tickets SET {sets} WHERE id = ?", (*map(_encode, values.values()), ticket_id))
            after = self._ticket(db, ticket_id)
            audit_id = self._insert_audit(db, ticket_id, author_email, channel, change_events(before, after, comment))
            deliveries = self._record_transition(db, ticket_id, before["status"], webhook_url)
            return Write(after, self._audit(db, audit_id), deliveries=deliveries)

    def get_ticket(self, ticket_id: int) -> dict[str, Any]:
        """Returns one ticket.

        Raises:
            NotFound: no such ticket.
        """
        with self._lock:
            ticket = self._ticket(self._db, ticket_id)
        if ticket is None:
            raise NotFound(f"Ticket {ticket_id} not found.")
        return ticket

    def list_tickets(self, offset: int = 0, limit: int = 100, external_id: str | None = None,
                     sort_by: str = "id", descending: bool = False) -> tuple[list[dict[str, Any]], int]:
        """Returns one page of tickets and the total count, optionally only one external_id's."""
        where, args = ("WHERE external_id = ?", [external_id]) if external_id is not None else ("", [])
        order = f"{sort_by if sort_by in SORT_COLUMNS else 'id'} {'DESC' if descending else 'ASC'}, id"
        with self._lock:
            total = self._db.execute(f"SELECT COUNT(*) FROM tickets {where}", args).fetchone()[0]
            rows = self._db.execute(f"SELECT * FROM tickets {where} ORDER BY {order} LIMIT ? OFFSET ?",
                                    (*args, limit, offset)).fetchall()
        return [_decode(row) for row in rows], total

    def page_tickets(self, limit: int, after: int | None = None, before: int | None = None,
                     descending: bool = False, external_id: str | None = None) -> tuple[list[dict[str, Any]], bool]:
        """One page of tickets by id, for cursor pagination.

        Args:
            limit: at most this many tickets.
            after: only ids after this one (in the page order), or None.
            before: only ids before this one (in the page order), or None; the page ends next to it.
            descending: order by id from newest to oldest.
            external_id: only tickets with this external_id, or None for all.

        Returns:
            ``(tickets in page order, has_more)``: has_more is True when more tickets lie beyond the page
            in the direction of travel (after the page, or before it when paging with ``before``).
        """
        where, args = (["external_id = ?"], [external_id]) if external_id is not None else ([], [])
        rows, more = self._keyset("tickets", where, args, limit, after, before, descending)
        return [_decode(row) for row in rows], more

    def search_tickets(self, search: TicketSearch, offset: int, limit: int) -> tuple[list[dict[str, Any]], int]:
        """Returns one page of the tickets a search matches, and how many it matches in all.

        Args:
            search: a query parsed by ``search.parse``.
            offset: tickets to skip.
            limit: at most this many tickets.
        """
        source = f"FROM tickets t LEFT JOIN users u ON u.id = t.requester_id WHERE {search.where}"
        with self._lock:
            total = self._db.execute(f"SELECT COUNT(*) {source}", search.args).fetchone()[0]
            rows = self._db.execute(f"SELECT t.* {source} ORDER BY {search.order} LIMIT ? OFFSET ?",
                                    (*search.args, limit, offset)).fetchall() if limit > 0 else []
        return [_decode(row) for row in rows], total

    def list_comments(self, ticket_id: int) -> list[dict[str, Any]]:
        """Returns a ticket's comments, oldest first (the first one is the description)."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM comments WHERE ticket_id = ? ORDER BY id", (ticket_id,))
            return [dict(row, public=bool(row["public"])) for row in rows.fetchall()]

    def page_comments(self, ticket_id: int, limit: int, after: int | None = None, before: int | None = None,
                      descending: bool = False) -> tuple[list[dict[str, Any]], bool]:
        """One page of a ticket's comments by id, for cursor pagination; see ``page_tickets``."""
        rows, more = self._keyset("comments", ["ticket_id = ?"], [ticket_id], limit, after, before, descending)
        return [dict(row, public=bool(row["public"])) for row in rows], more

    def get_user(self, user_id: int) -> dict[str, Any]:
        """Returns one user.

        Raises:
            NotFound: no such user.
        """
        with self._lock:
            row = self._db.execute("SELECT * FROM users WHERE id = ?", (user_id,)).fetchone()
        if row is None:
            raise NotFound(f"User {user_id} not found.")
        return dict(row)

    def agent(self, email: str) -> dict[str, Any]:
        """Returns the agent with this e-mail address, made one (a new user, or a requester promoted) if needed."""
        with self._tx() as db:
            return dict(db.execute("SELECT * FROM users WHERE id = ?", (self._agent_id(db, email),)).fetchone())

    def pending_deliveries(self) -> list[int]:
        """Returns the ids of webhook deliveries not yet delivered nor given up, oldest first."""
        with self._lock:
            rows = self._db.execute("SELECT id FROM webhook_deliveries WHERE state = 'pending' ORDER BY id")
            return [row["id"] for row in rows.fetchall()]

    def get_delivery(self, delivery_id: int) -> dict[str, Any] | None:
        """Returns one webhook delivery row, or None if it was wiped."""
        with self._lock:
            row = self._db.execute("SELECT * FROM webhook_deliveries WHERE id = ?", (delivery_id,)).fetchone()
        return _decode(row) if row else None

    def list_deliveries(self, ticket_id: int | None = None) -> list[dict[str, Any]]:
        """Returns webhook deliveries (all, or one ticket's), oldest first."""
        where, args = ("WHERE ticket_id = ?", (ticket_id,)) if ticket_id is not None else ("", ())
        with self._lock:
            rows = self._db.execute(f"SELECT * FROM webhook_deliveries {where} ORDER BY id", args).fetchall()
        return [_decode(row) for row in rows]

    def record_attempt(self, delivery_id: int, state: str, status_code: int | None, error: str | None) -> None:
        """Records one delivery attempt and the delivery's new state (pending, delivered, failed)."""
        now = utc_now()
        with self._tx() as db:
            row = db.execute("SELECT history FROM webhook_deliveries WHERE id = ?", (delivery_id,)).fetchone()
            if row is None:
                return
            history = json.loads(row["history"]) + [{"at": now, "status_code": status_code, "error": error}]
            db.execute("UPDATE webhook_deliveries SET state = ?, attempts = attempts + 1, last_status_code = ?, "
                       "last_error = ?, history = ?, updated_at = ?, delivered_at = ? WHERE id = ?",
                       (state, status_code, error, json.dumps(history), now,
                        now if state == "delivered" else None, delivery_id))

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _ticket(self, db: sqlite3.Connection, ticket_id: int) -> dict[str, Any] | None:
        row = db.execute("SELECT * FROM tickets WHERE id = ?", (ticket_id,)).fetchone()
        return _decode(row) if row else None

    def _keyset(self, table: str, where: list[str], args: list, limit: int, after: int | None,
                before: int | None, descending: bool) -> tuple[list[sqlite3.Row], bool]:
        # Paging backwards (before) reads the other way and turns the page round, so it ends next to the cursor.
        backwards = before is not None
        read_ascending = descending == backwards
        conditions = list(where)
        for bound, going_up in ((after, not descending), (before, descending)):
            if bound is not None:
                conditions.append(f"id {'>' if going_up else '<'} ?")
                args = [*args, bound]
        sql = (f"SELECT * FROM {table} {'WHERE ' + ' AND '.join(conditions) if conditions else ''} "
               f"ORDER BY id {'ASC' if read_ascending else 'DESC'} LIMIT ?")
        with self._lock:
            rows = self._db.execute(sql, (*args, limit + 1)).fetchall()
        more, rows = len(rows) > limit, rows[:limit]
        return (rows[::-1] if backwards else rows), more

    def _migrate(self) -> None:
        for table, column, definition in MIGRATIONS:
            columns = {row["name"] for row in self._db.execute(f"PRAGMA table_info({table})")}
            if column not in columns:
                self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")

    def _agent_id(self, db: sqlite3.Connection, email: str) -> int:
        email = email.strip().lower()
        db.execute("INSERT INTO users (name, email, created_at, role) VALUES (?, ?, ?, 'agent') "
                   "ON CONFLICT (email) DO UPDATE SET role = 'agent'", (email.split("@")[0] or email, email, utc_now()))
        return db.execute("SELECT id FROM users WHERE email = ?", (email,)).fetchone()["id"]

    def _insert_audit(self, db: sqlite3.Connection, ticket_id: int, author_email: str | None, channel: str,
                      events: list[dict[str, Any]]) -> int:
        author_id = self._agent_id(db, author_email) if author_email else SYSTEM_AUTHOR_ID
        audit_id = db.execute("INSERT INTO audits (ticket_id, author_id, channel, created_at) VALUES (?, ?, ?, ?)",
                              (ticket_id, author_id, channel, utc_now())).lastrowid
        db.executemany("INSERT INTO audit_events (audit_id, event) VALUES (?, ?)",
                       [(audit_id, json.dumps(event)) for event in events])
        return audit_id

    def _audit(self, db: sqlite3.Connection, audit_id: int) -> dict[str, Any]:
        row = db.execute("SELECT * FROM audits WHERE id = ?", (audit_id,)).fetchone()
        events = db.execute("SELECT id, event FROM audit_events WHERE audit_id = ? ORDER BY id", (audit_id,))
        return render_audit(dict(row), [(event["id"], json.loads(event["event"])) for event in events.fetchall()])

    def _insert_ticket(self, db: sqlite3.Connection, fields: dict[str, Any]) -> int:
        values = self._resolve_requester(db, dict(fields))
        now = utc_now()
        row = {"external_id": None, "priority": None, "type": None, "tags": [], "custom_fields": [],
               "requester_id": None, "satisfaction_rating": None}
        row.update({k: v for k, v in values.items() if k in _TICKET_COLUMNS})
        row.update(description=values["description"], submitter_id=row["requester_id"],
                   created_at=now, updated_at=now, **self._status_times({}, row["status"], now))
        cursor = db.execute(f"INSERT INTO tickets ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                            tuple(map(_encode, row.values())))
        self._insert_comment(db, cursor.lastrowid, values["comment"], now)
        return cursor.lastrowid

    def _insert_comment(self, db: sqlite3.Connection, ticket_id: int, comment: dict[str, Any], now: str) -> None:
        db.execute("INSERT INTO comments (ticket_id, author_id, body, public, created_at) VALUES (?, ?, ?, ?, ?)",
                   (ticket_id, comment.get("author_id"), comment["body"], int(comment.get("public", True)), now))

    def _resolve_requester(self, db: sqlite3.Connection, values: dict[str, Any]) -> dict[str, Any]:
        requester = values.pop("requester", None)
        if requester:
            found = requester["email"] and db.execute(
                "SELECT id FROM users WHERE email = ?", (requester["email"],)).fetchone()
            values["requester_id"] = found["id"] if found else db.execute(
                "INSERT INTO users (name, email, created_at) VALUES (?, ?, ?)",
                (requester["name"], requester["email"], utc_now())).lastrowid
        elif values.get("requester_id") is not None:
            if not db.execute("SELECT 1 FROM users WHERE id = ?", (values["requester_id"],)).fetchone():
                raise RecordInvalid({"requester_id": [
                    f'Invalid requester_id: "{values["requester_id"]}". No user has this id.']})
        return values

    @staticmethod
    def _status_times(before: dict[str, Any], status: str | None, now: str) -> dict[str, Any]:
        if status is None or status == before.get("status"):
            return {}
        if status in FINAL_STATUSES:
            times = {"solved_at": before.get("solved_at") or now}
            return times | ({"closed_at": now} if status == "closed" else {})
        return {"solved_at": None, "closed_at": None}

    def _record_transition(self, db: sqlite3.Connection, ticket_id: int, old_status: str | None,
                           webhook_url: str) -> list[int]:
        ticket = self._ticket(db, ticket_id)
        if not webhook_url or ticket["status"] == old_status or ticket["status"] not in FINAL_STATUSES:
            return []
        body = json.dumps(webhook_body(ticket, f"ticket.{ticket['status']}"), separators=(",", ":"))
        now = utc_now()
        cursor = db.execute("INSERT INTO webhook_deliveries (ticket_id, event, url, payload, created_at, "
                            "updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                            (ticket_id, f"ticket.{ticket['status']}", webhook_url, body, now, now))
        return [cursor.lastrowid]


def _encode(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, (list, dict)) else value


def _decode(row: sqlite3.Row) -> dict[str, Any]:
    out = dict(row)
    for key in _JSON_COLUMNS:
        if key in out and isinstance(out[key], str):
            out[key] = json.loads(out[key])
    return out
