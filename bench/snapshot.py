"""Snapshot benchmark: what a snapshot of a year of tickets costs the writes made meanwhile.

Run: `python -m bench.snapshot [--tickets 100000] [--rate 200] [--seconds 12] [--runs 2]`. In-process, over a real
SQLite journal in a temporary folder: the store holds `--tickets` stored tickets (`bench.scale_data`, about 1.8 KB
of JSON each, as a year of the pipeline leaves them); a writer patches one ticket's enrichment at `--rate` writes a
second, each write timed from its call to its durability (what a client waits for); two seconds in, a snapshot
starts, as one does every `store.SNAPSHOT_EVERY` writes, and replaces the one taken (untimed) before the writes. A ticker notes how late the event loop runs a 1 ms sleep
(how long anything else waited). Printed per run: the write latency before and during the snapshot, the loop's
worst lateness, and how long the snapshot took. Saves `bench/results/snapshot.json`.
"""

import argparse
import asyncio
import statistics
import tempfile
import time

from bench.report import fsync_ms, machine, pct, save, table, speed_probe_ms
from bench.scale_data import Tickets
from emulator.storage import Journal
from emulator.store import Database

NS = "bench"


async def _run(tickets: Tickets, rate: float, seconds: float, start_after: float) -> dict:
    with tempfile.TemporaryDirectory(dir=".") as folder:
        journal = _Journal(folder)
        db = Database(journal)
        db.roots[NS] = {"tickets": {key: ticket for key, ticket in tickets.items}}
        keys = [key for key, _ in tickets.items]
        latencies: list[tuple[float, float]] = []  # (started, seconds to durable)
        lateness: list[tuple[float, float]] = []
        stop = False

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

        # The data dir holds a snapshot already, as it does at every snapshot after the first: the timed one
        # replaces it.
        db.snapshot()
        while journal.snapshot_done is None:
            await asyncio.sleep(0.01)
        journal.snapshot_done = None
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
        await asyncio.gather(*writes)
        while journal.snapshot_done is None:
            await asyncio.sleep(0.01)
        snapshot_s = journal.snapshot_done - snapshot_at
        stop = True
        await ticker
        await db.close()
    end = snapshot_at + snapshot_s
    before = [s * 1000 for t, s in latencies if t < snapshot_at]
    during = [s * 1000 for t, s in latencies if snapshot_at <= t <= end]
    return {
        "writes": len(latencies), "snapshot_s": round(snapshot_s, 3),
        "before_p50_ms": round(pct(before, 50), 2), "before_p99_ms": round(pct(before, 99), 2),
        "during_n": len(during),
        "during_p50_ms": round(pct(during, 50), 2) if during else None,
        "during_p99_ms": round(pct(during, 99), 2) if during else None,
        "during_max_ms": round(max(during), 2) if during else None,
        "max_write_ms": round(max(s for _, s in latencies) * 1000, 2),
        "loop_worst_late_ms": round(max(late for _, late in lateness) * 1000, 2),
    }


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
    p.add_argument("--out", default="bench/results/snapshot.json")
    args = p.parse_args(argv)
    print(f"building {args.tickets:,} stored tickets ...", flush=True)
    tickets = Tickets(args.tickets, 0.02, 1, int(time.time() * 1000))
    _ = tickets.items
    probe = speed_probe_ms()
    rows = []
    for run in range(args.runs):
        row = {"run": run + 1, **asyncio.run(_run(tickets, args.rate, args.seconds, 2.0))}
        rows.append(row)
        print(row, flush=True)
    table(f"{args.tickets:,} tickets, {args.rate:g} writes/s: a snapshot meanwhile", [
        ("run", "run"), ("snapshot s", "snapshot_s"), ("before p50/p99 ms", "before"),
        ("during n", "during_n"), ("during p50/p99/max ms", "during"), ("loop worst late ms", "loop_worst_late_ms")],
        [{**r, "before": f"{r['before_p50_ms']} / {r['before_p99_ms']}",
          "during": f"{r['during_p50_ms']} / {r['during_p99_ms']} / {r['during_max_ms']}"} for r in rows])
    save(args.out, {"benchmark": "snapshot", "machine": machine(), "speed_probe_ms": probe,
                    "fsync_ms": fsync_ms("."), "tickets": args.tickets, "rate": args.rate,
                    "seconds": args.seconds, "median_snapshot_s": statistics.median(r["snapshot_s"] for r in rows),
                    "rows": rows})


if __name__ == "__main__":
    main()
