"""Garbage-collection pauses benchmark: full collections in the emulator's process at a year of tickets.

Run: `python -m bench.gc_pauses [--tickets 100000] [--writes 30000]`. In-process, over a real SQLite journal in a
temporary folder: the store holds `--tickets` stored tickets (`bench.scale_data`), then `--writes` new tickets are
written one after another (each awaited durable, as a client does), once with the collector as Python leaves it and
once with `emulator.gcpolicy` installed (each in a fresh process). Printed: every full (generation 2) collection's
pause while the tickets are written, and the writes' latency. Saves `bench/results/gc-pauses.json`.
"""

import argparse
import asyncio
import gc
import json
import subprocess
import sys
import tempfile
import time

from bench.report import machine, save, speed_probe_ms, table

_CHILD = "bench.gc_pauses"


async def _writes(tickets: int, writes: int) -> list[float]:
    from bench.scale_data import Tickets
    from emulator import values
    from emulator.storage import Journal
    from emulator.store import Database

    data = Tickets(tickets, 0.02, 1, int(time.time() * 1000))
    blob = values.dumps({"tickets": dict(data.items)})
    sample = values.dumps(data.items[-1][1])
    del data
    latencies = []
    with tempfile.TemporaryDirectory(prefix="bench-gc-") as folder:
        db = Database(Journal(folder))
        db.roots["bench"] = values.loads(blob)
        del blob
        yield_ready()
        for i in range(writes):
            key = f"new{i:06}"
            started = time.perf_counter()
            await db.write("bench", "put", ("tickets", key), [(("tickets", key), values.loads(sample))])
            latencies.append((time.perf_counter() - started) * 1000)
        await db.close()
    return latencies


_recording = {"on": False}


def yield_ready() -> None:
    """The tree is loaded: from here on the run is measured (the policy installs itself here, as the emulator's
    process does after its load)."""
    if "--policy" in sys.argv:
        from emulator import gcpolicy
        gcpolicy.install()
    _recording["on"] = True


def _child(tickets: int, writes: int) -> None:
    pauses, started = [], {}

    def timed(phase, info):
        if phase == "start":
            started["t"] = time.perf_counter()
        elif info["generation"] == 2 and _recording["on"]:
            pauses.append(round((time.perf_counter() - started["t"]) * 1000, 1))

    gc.callbacks.insert(0, timed)
    latencies = sorted(asyncio.run(_writes(tickets, writes)))
    n = len(latencies)
    print(json.dumps({"full_collections": len(pauses), "pauses_ms": pauses,
                      "write_p50_ms": round(latencies[n // 2], 2), "write_p99_ms": round(latencies[int(n * 0.99)], 2),
                      "write_p999_ms": round(latencies[int(n * 0.999)], 2), "write_max_ms": round(latencies[-1], 1)}))


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tickets", type=int, default=100_000)
    p.add_argument("--writes", type=int, default=30_000)
    p.add_argument("--runs", type=int, default=1, help="runs of each (alternated)")
    p.add_argument("--out", default="bench/results/gc-pauses.json")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--policy", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        _child(args.tickets, args.writes)
        return
    probe = speed_probe_ms()
    rows = []
    for run in range(args.runs):
        for policy in (False, True):
            command = [sys.executable, "-m", _CHILD, "--child", "--tickets", str(args.tickets),
                       "--writes", str(args.writes)] + (["--policy"] if policy else [])
            found = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
            row = {"run": run + 1, "collector": "gcpolicy" if policy else "as Python leaves it", **found}
            rows.append(row)
            print(row, flush=True)
    table(f"{args.tickets:,} tickets stored, {args.writes:,} new ones written: full collections", [
        ("run", "run"), ("collector", "collector"), ("full collections", "full_collections"),
        ("longest pause ms", "longest"), ("write p50/p99/p99.9/max ms", "writes")],
        [{**r, "longest": max(r["pauses_ms"], default=0),
          "writes": f"{r['write_p50_ms']} / {r['write_p99_ms']} / {r['write_p999_ms']} / {r['write_max_ms']}"}
         for r in rows])
    save(args.out, {"benchmark": "gc_pauses", "machine": machine(), "speed_probe_ms": probe,
                    "tickets": args.tickets, "writes": args.writes, "rows": rows})


if __name__ == "__main__":
    main()
