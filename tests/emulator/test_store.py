"""The store in-process: commit, rollback when the journal fails, snapshots, replay, push ids."""

import asyncio
import threading

import pytest

from emulator import store as store_module
from emulator.errors import StorageUnavailable
from emulator.pushid import PUSH_CHARS, PushIdGenerator
from emulator.storage import Journal
from emulator.store import Database


class FlakyJournal(Journal):
    """A real SQLite journal whose next commits can be made to fail, as a full disk would."""

    fail = False

    def commit(self, records):
        if self.fail:
            raise StorageUnavailable("disk full (simulated)")
        super().commit(records)


def run(coro):
    return asyncio.run(coro)


def test_failed_commit_rolls_back_memory_and_fails_every_pending_write(tmp_path):
    async def scenario():
        db = Database(FlakyJournal(tmp_path))
        await db.write("ns", "put", ("a",), [(("a",), {"x": 1})])
        db.journal.fail = True
        first = asyncio.ensure_future(db.write("ns", "put", ("a", "x"), [(("a", "x"), 2)]))
        second = asyncio.ensure_future(db.write("ns", "patch", (), [(("b",), 3), (("a", "y"), 4)]))
        results = await asyncio.gather(first, second, return_exceptions=True)
        assert all(isinstance(r, StorageUnavailable) for r in results)
        assert db.roots["ns"] == {"a": {"x": 1}}
        db.journal.fail = False
        await db.write("ns", "put", ("c",), [(("c",), 5)])
        await db.close()

    run(scenario())
    reopened = Database(Journal(tmp_path))
    reopened.load()
    assert reopened.roots["ns"] == {"a": {"x": 1}, "c": 5}


def test_snapshot_compacts_the_log_and_replays(tmp_path, monkeypatch):
    monkeypatch.setattr(store_module, "SNAPSHOT_EVERY", 10)

    async def scenario():
        db = Database(Journal(tmp_path))
        for i in range(25):
            await db.write("ns", "put", ("k", str(i)), [(("k", str(i)), i)])
        await db.write("other", "put", (), [((), "leaf")])
        await db.close()

    run(scenario())
    journal = Journal(tmp_path)
    log_rows = journal.execute("SELECT COUNT(*) FROM log")[0][0]
    assert log_rows < 10
    db = Database(journal)
    db.load()
    assert db.roots["ns"] == {"k": {str(i): i for i in range(25)}}
    assert db.roots["other"] == "leaf"


def test_server_values_resolve_against_state_before_the_write(tmp_path):
    async def scenario():
        db = Database(Journal(tmp_path), clock=lambda: 1234)
        await db.write("ns", "put", ("n",), [(("n",), 10)])
        inc = {".sv": {"increment": 5}}
        await db.write("ns", "patch", (), [(("n",), dict(inc)), (("m",), dict(inc)), (("t",), {".sv": "timestamp"})])
        assert db.roots["ns"] == {"n": 15, "m": 5, "t": 1234}
        await db.close()

    run(scenario())


@pytest.mark.parametrize("clock_values", [[1000] * 500, list(range(1000, 1500))])
def test_push_ids_strictly_increase(clock_values):
    ticks = iter(clock_values)
    gen = PushIdGenerator(clock=lambda: next(ticks))
    ids = [gen.next_id() for _ in clock_values]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert all(len(i) == 20 and set(i) <= set(PUSH_CHARS) for i in ids)


def test_push_ids_random_characters_are_uniform_in_every_position():
    # Each of the 12 characters is six bits of one draw: every position takes every value, none favoured.
    ticks = iter(range(1000, 5000))
    gen = PushIdGenerator(clock=lambda: next(ticks))
    ids = [gen.next_id() for _ in range(4000)]
    for position in range(8, 20):
        counts = {ch: 0 for ch in PUSH_CHARS}
        for i in ids:
            counts[i[position]] += 1
        assert min(counts.values()) >= 15 and max(counts.values()) <= 120, (position, counts)  # 62.5 expected


def test_push_id_encodes_the_timestamp():
    gen = PushIdGenerator(clock=lambda: 1_700_000_000_000)
    stamp = gen.next_id()[:8]
    value = 0
    for ch in stamp:
        value = value * 64 + PUSH_CHARS.index(ch)
    assert value == 1_700_000_000_000


class SlowJournal(Journal):
    """A real SQLite journal whose commits take a while, so several writes share one group commit."""

    def commit(self, records):
        import time
        time.sleep(0.2)
        super().commit(records)


def test_a_write_whose_request_is_cancelled_still_commits_and_strands_no_other_write(tmp_path):
    # Regression: a request cancelled while its write waited for the group commit (a client that
    # disconnected, e.g. a function killed -9 mid-PATCH) made the flush raise InvalidStateError; the
    # writes after it in the batch were durable but never announced (no events) and never answered.
    async def scenario():
        db = Database(SlowJournal(tmp_path))
        announced = []
        db.commit_hooks.append(lambda change: announced.append(change.sets[0][0]))
        await db.write("ns", "put", ("warm",), [(("warm",), 0)])  # the next three share a batch
        writes = [asyncio.ensure_future(db.write("ns", "put", (k,), [((k,), i)])) for i, k in enumerate("abc")]
        await asyncio.sleep(0.05)
        writes[0].cancel()
        results = await asyncio.wait_for(asyncio.gather(*writes, return_exceptions=True), 5)
        assert isinstance(results[0], asyncio.CancelledError) and not any(isinstance(r, Exception) for r in results[1:])
        await db.settle()
        assert db.roots["ns"] == {"warm": 0, "a": 0, "b": 1, "c": 2}
        assert announced == [("warm",), ("a",), ("b",), ("c",)]  # the cancelled write's events go out too
        await db.write("ns", "put", ("d",), [(("d",), 3)])  # and the store goes on
        await db.close()

    run(scenario())
    reopened = Database(Journal(tmp_path))
    reopened.load()
    assert reopened.roots["ns"] == {"warm": 0, "a": 0, "b": 1, "c": 2, "d": 3}


class GatedJournal(FlakyJournal):
    """A real SQLite journal whose commits wait until the test opens the gate (and can fail, as FlakyJournal)."""

    def __init__(self, path):
        super().__init__(path)
        self.gate = threading.Event()

    def commit(self, records):
        self.gate.wait(5)
        super().commit(records)


def test_a_read_knows_which_locations_wait_for_a_commit(tmp_path):
    # A read of one ticket must not wait for the commit of another (at 200 tickets/s one is always in flight),
    # and must wait for its own: durable_at says which.
    async def scenario():
        db = Database(GatedJournal(tmp_path))
        db.journal.gate.set()
        await db.write("ns", "put", ("tickets", "a"), [(("tickets", "a"), {"s": 1})])
        db.journal.gate.clear()
        held = asyncio.ensure_future(db.write("ns", "patch", ("tickets", "a"),
                                              [(("tickets", "a", "e"), 1), (("tickets", "a", "f"), 2)]))
        await asyncio.sleep(0.05)
        assert not held.done()
        assert not db.durable_at("ns", ("tickets", "a"))  # the location written
        assert not db.durable_at("ns", ("tickets", "a", "s"))  # below it, in the same ticket
        assert not db.durable_at("ns", ("tickets",)) and not db.durable_at("ns", ())  # above it
        assert db.durable_at("ns", ("tickets", "b")) and db.durable_at("ns", ("users", "a"))  # elsewhere
        assert db.durable_at("other", ()) and db.durable_at("other", ("tickets", "a"))  # another namespace
        # A write one key deep may change any location of its namespace: every read there waits for it.
        root = asyncio.ensure_future(db.write("ns", "put", ("k",), [(("k",), 1)]))
        await asyncio.sleep(0.05)
        assert not db.durable_at("ns", ("tickets", "b"))
        db.journal.gate.set()
        await asyncio.gather(held, root)
        assert db.durable_at("ns", ("tickets", "a")) and db.durable_at("ns", ())
        db.journal.fail = True  # a failed commit: rolled back, nothing left waiting
        with pytest.raises(StorageUnavailable):
            await db.write("ns", "put", ("tickets", "c"), [(("tickets", "c"), 1)])
        assert db.durable_at("ns", ("tickets", "c")) and db.durable_at("ns", ()) and db._undurable == {}
        db.journal.fail = False
        await db.close()

    run(scenario())
