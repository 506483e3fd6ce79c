"""The store in-process: commit, rollback when the journal fails, snapshots, replay, push ids."""

import asyncio
import gc
import random
import threading

import pytest

from emulator import store as store_module
from emulator import tree, values
from emulator.errors import StorageUnavailable
from emulator.pushid import PUSH_CHARS, PushIdGenerator
from emulator.storage import Journal, MemoryJournal
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
    monkeypatch.setattr(store_module, "SNAPSHOT_MIN_BYTES", 150)  # about 10 writes

    async def scenario():
        db = Database(Journal(tmp_path))
        for i in range(25):
            await db.write("ns", "put", ("k", str(i)), [(("k", str(i)), i)])
        await db.write("other", "put", (), [((), "leaf")])
        await db.snapshot_finished()
        await db.close()

    run(scenario())
    journal = Journal(tmp_path)
    # The first snapshot starts at the tenth write (150 bytes logged); a second follows at the nineteenth when the
    # first is done by then, which a busy machine may not allow. Whichever came last, the log holds exactly the writes
    # after it.
    (covered,) = journal.execute("SELECT MAX(seq) FROM snapshot")[0]
    assert covered >= 10
    assert journal.execute("SELECT COUNT(*) FROM log WHERE seq <= ?", (covered,))[0][0] == 0
    assert journal.execute("SELECT COUNT(*) FROM log")[0][0] == 26 - covered
    db = Database(journal)
    db.load()
    assert db.roots["ns"] == {"k": {str(i): i for i in range(25)}}
    assert db.roots["other"] == "leaf"


def test_a_snapshot_falls_when_the_log_has_grown_by_the_size_of_the_last_one(tmp_path, monkeypatch):
    # A snapshot costs in proportion to the tree: one every fixed count of writes made a year of tickets rewrite
    # itself every 83 s at 200 tickets a second. By bytes, its cost per byte written stays the same at any size.
    monkeypatch.setattr(store_module, "SNAPSHOT_MIN_BYTES", 100)
    monkeypatch.setattr(store_module, "SNAPSHOT_GROWTH", 1.0)
    taken = []

    async def scenario():
        db = Database(Journal(tmp_path))
        db.snapshot_hooks.append(lambda seconds, nbytes: taken.append(nbytes))
        await db.write("ns", "put", ("big",), [(("big",), "x" * 5000)])  # over the minimum: a snapshot starts
        await db.snapshot_finished()
        assert len(taken) == 1 and 5000 < db.snapshot_bytes == taken[0] < 5100
        assert db.logged_bytes == 0 and db.snapshot_due_at() == db.snapshot_bytes
        first, before = db._snapshotting, []
        while db._snapshotting is first:  # small writes: none starts one until the log is as big as the snapshot
            before.append(db.logged_bytes)
            i = len(before)
            await db.write("ns", "put", ("t", str(i)), [(("t", str(i)), "y" * 40)])
        assert before[-1] < taken[0] <= before[-1] + 60 and len(before) > 50  # the write that reached it started it
        await db.snapshot_finished()
        assert len(taken) == 2 and db.logged_bytes == 0
        await db.write("ns", "put", ("u",), [(("u",), 1)])
        kept = db.snapshot_bytes, db.logged_bytes
        await db.close()
        return kept

    kept = run(scenario())
    reopened = Database(Journal(tmp_path))
    reopened.load()  # the sizes that decide the next snapshot survive a restart
    assert (reopened.snapshot_bytes, reopened.logged_bytes) == kept and kept[1] > 0


def test_a_snapshot_waits_after_each_part_in_proportion_to_what_the_part_took(monkeypatch):
    # Under a load that leaves the machine little to spare, a snapshot taken flat out built a backlog of writes.
    monkeypatch.setattr(store_module, "SNAPSHOT_MIN_BYTES", 10**12)
    monkeypatch.setattr(store_module, "SNAPSHOT_PART_CHILDREN", 50)
    took = {}

    async def scenario(pace):
        monkeypatch.setattr(store_module, "SNAPSHOT_PACE", pace)
        db = Database(MemoryJournal())
        db.roots["ns"] = {"t": {f"k{i:05d}": {"text": "x" * 400, "n": list(range(40))} for i in range(4000)}}
        seconds = []
        db.snapshot_hooks.append(lambda s, _n: seconds.append(s))
        for _ in range(2):
            db.snapshot()
            await db.snapshot_finished()
        await db.close()
        took[pace] = min(seconds)

    run(scenario(0.0))
    run(scenario(4.0))
    assert took[4.0] > 2.5 * took[0.0], took


def test_a_snapshot_given_up_leaves_its_log_counted_towards_the_next(tmp_path, monkeypatch):
    monkeypatch.setattr(store_module, "SNAPSHOT_MIN_BYTES", 10**12)

    async def scenario():
        db = Database(FlakyJournal(tmp_path))
        for i in range(5):
            await db.write("ns", "put", ("t", str(i)), [(("t", str(i)), i)])
        logged = db.logged_bytes
        db.journal.fail = True
        db.snapshot()
        await db.snapshot_finished()
        assert db.logged_bytes == logged and db.snapshot_bytes == 0  # nothing was replaced
        db.journal.fail = False
        db.snapshot()
        await db.snapshot_finished()
        assert db.logged_bytes == 0 and db.snapshot_bytes > 0
        await db.close()

    run(scenario())


def test_a_load_runs_no_collection_and_leaves_the_collector_as_it_was(tmp_path):
    # Each full collection while a year of tickets is parsed goes over all of it parsed so far: a load of 183 MB
    # of snapshot and 96 MB of log took 5.3-5.6 s with them and 1.5-1.6 s without.
    journal = Journal(tmp_path)
    journal.execute("INSERT INTO snapshot (ns, seq, tree) VALUES ('ns', 1, ?)",
                    (values.dumps({"t": {f"k{i}": {"a": {"b": i}} for i in range(20_000)}}),))
    for seq in range(2, 200):
        journal.execute("INSERT INTO log (seq, ns, sets) VALUES (?, 'ns', ?)",
                        (seq, values.dumps([[["u", str(seq)], {"c": [1, {"d": 2}]}]])))
    collections = []

    def note(phase, info):
        if phase == "start":
            collections.append(info["generation"])

    gc.callbacks.append(note)
    try:
        for enabled in (True, False):
            gc.enable() if enabled else gc.disable()
            db = Database(journal)
            assert db.load() == 198 and len(db.roots["ns"]["t"]) == 20_000
            assert collections == [] and gc.isenabled() == enabled
    finally:
        gc.callbacks.remove(note)
        gc.enable()


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


# ---- snapshots in parts -----------------------------------------------------------------------------------------

def _random_tree(rnd: random.Random, depth: int = 0):
    """A stored tree: objects with 0-12 children (numbers, strings, booleans, priorities, nested objects)."""
    roll = rnd.random()
    if depth >= 3 or roll < 0.3:
        return rnd.choice([rnd.randint(-5, 5), rnd.choice("abc") * rnd.randint(1, 3), True, 1.5])
    if roll < 0.35:
        return {".value": rnd.randint(0, 9), ".priority": rnd.randint(0, 9)}
    node = {f"k{rnd.randint(0, 30)}": _random_tree(rnd, depth + 1) for _ in range(rnd.randint(1, 12))}
    if rnd.random() < 0.1:
        node[".priority"] = "p"
    return node


@pytest.mark.parametrize("seed", range(40))
def test_snapshot_parts_put_the_tree_back_together(seed):
    rnd = random.Random(seed)
    root = _random_tree(rnd) if seed % 5 else rnd.choice([7, "leaf", None, {"only": 1}])
    for limit in (1, 2, 3, 5, 100):
        parts = list(tree.snapshot_parts(root, limit))
        assert tree.assemble(parts) == root
        assert all(not isinstance(part, dict) or 0 < len(part) <= limit for _, part in parts)


def test_a_node_with_many_children_is_split_into_parts_of_its_own():
    root = {"tickets": {f"t{i:03}": {"s": i} for i in range(10)}, "config": {"a": 1}}
    parts = list(tree.snapshot_parts(root, 4))
    assert parts[0] == ((), {"config": {"a": 1}})
    assert [(path, sorted(part)) for path, part in parts[1:]] == [
        (("tickets",), ["t000", "t001", "t002", "t003"]), (("tickets",), ["t004", "t005", "t006", "t007"]),
        (("tickets",), ["t008", "t009"])]


def _random_write(rnd: random.Random):
    """A put or a multi-path patch at random paths of the keys the trees above use, deletes among them."""
    def path():
        return tuple(f"k{rnd.randint(0, 8)}" for _ in range(rnd.randint(1, 3)))

    def value():
        return None if rnd.random() < 0.25 else _random_tree(rnd, 1)

    if rnd.random() < 0.5:
        where = path()
        return "put", where, [(where, value())]
    first = path()[:1]
    sets = {first + (f"k{rnd.randint(0, 8)}",): value() for _ in range(rnd.randint(1, 3))}
    return "patch", first, list(sets.items())


@pytest.mark.parametrize("seed", range(8))
def test_writes_during_a_snapshot_are_replayed_over_its_parts(tmp_path, monkeypatch, seed):
    # The parts are taken at different moments while writes go on; the log after the snapshot's start, replayed
    # over them, must give the tree as it is in memory.
    monkeypatch.setattr(store_module, "SNAPSHOT_MIN_BYTES", 1000)  # about 30 writes
    monkeypatch.setattr(store_module, "SNAPSHOT_PART_CHILDREN", 2)
    rnd = random.Random(seed)
    during, taken_at = [], []
    parts_of = tree.snapshot_parts

    def spied(root, limit):  # the writes applied when each part is taken
        for piece in parts_of(root, limit):
            taken_at.append(db._seq)
            yield piece

    monkeypatch.setattr(tree, "snapshot_parts", spied)

    async def scenario():
        nonlocal db
        db = Database(Journal(tmp_path))
        for i in range(200):
            kind, base, sets = _random_write(rnd)
            pending = [asyncio.ensure_future(db.write("ns", kind, base, sets))]
            if rnd.random() < 0.3:  # another namespace, in the same batches
                pending.append(asyncio.ensure_future(db.write("other", *_random_write(rnd))))
            if db._snapshotting is not None and not db._snapshotting.done():
                during.append(i)
            await asyncio.gather(*pending)
        await db.snapshot_finished()
        memory = dict(db.roots)
        await db.close()
        return memory

    db = None
    memory = run(scenario())
    assert len(during) > 50  # most writes happened while a snapshot was being taken
    assert len(set(taken_at)) > 50  # and between its parts: each part is taken when its turn comes
    journal = Journal(tmp_path)
    assert journal.execute("SELECT COUNT(*) FROM snapshot WHERE tree LIKE 'parts:%'")[0][0] == 2
    assert journal.execute("SELECT COUNT(*) FROM log")[0][0] < 200 * 1.3
    reopened = Database(journal)
    reopened.load()
    assert {ns: root for ns, root in reopened.roots.items() if root is not None} == {
        ns: root for ns, root in memory.items() if root is not None}


def test_a_snapshot_cut_short_leaves_the_one_before_in_force(tmp_path, monkeypatch):
    monkeypatch.setattr(store_module, "SNAPSHOT_MIN_BYTES", 10**12)
    monkeypatch.setattr(store_module, "SNAPSHOT_PART_CHILDREN", 1)

    async def scenario():
        db = Database(Journal(tmp_path))
        for i in range(6):
            await db.write("ns", "put", ("t", str(i)), [(("t", str(i)), {"n": i})])
        db.snapshot()
        await db.snapshot_finished()  # complete: the log is empty
        for i in range(6, 12):
            await db.write("ns", "put", ("t", str(i)), [(("t", str(i)), {"n": i})])
        db.snapshot()
        await asyncio.sleep(0)
        while db.journal.execute("SELECT COUNT(*) FROM snapshot_part")[0][0] <= 6:  # the first one's 6
            await asyncio.sleep(0.001)
        await db.write("ns", "put", ("t", "0"), [(("t", "0"), None)])
        memory = db.roots["ns"]
        await db.close()  # the second snapshot is abandoned with some of its parts written
        return memory

    memory = run(scenario())
    journal = Journal(tmp_path)
    assert journal.execute("SELECT seq FROM snapshot") == [(6,)]
    assert 6 < journal.execute("SELECT COUNT(*) FROM snapshot_part")[0][0] < 6 + 12
    reopened = Database(journal)
    reopened.load()
    assert reopened.roots["ns"] == memory == {"t": {str(i): {"n": i} for i in range(1, 12)}}


def test_a_failed_commit_abandons_the_snapshot_under_way(tmp_path, monkeypatch):
    # A rollback may reuse sequence numbers: a snapshot begun before it must not complete, or it would drop from
    # the log writes made after the rollback that none of its parts hold.
    monkeypatch.setattr(store_module, "SNAPSHOT_MIN_BYTES", 10**12)
    monkeypatch.setattr(store_module, "SNAPSHOT_PART_CHILDREN", 1)

    async def scenario():
        db = Database(GatedJournal(tmp_path))
        db.journal.gate.set()
        for i in range(5):
            await db.write("ns", "put", ("t", str(i)), [(("t", str(i)), i)])
        db.journal.gate.clear()
        held = asyncio.ensure_future(db.write("ns", "put", ("t", "x"), [(("t", "x"), 1)]))
        db.snapshot()  # begun at seq 6, which will be rolled back
        await asyncio.sleep(0.05)
        db.journal.fail = True
        db.journal.gate.set()
        with pytest.raises(StorageUnavailable):
            await held
        db.journal.fail = False
        await db.snapshot_finished()
        for i in range(5, 9):  # seq 6 again, and on
            await db.write("ns", "put", ("t", str(i)), [(("t", str(i)), i)])
        memory = db.roots["ns"]
        await db.close()
        return memory

    memory = run(scenario())
    journal = Journal(tmp_path)
    assert journal.execute("SELECT COUNT(*) FROM snapshot")[0][0] == 0
    reopened = Database(journal)
    reopened.load()
    assert reopened.roots["ns"] == memory == {"t": {str(i): i for i in range(9)}}


def test_a_data_dir_with_a_snapshot_in_one_piece_still_loads(tmp_path):
    # Data dirs written before snapshots came in parts hold the whole tree in `snapshot.tree`.
    journal = Journal(tmp_path)
    journal.execute("INSERT INTO snapshot (ns, seq, tree) VALUES ('ns', 3, ?)", ('{"a":{"b":1},"c":2}',))
    journal.execute("INSERT INTO log (seq, ns, sets) VALUES (4, 'ns', ?)", ('[[["a","d"],3]]',))
    journal.execute("INSERT INTO log (seq, ns, sets) VALUES (2, 'ns', ?)", ('[[["old"],1]]',))
    db = Database(journal)
    assert db.load() == 1
    assert db.roots["ns"] == {"a": {"b": 1, "d": 3}, "c": 2}
    assert (db.snapshot_bytes, db.logged_bytes) == (len('{"a":{"b":1},"c":2}'), len('[[["a","d"],3]]'))


def test_what_a_snapshot_replaces_is_deleted_a_little_at_a_time_and_loads_the_same_throughout(tmp_path, monkeypatch):
    monkeypatch.setattr(store_module, "SNAPSHOT_MIN_BYTES", 10**12)
    monkeypatch.setattr(store_module, "SNAPSHOT_PART_CHILDREN", 2)
    collect = Journal.collect
    monkeypatch.setattr(Journal, "collect", lambda self, ns: 0)  # the store leaves it all to the test

    async def scenario():
        db = Database(Journal(tmp_path))
        for i in range(7):
            await db.write("ns", "put", ("t", str(i)), [(("t", str(i)), {"n": i})])
        db.snapshot()
        await db.snapshot_finished()
        for i in range(7, 12):
            await db.write("ns", "patch", ("t",), [(("t", str(i)), {"n": i}), (("t", str(i - 7)), None)])
        db.snapshot()
        await db.snapshot_finished()
        await db.write("ns", "put", ("u",), [(("u",), 1)])
        memory = db.roots["ns"]
        await db.close()
        return memory

    memory = run(scenario())
    journal = Journal(tmp_path)
    count = lambda table: journal.execute(f"SELECT COUNT(*) FROM {table}")[0][0]  # noqa: E731
    assert journal.execute("SELECT seq FROM snapshot") == [(12,)]
    assert (count("snapshot_part"), count("log")) == (4 + 4, 13)  # the first snapshot's parts, every write
    steps = []
    while True:
        reopened = Database(journal)
        reopened.load()
        assert reopened.roots["ns"] == memory
        gone = collect(journal, "ns", limit_parts=1, limit_log=3)
        steps.append(gone)
        if not gone:
            break
    assert (count("snapshot_part"), count("log")) == (4, 1)  # the snapshot in force, and the write after it
    assert steps[:4] == [4, 4, 4, 4] and steps[-1] == 0


def test_the_parts_of_an_abandoned_snapshot_are_never_read_as_another_ones(tmp_path, monkeypatch):
    # A process that dies mid-snapshot leaves parts behind; its successor may reach the same sequence number with
    # other writes (those not yet durable at the crash are lost) and snapshot there: only its own parts count.
    monkeypatch.setattr(store_module, "SNAPSHOT_MIN_BYTES", 10**12)
    journal = Journal(tmp_path)
    journal.execute("INSERT INTO snapshot_part (ns, attempt, data) VALUES ('ns', 1, ?)", ('[["t"],{"ghost":1}]',))

    async def scenario():
        db = Database(journal)
        db.load()
        for i in range(3):
            await db.write("ns", "put", ("t", str(i)), [(("t", str(i)), i)])
        db.snapshot()
        await db.snapshot_finished()
        await db.close()

    run(scenario())
    reopened = Journal(tmp_path)
    assert reopened.execute("SELECT COUNT(*) FROM snapshot_part WHERE attempt = 1")[0][0] == 0  # collected
    db = Database(reopened)
    db.load()
    assert db.roots["ns"] == {"t": {"0": 0, "1": 1, "2": 2}}


def test_the_cleanup_deletes_no_more_bytes_a_transaction_than_its_budget_unless_one_row_is_larger(tmp_path):
    # Deleting takes time in proportion to the bytes freed: 50 log rows of 3.6 MB (a year of tickets imported in
    # multi-path writes) held every commit for 772 ms when they went in one transaction.
    journal = Journal(tmp_path)
    journal.execute("INSERT INTO snapshot (ns, seq, tree) VALUES ('ns', 100, ?)", ('{"a":1}',))
    for _ in range(3):  # parts of a snapshot that is no longer in force
        journal.execute("INSERT INTO snapshot_part (ns, attempt, data) VALUES ('ns', 7, ?)", ("x" * 300,))
    for seq, size in [(1, 500), (2, 5000), (3, 400), (4, 400), (5, 400), (6, 2000)]:
        journal.execute("INSERT INTO log (seq, ns, sets) VALUES (?, 'ns', ?)", (seq, "y" * size))
    count = lambda table: journal.execute(f"SELECT COUNT(*) FROM {table}")[0][0]  # noqa: E731
    left = []
    while journal.collect("ns", limit_parts=2, limit_log=10, limit_bytes=1000):
        left.append((count("snapshot_part"), count("log")))
    # Two parts (600 bytes: the first log row's 500 do not fit after them), the third and that row; the 5,000-byte
    # row alone; 800 bytes; 400; the 2,000-byte row alone.
    assert left == [(1, 6), (0, 5), (0, 4), (0, 2), (0, 1), (0, 0)]
