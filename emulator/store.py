"""The database: namespaces of trees, and the single place where a write is committed.

All state lives on the event loop's thread, so writes are applied in one total order without
locks. `Database.write` applies a write to memory, queues its journal record, and returns once
the group commit that holds it is durable; readers wait for the same point, so nothing that can
still be rolled back is ever shown. Committed writes are then announced, in order, to commit
hooks (the SSE streams, event delivery); write hooks run at apply time and may add outbox rows to
the same transaction (the CloudEvents for functions).
"""

import asyncio
import base64
import gc
import hashlib
import logging
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from emulator import nodehash, tree, values
from emulator.errors import BadRequest, DataStale, PreconditionFailed, StorageUnavailable
from emulator.storage import Journal, Record

NULL_ETAG = "null_etag"
# A snapshot replaces the log once the bytes written to it since the last one reach SNAPSHOT_GROWTH times the size
# of the last snapshot, and at least SNAPSHOT_MIN_BYTES. A snapshot costs in proportion to the tree, so this keeps
# its cost per byte written the same at any size (a fixed count of writes made a year of tickets, 183 MB, rewrite
# itself every 83 s at 200 tickets a second); and a load replays at most that much log over the snapshot.
SNAPSHOT_GROWTH = 1.0
SNAPSHOT_MIN_BYTES = 64 * 1024 * 1024
# A snapshot is written in parts of at most this many children of one node (a node with more children than this
# is split into parts of its own), one part at a time between other work: a year of tickets (183 MB of JSON) in one
# piece held the event loop for half a second and every commit behind it for over a second more.
SNAPSHOT_PART_CHILDREN = 256
# After each part, and after each transaction of its cleanup, a snapshot waits this many times what that step took
# on the event loop or in the writer thread, so that it takes at most a fifth of either while writes go on.
SNAPSHOT_PACE = 4.0
_log = logging.getLogger(__name__)


@dataclass
class Auth:
    """Who is asking: the admin, an end user (uid + token claims), or nobody."""

    kind: str = "admin"  # "admin" | "user" | "unauthenticated"
    uid: str | None = None
    token: dict | None = None


ADMIN = Auth()


@dataclass
class Change:
    """One committed write: the unit journaled, streamed to listeners and turned into events."""

    seq: int
    ns: str
    kind: str  # "put" | "patch"
    base: tuple[str, ...]
    sets: list  # [(absolute path, stored value or None)] applied in order
    auth: Auth
    rendered: list = field(default_factory=list)  # JSON text of each set's value as clients see it
    wire: list | None = None  # JSON text of each set's stored value (priorities kept), built on first use
    undo: list = field(default_factory=list)
    outbox: list = field(default_factory=list)  # (id, trigger, ordering key, event JSON) committed with it
    done: asyncio.Future | None = None


def etag_of(node) -> str:
    """ETag of a stored node: a digest of its exported JSON, or `null_etag` when absent."""
    if node is None:
        return NULL_ETAG
    digest = hashlib.sha1(values.dumps(values.render(node, export=True)).encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


class Database:
    """Namespaces of trees over a journal.

    Args:
      journal: where committed writes go (SQLite file, or in-memory).
      clock: milliseconds since the epoch (server timestamps); injectable for tests.
    """

    def __init__(self, journal: Journal, clock=lambda: int(time.time() * 1000)):
        self.journal = journal
        self.clock = clock
        self.roots: dict[str, object] = {}
        self.rules: dict[str, str] = {}
        self.commit_hooks: list = []  # fn(change) after a change is durable, in order
        self.guards: list = []  # fn(change, root_before, now) raising to refuse a write (security rules)
        # fn(change, root_before) -> None or fn(root_after) -> outbox rows; called at apply time,
        # before and after the write, so hooks can see both sides and add to the same transaction.
        self.write_hooks: list = []
        self.rollback_hooks: list = []  # fn(ns) after writes of `ns` were undone in memory (a failed commit)
        self._seq = 0
        self._durable_seq = 0
        self._pending: list[tuple[Change | None, Record, asyncio.Future | None]] = []
        self._flushing = False
        self._settled: asyncio.Event | None = None
        # Writes applied in memory and not yet durable, counted by where they write: (ns, first key, second key)
        # for a set two or more keys deep, (ns,) for a shallower one. A read elsewhere need not wait for them.
        self._undurable: dict[tuple, int] = {}
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="journal")
        self._logged_bytes = 0  # the log's bytes since the start of the snapshot in force or under way
        self.snapshot_bytes = 0  # the size of the snapshot in force (all namespaces), 0 when there is none
        self.snapshot_hooks: list = []  # fn(seconds, nbytes) after a snapshot is complete, before its cleanup
        self._snapshotting: asyncio.Task | None = None
        self._last_write = time.monotonic()

    def load(self) -> int:
        """Rebuild memory from the journal. Returns the number of log entries replayed.

        The collector is off meanwhile: what is parsed holds no cycles, and each full collection it would make
        as the tree grows goes over all of the tree parsed so far."""
        enabled = gc.isenabled()
        gc.disable()
        try:
            return self._load()
        finally:
            if enabled:
                gc.enable()

    def _load(self) -> int:
        trees, log, rules, last, self.snapshot_bytes, self._logged_bytes = self.journal.load()
        self.roots.update(trees)
        self.rules.update(rules)
        for _, ns, sets in log:
            root = self.roots.get(ns)
            for path, value in sets:
                root, _ = tree.set_at(root, tuple(path), value)
            self.roots[ns] = root
        self._seq = self._durable_seq = last
        return len(log)

    # ---- reads -------------------------------------------------------------------------

    def get(self, ns: str, path: tuple[str, ...]):
        """The stored node at `path` (may include writes not yet durable: see `settle`)."""
        return tree.get(self.roots.get(ns), path)

    def idle_for(self) -> float:
        """Seconds since the last write was applied (or since the database was made)."""
        return time.monotonic() - self._last_write

    def durable_at(self, ns: str, path: tuple[str, ...]) -> bool:
        """True when nothing at, above or below `path` waits to be durable, so what `get` answers there is
        durable now. Known only for paths two or more keys deep (one ticket, not all of them): a shallower path
        answers True only when nothing of `ns` waits."""
        if len(path) < 2:
            return not any(key[0] == ns for key in self._undurable)
        return (ns,) not in self._undurable and (ns, path[0], path[1]) not in self._undurable

    def _count_undurable(self, change: "Change", step: int) -> None:
        for path, _ in change.sets:
            key = (change.ns, path[0], path[1]) if len(path) >= 2 else (change.ns,)
            left = self._undurable.get(key, 0) + step
            if left:
                self._undurable[key] = left
            else:
                del self._undurable[key]

    async def settle(self, ns: str | None = None, path: tuple[str, ...] | None = None) -> None:
        """Wait until every write applied so far is durable (or rolled back); with a location (`ns`, `path`), only
        if one of them touches what a read there answers (`durable_at`)."""
        if ns is not None and path is not None and self.durable_at(ns, path):
            return
        target = self._seq
        while self._durable_seq < target and self._pending_or_flushing():
            if self._settled is None:
                self._settled = asyncio.Event()
            await self._settled.wait()

    def _pending_or_flushing(self) -> bool:
        return bool(self._pending) or self._flushing

    # ---- writes ------------------------------------------------------------------------

    async def write(self, ns: str, kind: str, base: tuple[str, ...], sets: list, auth: Auth = ADMIN,
                    if_match: str | None = None) -> Change:
        """Apply a write atomically and return once it is durable.

        Args:
          ns: namespace.
          kind: "put" (one set at `base`) or "patch" (sets below `base`, non-overlapping).
          base: the location the request addressed.
          sets: [(absolute path, normalised value or None)], may hold `.sv` placeholders.
          auth: who writes (recorded on events).
          if_match: an ETag the current value at `base` must have.

        Raises:
          PermissionDenied: a guard (the security rules) refused the write.
          PreconditionFailed: `if_match` does not match.
          StorageUnavailable: the journal refused the commit; nothing changed.
        """
        change = self.apply(ns, kind, base, sets, auth, if_match=if_match)
        # Shielded: a request cancelled while waiting (its client went away) leaves the write to commit
        # like the others, announced and delivered; only the answer is lost, as when it is lost in transit.
        await asyncio.shield(change.done)
        return change

    def apply(self, ns: str, kind: str, base: tuple[str, ...], sets: list, auth: Auth = ADMIN,
              if_match: str | None = None, if_hash: str | None = None) -> Change:
        """Apply a write in memory and queue its commit, without waiting: `change.done` resolves when durable.

        Writes are applied in the order of the calls, so a connection that applies its requests as
        they arrive keeps their order. Arguments and errors as `write`, and:

        Args:
          if_hash: the SDK's hash (`nodehash.node_hash`) the node at `base` must have: a transaction.

        Raises:
          DataStale: `if_hash` does not match.
        """
        root = self.roots.get(ns)
        now = self.clock()
        resolved = [(p, tree.resolve_server_values(root, p, v, now) if isinstance(v, dict) else v) for p, v in sets]
        change = Change(0, ns, kind, base, resolved, auth)
        for guard in self.guards:
            guard(change, root, now)  # raises (PermissionDenied) before anything changes
        # After the guards: a 412 carries the current value, which a caller the rules refuse must not see.
        if if_match is not None:
            current = tree.get(root, base)
            if etag_of(current) != if_match:
                raise PreconditionFailed(etag_of(current), values.dumps(values.render(current)))
        if if_hash is not None and nodehash.node_hash(tree.get(root, base)) != if_hash:
            raise DataStale(f'Transaction at "{values.path_str(base)}" was based on a stale value. Retry with the current one.')
        self._seq += 1
        change.seq = self._seq
        change.rendered = [values.dumps(values.render(v)) for _, v in resolved]
        finishers = [f for f in (hook(change, root) for hook in self.write_hooks) if f is not None]
        for path, value in resolved:
            root, undo = tree.set_at(root, path, value)
            change.undo.append(undo)
        self.roots[ns] = root
        outbox = change.outbox = [row for finish in finishers for row in finish(root)]
        payload = values.dumps([[list(p), v] for p, v in resolved])
        change.done = asyncio.get_running_loop().create_future()
        self._enqueue(change, Record("write", ns, change.seq, payload, outbox))
        self._count_undurable(change, +1)
        self._last_write = time.monotonic()
        self._logged_bytes += len(payload)
        if self._logged_bytes >= self.snapshot_due_at():
            self.snapshot()
        return change

    async def set_rules(self, ns: str, source: str) -> None:
        """Store a namespace's rules source durably."""
        old = self.rules.get(ns)
        self.rules[ns] = source
        fut = asyncio.get_running_loop().create_future()
        self._enqueue(None, Record("rules", ns, self._seq, source), fut)
        try:
            await fut
        except StorageUnavailable:
            if old is None:
                self.rules.pop(ns, None)
            else:
                self.rules[ns] = old
            raise

    @property
    def logged_bytes(self) -> int:
        """Bytes written to the log since the start of the snapshot in force or under way."""
        return self._logged_bytes

    def snapshot_due_at(self) -> float:
        """The log's size (`logged_bytes`) at which the next snapshot starts."""
        return max(SNAPSHOT_MIN_BYTES, SNAPSHOT_GROWTH * self.snapshot_bytes)

    def snapshot(self) -> None:
        """Start a snapshot of every namespace, unless one is under way; the log up to the write applied last is
        dropped when it completes (`_snapshot`)."""
        if self._snapshotting is None or self._snapshotting.done():
            covered, self._logged_bytes = self._logged_bytes, 0
            self._snapshotting = asyncio.get_running_loop().create_task(self._snapshot(self._seq, covered))

    async def snapshot_finished(self) -> None:
        """Wait for the snapshot under way, if any, to complete or give up."""
        if self._snapshotting is not None:
            await asyncio.wait([self._snapshotting])

    async def _snapshot(self, seq: int, covered: int) -> None:
        """Journal each namespace's tree in parts (`tree.snapshot_parts`), one part at a time, while writes go on.

        The parts are taken at different moments after write `seq`, so together they are no one moment's tree;
        but every write after `seq` stays in the log and is replayed over them on load. A write sets values at
        absolute paths, so replaying writes in order over a tree that already holds some of their effects ends
        where replaying them over the tree at `seq` does (`tests/emulator/test_store.py` writes during snapshots
        and compares the reloaded tree). Each namespace's snapshot completes with a record after its last part;
        a crash before that leaves the previous snapshot in force. Its log up to `seq` and the parts of older
        snapshots, which load no longer reads, are then deleted in small transactions. A failed commit (rolled
        back, which may reuse sequence numbers) abandons the snapshot, and the log it would have replaced counts
        towards the next (`covered`: its bytes).
        """
        loop = asyncio.get_running_loop()

        async def journaled(record: Record) -> None:
            done = loop.create_future()
            self._enqueue(None, record, done)
            await done  # one part at a time: the event loop serves requests in between

        attempt = secrets.randbits(62)  # its parts' mark: an abandoned attempt's are never read as another's
        started, nbytes, parts, namespaces = time.perf_counter(), 0, 0, list(self.roots)
        try:
            for ns in namespaces:
                taken = iter(tree.snapshot_parts(self.roots.get(ns), SNAPSHOT_PART_CHILDREN))
                while True:
                    began = time.perf_counter()
                    # Each part is serialised as soon as it is taken, before anything else runs.
                    path, part = next(taken, (None, None))
                    if path is None:
                        break
                    payload = values.dumps([list(path), part])
                    busy = time.perf_counter() - began
                    nbytes, parts = nbytes + len(payload), parts + 1
                    await journaled(Record("snapshot_part", ns, attempt, payload))
                    await asyncio.sleep(busy * SNAPSHOT_PACE)
                await journaled(Record("snapshot", ns, seq, str(attempt)))
        except StorageUnavailable:
            self._logged_bytes += covered  # the commit failed and was rolled back; the next snapshot starts over
            return
        except asyncio.CancelledError:  # abandoned (a rollback, or close): the log it would replace stays
            self._logged_bytes += covered
            raise
        seconds = time.perf_counter() - started
        self.snapshot_bytes = nbytes
        for hook in self.snapshot_hooks:
            hook(seconds, nbytes)
        try:
            for ns in namespaces:
                # Then what it replaces goes, a little at a time, in the writer thread between commits (deleting
                # the last one's 183 MB of parts in one transaction held every commit for 0.7 s).
                while True:
                    began = time.perf_counter()
                    if not await loop.run_in_executor(self._executor, self.journal.collect, ns):
                        break
                    await asyncio.sleep((time.perf_counter() - began) * SNAPSHOT_PACE)
        except StorageUnavailable:
            return  # what is left is deleted after the next snapshot
        _log.info("snapshot at write %d: %.1f MB in %d parts in %.2f s, then %.2f s deleting what it replaced",
                  seq, nbytes / 1e6, parts, seconds, time.perf_counter() - started - seconds)

    def _enqueue(self, change, record, fut=None):
        self._pending.append((change, record, fut))
        if not self._flushing:
            self._flushing = True
            asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self):
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    await loop.run_in_executor(self._executor, self.journal.commit, [rec for _, rec, _ in batch])
                except StorageUnavailable as exc:
                    self._rollback(batch + self._pending, exc)
                    self._pending = []
                    self._wake_settlers()
                    continue
                self._durable_seq = max([self._durable_seq] + [c.seq for c, _, _ in batch if c is not None])
                for change, _, fut in batch:
                    if change is not None:
                        self._count_undurable(change, -1)
                        self._announce(change)
                        if not change.done.done():  # its request may be gone (client disconnected)
                            change.done.set_result(None)
                    elif fut is not None and not fut.done():
                        fut.set_result(None)
                self._wake_settlers()
        finally:
            self._flushing = False
            self._wake_settlers()

    def _wake_settlers(self) -> None:
        if self._settled is not None:
            self._settled.set()
            self._settled = None

    def _announce(self, change: Change) -> None:
        for hook in self.commit_hooks:
            try:
                hook(change)
            except Exception:  # a broken listener must never undo a durable write
                _log.exception("commit hook failed for seq %s", change.seq)

    def _rollback(self, entries, exc: StorageUnavailable) -> None:
        """Undo every applied-but-not-durable write, newest first, and fail its request; abandon a snapshot under
        way (it may hold some of them, and the sequence numbers given back are given again)."""
        if self._snapshotting is not None:
            self._snapshotting.cancel()
        for change, _, fut in reversed(entries):
            if change is not None:
                self._count_undurable(change, -1)
                root = self.roots.get(change.ns)
                for path, old in reversed(change.undo):
                    root, _ = tree.set_at(root, path, old)
                self.roots[change.ns] = root
                self._seq = min(self._seq, change.seq - 1)
                for hook in self.rollback_hooks:
                    hook(change.ns)
                if not change.done.done():
                    change.done.set_exception(StorageUnavailable(str(exc)))
            elif fut is not None and not fut.done():
                fut.set_exception(StorageUnavailable(str(exc)))

    async def close(self) -> None:
        """Flush what is queued, then close the journal (a snapshot under way is abandoned: the one before it stays
        in force)."""
        if self._snapshotting is not None:
            self._snapshotting.cancel()
            await asyncio.wait([self._snapshotting])
        await self.settle()
        self._executor.shutdown(wait=True)
        self.journal.close()


def check_no_overlap(paths: list[tuple[str, ...]]) -> None:
    """Reject a multi-path update in which one path is an ancestor of another.

    Raises:
      BadRequest: naming both paths.
    """
    ordered = sorted(paths)
    for a, b in zip(ordered, ordered[1:]):
        if b[: len(a)] == a:
            raise BadRequest(
                f'Invalid data; update paths "{values.path_str(a)}" and "{values.path_str(b)}" overlap. '
                "A multi-path update may not write a path and one of its descendants."
            )
