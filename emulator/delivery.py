"""Event delivery to functions with Eventarc's semantics: at least once, retried, dead-lettered.

Events come from the outbox that the store commits with each write. Each ordering key (one trigger
node, e.g. one ticket) is a queue delivered strictly in order, while different keys are delivered
concurrently, so one slow or failing ticket never holds up the others. A failed attempt (connection
error, timeout, non-2xx) is retried with exponential backoff and jitter; after the trigger's
`max_attempts` the event is dead-lettered and kept until replayed. Acknowledged events are deleted
from the outbox in small batches: a crash before that delete only means one more delivery, which
handlers must tolerate anyway (at least once).
"""

import asyncio
import heapq
import itertools
import json
import logging
import random
import time
from collections import deque

import aiohttp
import orjson

from emulator import values
from emulator.errors import StorageUnavailable
from emulator.httpclient import HttpClient
from emulator.triggers import Trigger

MAX_CONCURRENT_DELIVERIES = 64
ACK_FLUSH_S = 0.05
_log = logging.getLogger(__name__)


class _Item:
    __slots__ = ("id", "trigger", "key", "event", "attempts", "due", "queued_at")

    def __init__(self, row_id, trigger, key, event, attempts=0, due=0.0):
        self.id, self.trigger, self.key, self.event = row_id, trigger, key, event
        self.attempts, self.due = attempts, due
        self.queued_at = time.perf_counter()


class Delivery:
    """Delivers committed events; started and stopped with the emulator.

    Args:
      triggers: the live trigger list (looked up by name at each attempt, so a function that
        re-registers on another URL still gets its pending events).
      concurrency: deliveries in flight at once, across keys.
    """

    def __init__(self, triggers: list[Trigger], concurrency: int = MAX_CONCURRENT_DELIVERIES):
        self.triggers = triggers
        self.concurrency = concurrency
        self.db = None
        self.observer = None  # emulator.metrics.Metrics, when attached
        self._queues: dict[str, deque[_Item]] = {}
        self._busy: set[str] = set()
        # Keys whose head is due (each once), and (due, tiebreak, key) of heads waiting for a backoff: the loop
        # visits only these, not every queue (thousands when the function falls behind) at every wake-up.
        self._ready: deque[str] = deque()
        self._ready_keys: set[str] = set()
        self._later: list[tuple[float, int, str]] = []
        self._tiebreak = itertools.count()
        self._acks: list[int] = []
        self._acking: asyncio.Task | None = None  # the ack flush under way: never awaited by the loop itself
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task] = set()  # everything in flight: deliveries and journal bookkeeping
        self._deliveries = 0  # deliveries in flight: only these count against the concurrency limit
        self._runner: asyncio.Task | None = None
        self._session: aiohttp.ClientSession | None = None  # https:// functions
        self._client = HttpClient(keep=concurrency)  # http:// functions (emulator.httpclient)
        self._next_id = 0

    # ---- lifecycle ---------------------------------------------------------------------

    async def start(self, server) -> None:
        """Load undelivered events, subscribe to commits and start delivering."""
        self.db = server.db
        rows = await self._journal("SELECT id, trigger, ordering_key, event, attempts FROM outbox WHERE dead = 0 ORDER BY id")
        top = await self._journal("SELECT COALESCE(MAX(id), 0) FROM outbox")
        self._next_id = top[0][0]
        for row_id, trigger, key, event, attempts in rows:
            self._queues.setdefault(key, deque()).append(_Item(row_id, trigger, key, event, attempts))
        for key in self._queues:
            self._schedule(key)
        self.db.commit_hooks.append(self.on_commit)
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=self.concurrency))
        self._runner = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._runner is not None:
            self._runner.cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._acking is not None:  # not cancelled: its acks would be delivered again after a restart
            await asyncio.gather(self._acking, return_exceptions=True)
        await self._flush_acks()
        if self._session is not None:
            await self._session.close()
        self._client.close()

    def new_id(self) -> int:
        """A fresh outbox row id (the store calls this at apply time)."""
        self._next_id += 1
        return self._next_id

    def on_commit(self, change) -> None:
        """Commit hook: queue the events the change committed."""
        for row_id, trigger, key, event in change.outbox:
            self._queues.setdefault(key, deque()).append(_Item(row_id, trigger, key, event))
            self._schedule(key)
        if change.outbox:
            self._wake.set()

    @property
    def pending(self) -> int:
        return sum(len(q) for q in self._queues.values())

    # ---- scheduling --------------------------------------------------------------------

    def _schedule(self, key: str) -> None:
        """Put `key`'s head up for delivery: now if due, else when its backoff ends (no-op while in flight)."""
        if key in self._busy or key in self._ready_keys:
            return
        queue = self._queues.get(key)
        if not queue:
            return
        due = queue[0].due
        if due <= time.monotonic():
            self._ready.append(key)
            self._ready_keys.add(key)
        else:
            heapq.heappush(self._later, (due, next(self._tiebreak), key))

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        last_ack = loop.time()
        while True:
            self._wake.clear()  # before looking: whatever sets it from here on is seen by the wait below
            now = time.monotonic()
            while self._later and self._later[0][0] <= now:
                self._schedule(heapq.heappop(self._later)[2])
            # At the limit, a finishing delivery sets _wake; bookkeeping tasks must not hold slots,
            # or the loop could sleep with nothing left to wake it.
            while self._ready and self._deliveries < self.concurrency:
                key = self._ready.popleft()
                self._ready_keys.discard(key)
                queue = self._queues.get(key)
                if key in self._busy or not queue:
                    continue
                if queue[0].due > now:  # (a replay reordered the queue behind a head in backoff)
                    self._schedule(key)
                    continue
                self._busy.add(key)
                self._deliveries += 1
                self._spawn(self._deliver(queue[0]))
            # The flush runs beside the loop: it waits for the journal's thread, which may be busy with a slow
            # commit, and deliveries must not wait for it (their acks only say what need not be sent again).
            if self._acks and loop.time() - last_ack >= ACK_FLUSH_S and (self._acking is None or self._acking.done()):
                last_ack = loop.time()
                self._acking = loop.create_task(self._flush_acks())
            wait = ACK_FLUSH_S if self._acks else None
            if self._later:
                wait = min(wait or 3600, max(0.0, self._later[0][0] - time.monotonic()))
            try:
                await asyncio.wait_for(self._wake.wait(), wait)
            except asyncio.TimeoutError:
                pass

    async def _deliver(self, item: _Item) -> None:
        trigger = next((t for t in self.triggers if t.name == item.trigger), None)
        try:
            if trigger is None:
                raise _Failed(f'no trigger named "{item.trigger}" is registered')
            await self._post(trigger, values.loads(item.event))
        except _Failed as exc:
            self._failed(item, trigger, str(exc))
        else:
            self._queues[item.key].popleft()
            self._acks.append(item.id)
            if self.observer is not None:
                self.observer.events_delivered.inc()
                self.observer.delivery_seconds.observe(time.perf_counter() - item.queued_at)
        finally:
            self._busy.discard(item.key)
            self._deliveries -= 1
            if self._queues.get(item.key):
                self._schedule(item.key)
            else:
                self._queues.pop(item.key, None)
            self._wake.set()

    async def _post(self, trigger: Trigger, event: dict) -> None:
        attrs = event["attributes"]
        headers = {"Content-Type": attrs.get("datacontenttype", "application/json")}
        headers.update({f"ce-{k}": str(v) for k, v in attrs.items() if k != "datacontenttype"})
        body = orjson.dumps(event["data"])
        if HttpClient.handles(trigger.url):
            try:
                status, answer = await self._client.post(trigger.url, body, headers, trigger.timeout_s)
            except (OSError, asyncio.TimeoutError, ValueError) as exc:
                raise _Failed(f"{trigger.url} unreachable: {type(exc).__name__}: {exc}") from exc
            if not 200 <= status < 300:
                raise _Failed(f"{trigger.url} answered {status}: {answer.decode('utf-8', 'replace')[:200]}")
            return
        try:
            async with self._session.post(trigger.url, data=body, headers=headers,
                                          timeout=aiohttp.ClientTimeout(total=trigger.timeout_s)) as resp:
                if not 200 <= resp.status < 300:
                    text = (await resp.text())[:200]
                    raise _Failed(f"{trigger.url} answered {resp.status}: {text}")
                # Read to the end ("OK"): aiohttp closes, rather than pools, a connection whose answer was not
                # read, and then a third of the events paid a new connection to the function.
                await resp.read()
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            raise _Failed(f"{trigger.url} unreachable: {type(exc).__name__}: {exc}") from exc

    def _failed(self, item: _Item, trigger: Trigger | None, error: str) -> None:
        item.attempts += 1
        max_attempts = trigger.max_attempts if trigger else 10
        if item.attempts >= max_attempts:
            self._queues[item.key].popleft()
            if self.observer is not None:
                self.observer.events_dead.inc()
            _log.warning("event %s for %s dead-lettered after %d attempts: %s", item.id, item.key, item.attempts, error)
            self._spawn(self._journal("UPDATE outbox SET dead = 1, attempts = ?, last_error = ? WHERE id = ?",
                                      (item.attempts, error, item.id)))
            return
        if self.observer is not None:
            self.observer.events_retried.inc()
        low, high = (trigger.min_backoff_s, trigger.max_backoff_s) if trigger else (1.0, 60.0)
        backoff = min(high, low * 2 ** (item.attempts - 1)) * random.uniform(0.8, 1.2)
        item.due = time.monotonic() + backoff
        _log.info("event %s for %s failed (attempt %d), retry in %.2fs: %s", item.id, item.key, item.attempts, backoff, error)
        self._spawn(self._journal("UPDATE outbox SET attempts = ?, last_error = ? WHERE id = ?",
                                  (item.attempts, error, item.id)))

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _flush_acks(self) -> None:
        acks, self._acks = self._acks, []
        for i in range(0, len(acks), 500):
            part = acks[i:i + 500]
            try:
                await self._journal(f"DELETE FROM outbox WHERE id IN ({','.join('?' * len(part))})", part)
            except StorageUnavailable as exc:  # kept for the next flush; a restart meanwhile delivers them again
                self._acks[:0] = acks[i:]
                _log.warning("could not delete %d delivered events from the outbox: %s", len(acks) - i, exc)
                return

    async def _journal(self, sql, params=()):
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.db._executor, self.db.journal.execute, sql, params)

    # ---- dead letters ------------------------------------------------------------------

    async def dead_letters(self) -> list[dict]:
        rows = await self._journal("SELECT id, trigger, ordering_key, attempts, last_error, event FROM outbox WHERE dead = 1 ORDER BY id")
        return [{"id": r[0], "trigger": r[1], "key": r[2], "attempts": r[3], "last_error": r[4],
                 "subject": json.loads(r[5])["attributes"].get("subject")} for r in rows]

    async def replay(self, ids: list[int] | None = None) -> int:
        """Return dead letters (all, or those in `ids`) to delivery. Returns how many."""
        rows = await self._journal("SELECT id, trigger, ordering_key, event FROM outbox WHERE dead = 1 ORDER BY id")
        chosen = [r for r in rows if ids is None or r[0] in ids]
        for row_id, trigger, key, event in chosen:
            await self._journal("UPDATE outbox SET dead = 0, attempts = 0, last_error = NULL WHERE id = ?", (row_id,))
            queue = self._queues.setdefault(key, deque())
            queue.append(_Item(row_id, trigger, key, event))
            if len(queue) > 1 and queue[-2].id > row_id and key not in self._busy:
                self._queues[key] = deque(sorted(queue, key=lambda it: it.id))
            self._schedule(key)
        self._wake.set()
        return len(chosen)


class _Failed(Exception):
    """One delivery attempt failed."""
