"""The delivery scheduler in-process: a slow journal must never leave it asleep with events waiting.

Regression test of 82cc88a: journal bookkeeping tasks (recording a failed attempt) used to count against
the concurrency limit, so with the limit reached by bookkeeping alone the loop skipped every queue, found
nothing due, and slept without a timeout; the bookkeeping finishing woke nobody, and events waited until
the next write. The crash tests caught it about half the time; this reproduces it every time.
"""

import asyncio
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

from aiohttp import web

from emulator.delivery import ACK_FLUSH_S, Delivery
from emulator.errors import StorageUnavailable
from emulator.triggers import Trigger


class SlowJournal:
    """Stands in for the SQLite journal: every statement takes `delay` seconds."""

    def __init__(self, delay: float):
        self.delay, self.statements = delay, []

    def execute(self, sql, params=()):
        time.sleep(self.delay)
        self.statements.append(sql.split()[0])
        return [(0,)] if "MAX(id)" in sql else []


def _event(key: str) -> str:
    return json.dumps({"attributes": {"id": key, "subject": f"refs/tickets/{key}", "specversion": "1.0",
                                      "type": "google.firebase.database.ref.v1.written",
                                      "datacontenttype": "application/json"},
                       "data": {"data": None, "delta": {"subject": key}}})


async def _function_at_a_port(function) -> tuple[web.AppRunner, Trigger]:
    """`function` served on a free port, and an `enrich` trigger on tickets pointing at it (quick retries)."""
    app = web.Application()
    app.router.add_post("/", function)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    trigger = Trigger("enrich", ("tickets", "{ticketId}"), "google.firebase.database.ref.v1.written",
                      f"http://127.0.0.1:{port}/", max_attempts=5, min_backoff_s=0.01, max_backoff_s=0.02,
                      timeout_s=5)
    return runner, trigger


async def _scenario(keys: list[str], concurrency: int, journal_delay: float, timeout: float) -> dict:
    attempts: dict[str, list[int]] = {}

    async def function(request: web.Request) -> web.Response:
        key = request.headers["ce-subject"].rsplit("/", 1)[1]
        tries = attempts.setdefault(key, [])
        status = 500 if not tries else 200  # each event fails once, then succeeds
        tries.append(status)
        return web.Response(status=status)

    runner, trigger = await _function_at_a_port(function)
    executor = ThreadPoolExecutor(1)
    journal = SlowJournal(journal_delay)
    server = SimpleNamespace(db=SimpleNamespace(commit_hooks=[], _executor=executor, journal=journal))
    delivery = Delivery([trigger], concurrency=concurrency)
    try:
        await delivery.start(server)
        delivery.on_commit(SimpleNamespace(outbox=[(i + 1, "enrich", f"tickets/{k}", _event(k))
                                                   for i, k in enumerate(keys)]))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not all(200 in attempts.get(k, []) for k in keys):
            await asyncio.sleep(0.01)
        return attempts
    finally:
        await delivery.stop()
        await runner.cleanup()
        executor.shutdown()


def test_events_keep_flowing_while_bookkeeping_fills_the_concurrency_limit():
    keys = ["a", "b", "c"]
    attempts = asyncio.run(_scenario(keys, concurrency=1, journal_delay=0.3, timeout=10))
    assert {k: attempts.get(k) for k in keys} == {k: [500, 200] for k in keys}


def test_forty_tickets_that_each_fail_once_all_arrive():
    keys = [f"t{i}" for i in range(40)]
    attempts = asyncio.run(_scenario(keys, concurrency=4, journal_delay=0.01, timeout=20))
    assert {k: attempts.get(k) for k in keys} == {k: [500, 200] for k in keys}


class StuckDeletes:
    """A journal whose deletions of delivered events wait for `release` (a commit held up behind a slow
    checkpoint), or fail while `failing` is set (a full disk); every other statement answers at once."""

    def __init__(self):
        self.release, self.failing = threading.Event(), False
        self.deleted: list[int] = []

    def execute(self, sql, params=()):
        if sql.startswith("DELETE FROM outbox"):
            if self.failing:
                raise StorageUnavailable("the disk is full")
            self.release.wait(10)
            self.deleted += params
        return [(0,)] if "MAX(id)" in sql else []


async def _while_deletions_stick(fail_first: bool) -> tuple[list[str], list[int]]:
    arrived: list[str] = []

    async def function(request: web.Request) -> web.Response:
        arrived.append(request.headers["ce-subject"].rsplit("/", 1)[1])
        return web.Response(status=200)

    runner, trigger = await _function_at_a_port(function)
    executor = ThreadPoolExecutor(1)
    journal = StuckDeletes()
    journal.failing = fail_first
    server = SimpleNamespace(db=SimpleNamespace(commit_hooks=[], _executor=executor, journal=journal))
    delivery = Delivery([trigger], concurrency=4)

    async def until(condition, seconds=5.0):
        deadline = time.monotonic() + seconds
        while not condition() and time.monotonic() < deadline:
            await asyncio.sleep(0.005)

    try:
        await delivery.start(server)
        delivery.on_commit(SimpleNamespace(outbox=[(1, "enrich", "tickets/a", _event("a"))]))
        await until(lambda: arrived == ["a"])
        await asyncio.sleep(3 * ACK_FLUSH_S)  # a's deletion has been tried (and failed, or is stuck)
        journal.failing = False
        for i, key in enumerate("bcd", start=2):  # each written after the one before was delivered
            delivery.on_commit(SimpleNamespace(outbox=[(i, "enrich", f"tickets/{key}", _event(key))]))
            await until(lambda: key in arrived, 1.0)
        seen = list(arrived)
    finally:
        journal.release.set()
        await delivery.stop()
        await runner.cleanup()
        executor.shutdown()
    return seen, sorted(journal.deleted)


def test_events_keep_flowing_while_the_deletion_of_delivered_ones_waits_for_the_journal():
    arrived, deleted = asyncio.run(_while_deletions_stick(fail_first=False))
    assert arrived == ["a", "b", "c", "d"]
    assert deleted == [1, 2, 3, 4]  # each deleted once it could be, none forgotten at the stop


def test_delivered_events_whose_deletion_failed_are_deleted_at_a_later_flush():
    arrived, deleted = asyncio.run(_while_deletions_stick(fail_first=True))
    assert arrived == ["a", "b", "c", "d"]
    assert deleted == [1, 2, 3, 4]
