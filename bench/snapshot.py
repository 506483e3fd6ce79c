"""Snapshot benchmark: what a snapshot of a year of tickets costs the writes made meanwhile.

Run: `python -m bench.snapshot [--tickets 100000] [--rate 200] [--seconds 12] [--runs 2]`. In-process, over a real
SQLite journal in a temporary folder: the store holds `--tickets` stored tickets (`bench.scale_data`, about 1.8 KB of
JSON each, as a year of the pipeline leaves them); a writer patches one ticket's enrichment at `--rate` writes a
second, each write timed from its call to its durability (what a client waits for); two seconds in, a snapshot
starts, as one does when the log has grown by the size of the last (`store.SNAPSHOT_GROWTH`), and replaces the one
taken (untimed) before the writes and the `--log-rows` writes logged since. The collector runs as in
`python -m emulator` (`emulator.gcpolicy` installed after the load; `--no-gc-policy` leaves it as Python sets it).
A ticker notes how late the event loop runs a 1 ms
sleep (how long anything else waited). Printed per run: the write latency before, during (until what the snapshot
replaces is deleted) and after the snapshot (`--seconds 80` times the minute after), the loop's worst lateness, how
long the snapshot took and then its cleanup; the JSON adds every write and loop delay over 50 ms and every full
collection, in seconds from the snapshot's start. Saves `bench/results/snapshot.json`.
"""

import argparse
import asyncio
import gc
import statistics
import tempfile
import time

from bench.report import fsync_ms, machine, pct, save, table, speed_probe_ms
from bench.scale_data import Tickets
from emulator import gcpolicy, values
from emulator.storage import Journal, Record
from emulator.store import Database

NS = "bench"


async def _run(tickets: Tickets, rate: float, seconds: float, start_after: float, log_rows: int,
               gc_policy: bool = True) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-snapshot-") as folder:
        journal = _Journal(folder)
        db = Database(journal)
        db.roots[NS] = {"tickets": {key: ticket for key, ticket in tickets.items}}
        keys = [key for key, _ in tickets.items]
        latencies: list[tuple[float, float]] = []  # (started, seconds to durable)
        lateness: list[tuple[float, float]] = []
        stop = False
        collections: list[tuple[float, float]] = []  # (started, seconds) of each full collection
        started_gc = [0.0]

        def timed(phase, info):
            if info.get("generation") == 2:
                if phase == "start":
                    started_gc[0] = time.perf_counter()
                else:
                    collections.append((started_gc[0], time.perf_counter() - started_gc[0]))

        async def tick():
            while not stop:
                before = time.perf_counter()
                await asyncio.sleep(0.001)
                lateness.append((before, time.perf_counter() - before - 0.001))

        async def one(i: int):
            key = keys[(i * 7919) % len(keys)]
            started = time.perf_counter()
            await db.write(NS, "patch", ("tickets", key), [(("tickets", key, "enrichment", "enriched_at"), i),
                                                           (("tickets", key, "status"), "open")])
            latencies.append((started, time.perf_counter() - started))

        # The data dir holds a snapshot already, as it does at every snapshot after the first, and the log the
        # writes since (`log_rows` of them, each a ticket's write-back): the timed snapshot replaces both.
        db.snapshot()
        await _finished(db, journal)
        journal.snapshot_done = None
        record = values.dumps([[["tickets", keys[0]], tickets.items[0][1]]])
        for start in range(0, log_rows, 1000):
            seqs = range(db._seq + 1, db._seq + 1 + min(1000, log_rows - start))
            journal.commit([Record("write", NS, seq, record) for seq in seqs])
            db._seq = db._durable_seq = seqs[-1]
        if gc_policy:
            gcpolicy.install()  # as `python -m emulator` does after its load
        gc.callbacks.append(timed)
        ticker = asyncio.ensure_future(tick())
        began = time.perf_counter()
        writes, snapshot_at = [], None
        for i in range(int(rate * seconds)):
            wait = began + i / rate - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            writes.append(asyncio.ensure_future(one(i)))
            if snapshot_at is None and time.perf_counter() - began >= start_after:
                snapshot_at = time.perf_counter()
                db.snapshot()
                finished = asyncio.ensure_future(_finished(db, journal))
        await asyncio.gather(*writes)
        end = await finished
        snapshot_s = journal.snapshot_done - snapshot_at
        stop = True
        await ticker
        await db.close()
        gc.callbacks.remove(timed)
        gcpolicy.uninstall()
    before = [s * 1000 for t, s in latencies if t < snapshot_at]
    during = [s * 1000 for t, s in latencies if snapshot_at <= t <= end]
    after = [s * 1000 for t, s in latencies if t > end]
    # What waited over 50 ms, in seconds from the snapshot's start (a full collection or the disk can hold a write
    # well after the cleanup).
    slow = {"writes": [[round(t - snapshot_at, 2), round(s * 1000, 1)] for t, s in latencies if s > 0.05],
            "loop": [[round(t - snapshot_at, 2), round(late * 1000, 1)] for t, late in lateness if late > 0.05],
            "full_collections": [[round(t - snapshot_at, 2), round(s * 1000, 1)] for t, s in collections]}
    return {
        "writes": len(latencies), "snapshot_s": round(snapshot_s, 3),
        "cleanup_s": round(end - snapshot_at - snapshot_s, 3),
        "before_n": len(before),
        "before_p50_ms": round(pct(before, 50), 2), "before_p99_ms": round(pct(before, 99), 2),
        "during_n": len(during),
        "during_p50_ms": round(pct(during, 50), 2) if during else None,
        "during_p99_ms": round(pct(during, 99), 2) if during else None,
        "during_max_ms": round(max(during), 2) if during else None,
        "after_n": len(after),
        "after_p99_ms": round(pct(after, 99), 2) if after else None,
        "after_max_ms": round(max(after), 2) if after else None,
        "max_write_ms": round(max(s for _, s in latencies) * 1000, 2),
        "slow_from_snapshot_s_ms": slow,
        "loop_worst_late_ms": round(max(late for _, late in lateness) * 1000, 2),
    }


async def _finished(db: Database, journal: "_Journal") -> float:
    """When the snapshot under way is complete and what it replaces is deleted: the store's own signal where it
    has one (which waits for both), else the commit that ends it (a snapshot in one piece, as before 2026-12-07,
    deleted the one before in the same transaction)."""
    finished = getattr(db, "snapshot_finished", None)
    if finished is not None:
        await finished()
    while journal.snapshot_done is None:
        await asyncio.sleep(0.005)
    return max(journal.snapshot_done, time.perf_counter() if finished is not None else 0.0)


class _Journal(Journal):
    """The SQLite journal, noting when the commit that completes a snapshot returns (the same record kind,
    "snapshot", ends it whether the tree came in one piece, as before 2026-12-07, or in parts)."""

    snapshot_done: float | None = None

    def commit(self, records):
        super().commit(records)
        if any(record.kind == "snapshot" for record in records):
            self.snapshot_done = time.perf_counter()


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tickets", type=int, default=100_000)
    p.add_argument("--rate", type=float, default=200.0, help="writes a second")
    p.add_argument("--seconds", type=float, default=12.0)
    p.add_argument("--runs", type=int, default=2)
    p.add_argument("--log-rows", type=int, default=50_000,
                   help="writes in the log before the snapshot (until 2026-12-07 one came every 50,000)")
    p.add_argument("--no-gc-policy", action="store_true",
                   help="leave the collector as Python sets it (the emulator's process installs emulator.gcpolicy)")
    p.add_argument("--out", default="bench/results/snapshot.json")
    args = p.parse_args(argv)
    print(f"building {args.tickets:,} stored tickets ...", flush=True)
    tickets = Tickets(args.tickets, 0.02, 1, int(time.time() * 1000))
    _ = tickets.items
    probe = speed_probe_ms()
    rows = []
    for run in range(args.runs):
        row = {"run": run + 1, **asyncio.run(_run(tickets, args.rate, args.seconds, 2.0, args.log_rows,
                                                         not args.no_gc_policy))}
        rows.append(row)
        print(row, flush=True)
    table(f"{args.tickets:,} tickets, {args.rate:g} writes/s: a snapshot meanwhile", [
        ("run", "run"), ("snapshot s", "snapshot_s"), ("cleanup s", "cleanup_s"), ("before p50/p99 ms", "before"),
        ("during n", "during_n"), ("during p50/p99/max ms", "during"), ("after p99/max ms", "after"),
        ("loop worst late ms", "loop_worst_late_ms")],
        [{**r, "before": f"{r['before_p50_ms']} / {r['before_p99_ms']}",
          "during": f"{r['during_p50_ms']} / {r['during_p99_ms']} / {r['during_max_ms']}",
          "after": f"{r['after_p99_ms']} / {r['after_max_ms']}"} for r in rows])
    with tempfile.TemporaryDirectory(prefix="bench-snapshot-") as folder:  # where the runs' journals were
        fsync = fsync_ms(folder)
    save(args.out, {"benchmark": "snapshot", "machine": machine(), "speed_probe_ms": probe,
                    "fsync_ms": fsync, "tickets": args.tickets, "rate": args.rate,
                    "seconds": args.seconds, "log_rows": args.log_rows, "gc_policy": not args.no_gc_policy,
                    "median_snapshot_s": statistics.median(r["snapshot_s"] for r in rows), "rows": rows})


if __name__ == "__main__":
    main()
