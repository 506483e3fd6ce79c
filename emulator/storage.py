"""Durable storage of the database: a SQLite journal in WAL mode, with periodic snapshots.

Why SQLite rather than a hand-written append-only file: one SQLite transaction covers the write
itself and the events it triggers (the outbox), and a snapshot is in force from the transaction that
records its completion, so "the write and its event are both there or both absent" and "a snapshot is
whole or not used" hold after any crash without recovery code of ours; `synchronous=FULL`
fsyncs the WAL at every commit, so an acknowledged write survives `kill -9` and power loss; and the
file can be inspected with any SQLite tool. Concurrent writes are grouped into one transaction
(group commit), so the fsync cost is shared and throughput grows with concurrency.

Layout: `log` holds committed writes since the last snapshot, `snapshot` the last complete snapshot's sequence
number per namespace, with its tree in `tree`: `parts:<attempt>` when it is the `snapshot_part` rows of that attempt
(`tree.snapshot_parts`, in `id` order; each attempt at a snapshot has its own random number, so the parts of one
abandoned are never taken for another's), or the JSON tree itself as snapshots were written before 2026-12-07;
`rules` the rules source per namespace, and `outbox` the events still to deliver.
"""

import os
import sqlite3
import threading
from pathlib import Path

from emulator import tree as tree_module, values
from emulator.errors import StorageUnavailable

DB_FILENAME = "database.sqlite3"
# What `Journal.collect` deletes in one transaction at most (unless one row alone is larger): deleting takes about
# 3-7 ms a MB here, and commits wait meanwhile (50 log rows of 3.6 MB, a year of tickets imported, took 772 ms).
COLLECT_BYTES = 2_000_000
_PARTS = b"parts:"  # how `snapshot.tree` starts when the tree is in parts (JSON never starts so)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS log (seq INTEGER PRIMARY KEY, ns TEXT NOT NULL, sets TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS snapshot (ns TEXT PRIMARY KEY, seq INTEGER NOT NULL, tree TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS snapshot_part (
    id INTEGER PRIMARY KEY, ns TEXT NOT NULL, attempt INTEGER NOT NULL, data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS snapshot_part_by_attempt ON snapshot_part (ns, attempt, id);
CREATE TABLE IF NOT EXISTS rules (ns TEXT PRIMARY KEY, source TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY,
    trigger TEXT NOT NULL,
    ordering_key TEXT NOT NULL,
    event TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    dead INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS outbox_ready ON outbox (dead, ordering_key, id);
"""


class Record:
    """One unit to journal: a write, a rules change, a snapshot's part (`seq`: the attempt's number) or completion
    (`payload`: the attempt's number), or outbox rows."""

    __slots__ = ("kind", "ns", "seq", "payload", "outbox")

    def __init__(self, kind: str, ns: str, seq: int, payload: str, outbox=()):
        self.kind, self.ns, self.seq, self.payload, self.outbox = kind, ns, seq, payload, list(outbox)


def _within(conn: sqlite3.Connection, sql: str, params: tuple, limit_bytes: int, at_least_one: bool = True) -> dict:
    """{id: size} of the first rows (id, size) `sql` selects whose sizes add up to at most `limit_bytes` (the first
    row even when it alone is larger, if `at_least_one`). Rows are read one at a time and no further than needed:
    measuring a text reads it."""
    picked, total = {}, 0
    cursor = conn.execute(sql, params)
    try:
        for row_id, size in cursor:
            if total + size > limit_bytes and (picked or not at_least_one):
                break
            picked[row_id] = size
            total += size
    finally:
        cursor.close()
    return picked


class Journal:
    """SQLite-backed journal. `commit` is called from one writer thread only."""

    def __init__(self, data_dir: str | os.PathLike):
        self.path = Path(data_dir) / DB_FILENAME
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            _probe_writable(self.path.parent)
        except OSError as exc:
            raise StorageUnavailable(
                f'Cannot open the data dir "{data_dir}": {exc.strerror or exc}. '
                "It must be a writable folder with free space (--data-dir, or --in-memory).") from exc
        try:
            self._conn = self._connect()
        except sqlite3.Error as exc:
            raise StorageUnavailable(f'Cannot open the data dir "{data_dir}": {exc}.') from exc
        self._lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.executescript(_SCHEMA)
        return conn

    @property
    def durable(self) -> bool:
        return True

    def load(self):
        """Read the stored state.

        Returns:
          (trees, log, rules, last_seq, snapshot_bytes, log_bytes): snapshot trees per namespace, the (seq, ns,
          sets) log rows after each namespace's snapshot in order, rules sources per namespace, the highest
          sequence number seen, and the bytes of the snapshots and of those log rows as stored.
        """
        with self._lock:
            # As bytes (BLOB): orjson parses UTF-8 directly, where a str of a whole tree would be built first,
            # at up to four bytes a character, and kept in memory as a high-water mark.
            snaps, snapshot_bytes = {}, 0
            for ns, seq, stored in self._conn.execute("SELECT ns, seq, CAST(tree AS BLOB) FROM snapshot").fetchall():
                if stored.startswith(_PARTS):
                    tree, nbytes = self._assembled(ns, stored)
                else:  # one piece, as snapshots were written before 2026-12-07
                    tree, nbytes = values.loads(stored), len(stored)
                snaps[ns] = (seq, tree)
                snapshot_bytes += nbytes
            rows = self._conn.execute("SELECT seq, ns, CAST(sets AS BLOB) FROM log ORDER BY seq").fetchall()
            rules = dict(self._conn.execute("SELECT ns, source FROM rules"))
        last = max([seq for seq, _ in snaps.values()] + [row[0] for row in rows] + [0])
        trees = {ns: tree for ns, (_, tree) in snaps.items()}
        rows = [row for row in rows if row[0] > snaps.get(row[1], (0,))[0]]
        log = [(seq, ns, values.loads(sets)) for seq, ns, sets in rows]
        return trees, log, rules, last, snapshot_bytes, sum(len(sets) for _, _, sets in rows)

    def _assembled(self, ns: str, marker: bytes):
        """The tree of a snapshot in parts (`marker`: its `tree`, `parts:<attempt>`) from its parts, and their bytes
        (the caller holds the lock)."""
        rows = self._conn.execute(
            "SELECT CAST(data AS BLOB) FROM snapshot_part WHERE ns = ? AND attempt = ? ORDER BY id",
            (ns, int(marker[len(_PARTS):])))
        nbytes = 0

        def parts():
            nonlocal nbytes
            for (data,) in rows:
                nbytes += len(data)
                path, part = values.loads(data)
                yield tuple(path), part

        return tree_module.assemble(parts()), nbytes

    def commit(self, records: list[Record]) -> None:
        """Write `records` in one transaction and fsync it.

        Raises:
          StorageUnavailable: the transaction failed; nothing of it is stored.
        """
        with self._lock:
            conn = self._conn
            try:
                conn.execute("BEGIN IMMEDIATE")
                for rec in records:
                    if rec.kind == "write":
                        conn.execute("INSERT INTO log (seq, ns, sets) VALUES (?, ?, ?)", (rec.seq, rec.ns, rec.payload))
                    elif rec.kind == "rules":
                        conn.execute("INSERT OR REPLACE INTO rules (ns, source) VALUES (?, ?)", (rec.ns, rec.payload))
                    elif rec.kind == "snapshot_part":  # `seq` is the attempt's number
                        conn.execute("INSERT INTO snapshot_part (ns, attempt, data) VALUES (?, ?, ?)",
                                     (rec.ns, rec.seq, rec.payload))
                    elif rec.kind == "snapshot":  # the attempt (`payload`) has all its parts: they are the snapshot now
                        # What it replaces (older parts, the log up to seq) is left to `collect`, a little at a time.
                        conn.execute("INSERT OR REPLACE INTO snapshot (ns, seq, tree) VALUES (?, ?, ?)",
                                     (rec.ns, rec.seq, f"parts:{int(rec.payload)}"))
                    if rec.outbox:
                        conn.executemany("INSERT INTO outbox (id, trigger, ordering_key, event) VALUES (?, ?, ?, ?)", rec.outbox)
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
                raise StorageUnavailable(f'The data dir "{self.path.parent}" refused the write ({exc}). The write was not applied.') from exc

    def collect(self, ns: str, limit_parts: int = 2, limit_log: int = 500,
                limit_bytes: int = COLLECT_BYTES) -> int:
        """Delete, in one transaction, up to `limit_parts` snapshot parts and `limit_log` log rows of `ns` that its
        snapshot in force makes useless (parts of other snapshots, writes it holds), and no more than `limit_bytes`
        of them unless one row alone is larger (deleting takes time in proportion to the bytes freed, and a log
        row can hold a multi-path write of thousands of tickets). Returns how many went: 0 when nothing is left.
        Called from the writer thread, between commits, so that none waits long behind it.

        Raises:
          StorageUnavailable: the transaction failed; nothing of it is deleted.
        """
        with self._lock:
            conn = self._conn
            try:
                conn.execute("BEGIN IMMEDIATE")
                found = conn.execute("SELECT seq, substr(tree, 1, 40) FROM snapshot WHERE ns = ?", (ns,)).fetchone()
                deleted = 0
                if found is not None:
                    seq, marker = found
                    attempt = int(marker[len(_PARTS):]) if marker.startswith("parts:") else None
                    parts = _within(conn, "SELECT id, length(data) FROM snapshot_part "
                                          "WHERE ns = ? AND attempt IS NOT ? LIMIT ?", (ns, attempt, limit_parts),
                                    limit_bytes)
                    conn.executemany("DELETE FROM snapshot_part WHERE id = ?", [(i,) for i in parts])
                    rows = _within(conn, "SELECT seq, length(sets) FROM log WHERE ns = ? AND seq <= ? LIMIT ?",
                                   (ns, seq, limit_log), limit_bytes - sum(parts.values()), at_least_one=not parts)
                    conn.executemany("DELETE FROM log WHERE seq = ?", [(i,) for i in rows])
                    deleted = len(parts) + len(rows)
                conn.execute("COMMIT")
                return deleted
            except sqlite3.Error as exc:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
                raise StorageUnavailable(f'The data dir "{self.path.parent}" failed: {exc}.') from exc

    def execute(self, sql: str, params=()) -> list:
        """Run one statement on the journal's connection (used by event delivery for its outbox)."""
        with self._lock:
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise StorageUnavailable(f'The data dir "{self.path.parent}" failed: {exc}.') from exc

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def _probe_writable(folder: Path) -> None:
    """Raise OSError (read-only file system, no space, ...) unless `folder` takes a durable write."""
    probe = folder / ".write-probe"
    fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, b"probe")
        os.fsync(fd)
    finally:
        os.close(fd)
        probe.unlink(missing_ok=True)


class MemoryJournal(Journal):
    """The same journal over an in-memory SQLite database: nothing survives the process."""

    def __init__(self):
        self.path = Path(":memory:")
        self._conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        self._conn.executescript(_SCHEMA)
        self._lock = threading.Lock()

    @property
    def durable(self) -> bool:
        return False
