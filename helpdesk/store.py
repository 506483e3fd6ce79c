"""SQLite persistence of the stub: tickets, users, comments, idempotency keys, webhook outbox.

One connection in WAL mode behind a lock, so every request thread and the webhook worker share it safely.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any, Iterator

from helpdesk.errors import IdempotencyConflict, NotFound, RecordInvalid
from helpdesk.schema import SCHEMA
from helpdesk.tickets import FINAL_STATUSES, webhook_body

IDEMPOTENCY_TTL_SECONDS = 2 * 60 * 60  # Zendesk keeps an Idempotency-Key for two hours.
SORT_COLUMNS = ("id", "created_at", "updated_at", "status", "subject")
_BUSY_TIMEOUT_MS = 5_000
_JSON_COLUMNS = ("tags", "custom_fields", "satisfaction_rating", "history")
_TICKET_COLUMNS = ("external_id", "subject", "raw_subject", "status", "priority", "type", "tags",
                   "custom_fields", "requester_id", "satisfaction_rating")


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

    def close(self) -> None:
        """Closes the connection; the store is unusable afterwards."""
        with self._lock:
            self._db.close()

    def wipe(self) -> None:
        """Deletes every row of every table (ids keep increasing, so old links never alias)."""
        with self._tx() as db:
            for table in ("comments", "idempotency_keys", "webhook_deliveries", "tickets", "users"):
                db.execute(f"DELETE FROM {table}")

    def create_ticket(self, fields: dict[str, Any], webhook_url: str = "",
                      idempotency: tuple[str, str] | None = None) -> tuple[dict[str, Any], int, bool, list[int]]:
        """Creates a ticket unless the idempotency key already names one.

        As in Zendesk, `external_id` is not unique: creating twice with one makes two tickets, so a
        client that must not duplicate looks it up first (or sends an Idempotency-Key).

        Args:
            fields: output of ``tickets.validate_create``.
            webhook_url: when set and the ticket starts solved/closed, an outbox row is written.
            idempotency: ``(Idempotency-Key, hash of the request body)``, or None.

        Returns:
            ``(ticket, status_code, replayed, delivery_ids)``: status 201 (a replay repeats the
            first answer's); ``replayed`` is True when the idempotency key was seen before.

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
                    return self._ticket(db, seen["ticket_id"]), seen["status_code"], True, []
            ticket_id, status = self._insert_ticket(db, fields), 201
            deliveries = self._record_transition(db, ticket_id, None, webhook_url)
            if idempotency:
                db.execute("INSERT OR REPLACE INTO idempotency_keys VALUES (?, ?, ?, ?, ?)",
                           (*idempotency, ticket_id, status, time.time()))
            return self._ticket(db, ticket_id), status, False, deliveries

    def update_ticket(self, ticket_id: int, changes: dict[str, Any],
                      webhook_url: str = "") -> tuple[dict[str, Any], list[int]]:
        """Applies a partial update; a ``comment`` is appended, ``custom_fields`` merge by id.

        Args:
            ticket_id: the ticket to change.
            changes: output of ``tickets.validate_update``.
            webhook_url: when set and the status becomes solved/closed, an outbox row is written.

        Returns:
            ``(ticket, delivery_ids)``: the ticket after the change and any outbox rows written.

        Raises:
            NotFound: no such ticket.
            RecordInvalid: the ticket is closed, or ``requester_id`` names no user.
        """
        with self._tx() as db:
            before = self._ticket(db, ticket_id)
            if before is None:
                raise NotFound(f"Ticket {ticket_id} not found.")
            if not changes:
                return before, []
            if before["status"] == "closed":
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
            return self._ticket(db, ticket_id), self._record_transition(db, ticket_id, before["status"], webhook_url)

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

    def list_comments(self, ticket_id: int) -> list[dict[str, Any]]:
        """Returns a ticket's comments, oldest first (the first one is the description)."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM comments WHERE ticket_id = ? ORDER BY id", (ticket_id,))
            return [dict(row, public=bool(row["public"])) for row in rows.fetchall()]

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
