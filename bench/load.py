"""Load benchmark: how long the emulator takes to rebuild a year of tickets from its data dir on a restart.

Run: `python -m bench.load [--tickets 100000] [--log-tickets 0,50000,100000] [--runs 2] [--code DIR]`. For each
`--log-tickets` count it writes a data dir, in-process over a real SQLite journal: `--tickets` stored tickets
(`bench.scale_data`, about 1.8 KB of JSON each) in a snapshot, then that many more tickets written as the pipeline
writes them (the form's ticket, the function's enrichment, the helpdesk link: three log rows each) with no snapshot
after. Then a fresh Python process per run loads it (`Database.load`, what `python -m emulator` does before it
serves), timed inside that process. `--code` loads with another checkout's `emulator` package (a `git worktree` of
an older commit), to compare. A snapshot replaces the log once the log has grown by the size of the last snapshot,
so a year of tickets and as many bytes of log again is the most a load replays. Prints a table and saves
`bench/results/load.json`.
"""

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.report import machine, save, table
from bench.scale_data import Tickets
from emulator import store as store_module
from emulator.storage import Journal
from emulator.store import Database
from stack.procs import ROOT

NS = "bench"
_LOAD = """
import json, sys, time
from emulator.storage import Journal
from emulator.store import Database
db = Database(Journal(sys.argv[1]))
started = time.perf_counter()
rows = db.load()
print(json.dumps({"seconds": time.perf_counter() - started, "rows": rows}))
"""


async def _write(folder: str, items: list[tuple[str, dict]], stored: int) -> dict:
    """The data dir: the first `stored` tickets of `items` in a snapshot, the rest in the log, three rows each."""
    store_module.SNAPSHOT_MIN_BYTES = 10**15  # no snapshot but the one asked for
    db = Database(Journal(folder))
    db.roots[NS] = {"tickets": dict(items[:stored])}
    db.snapshot()
    await db.snapshot_finished()
    for key, ticket in items[stored:]:
        at = ("tickets", key)
        form = {k: v for k, v in ticket.items() if k not in ("enrichment", "helpdesk")}
        await db.write(NS, "put", at, [(at, form)])
        await db.write(NS, "patch", at, [(at + ("enrichment",), ticket["enrichment"])])
        await db.write(NS, "patch", at, [(at + ("helpdesk",), ticket["helpdesk"])])
    sizes = {"snapshot_mb": round(db.snapshot_bytes / 1e6, 1), "log_mb": round(db.logged_bytes / 1e6, 1)}
    await db.close()
    return sizes


def load_seconds(folder: str, code: Path) -> dict:
    """One load of the data dir `folder` in a fresh process running `code`'s emulator."""
    out = subprocess.run([sys.executable, "-c", _LOAD, folder], cwd=code, capture_output=True, text=True,
                         check=True, env={"PYTHONPATH": str(code), "PATH": "/usr/bin:/bin"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tickets", type=int, default=100_000, help="stored tickets in the snapshot")
    p.add_argument("--log-tickets", default="0,50000,100000", help="tickets written after it, comma-separated")
    p.add_argument("--runs", type=int, default=2, help="fresh-process loads of each data dir")
    p.add_argument("--code", type=Path, default=ROOT, help="the checkout whose emulator loads")
    p.add_argument("--out", default="bench/results/load.json")
    args = p.parse_args(argv)
    counts = [int(c) for c in args.log_tickets.split(",")]
    tickets = Tickets(args.tickets + max(counts), 0.02, seed=7, now_ms=int(time.time() * 1000))
    rows = []
    for extra in counts:
        with tempfile.TemporaryDirectory(prefix="bench-load-") as folder:
            sizes = asyncio.run(_write(folder, tickets.items[:args.tickets + extra], args.tickets))
            loads = [load_seconds(folder, args.code.resolve()) for _ in range(args.runs)]
        seconds = [round(r["seconds"], 3) for r in loads]
        rows.append({"stored": args.tickets, "log_tickets": extra, "log_rows": loads[0]["rows"], **sizes,
                     "load_s": seconds, "load_median_s": round(statistics.median(seconds), 3)})
        print(f"{extra} tickets in the log: {seconds} s", flush=True)
    table(f"Loading a data dir in a fresh process ({args.code.resolve()})",
          [("stored", "stored"), ("snapshot MB", "snapshot_mb"), ("tickets in the log", "log_tickets"),
           ("log rows", "log_rows"), ("log MB", "log_mb"), ("loads s", "load_s"), ("median s", "load_median_s")],
          rows)
    save(args.out, {"benchmark": "load", "machine": machine(), "code": str(args.code.resolve()), "rows": rows})


if __name__ == "__main__":
    main()
