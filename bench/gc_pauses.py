"""Garbage-collection pauses benchmark: full collections in the emulator's process at a year of tickets.

Run: `python -m bench.gc_pauses [--tickets 100000] [--writes 30000]`. In-process, over a real SQLite journal in a
temporary folder: the store holds `--tickets` stored tickets (`bench.scale_data`), then `--writes` new tickets are
written one after another (each awaited durable, as a client does), once with the collector as Python leaves it and
once with `emulator.gcpolicy` installed (each in a fresh process). Printed: every full (generation 2) collection's
pause while the tickets are written, and the writes' latency. Saves `bench/results/gc-pauses.json`.

`--function`: the enrichment function's process instead. A fresh process loads the function's state as its worker
does (`functions/main.py`: the modules, firebase-admin, the model), once left as loaded and once frozen by the
worker's warm-up (`main._warm_up`), and times `--collections` full collections over it. Saves
`bench/results/gc-pauses-function.json`.
"""

import argparse
import asyncio
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.report import machine, save, speed_probe_ms, table

_CHILD = "bench.gc_pauses"
_FUNCTIONS = Path(__file__).resolve().parent.parent / "functions"


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


def _function_child(collections: int, frozen: bool) -> None:
    """Load the function's state as its worker does (frozen by the warm-up, or not) and time full collections."""
    sys.path.insert(0, str(_FUNCTIONS))
    # Never called: loading makes no database or helpdesk call.
    os.environ.update({"FIREBASE_DATABASE_EMULATOR_HOST": "127.0.0.1:9", "HELPDESK_URL": "http://127.0.0.1:9",
                       "GCLOUD_PROJECT": "demo-tickets", "MODEL_DIR": str(_FUNCTIONS.parent / "model")})
    import main as function
    from enrichment.runtime import state

    if frozen:
        function._warm_up()
    else:
        state()
    tracked = len(gc.get_objects())
    pauses = []
    for _ in range(collections):
        started = time.perf_counter()
        gc.collect()
        pauses.append(round((time.perf_counter() - started) * 1000, 2))
    print(json.dumps({"tracked": tracked, "frozen": gc.get_freeze_count(), "pauses_ms": pauses}))


def _function_main(args, probe: float) -> None:
    rows = []
    for run in range(args.runs):
        for frozen in (False, True):
            command = [sys.executable, "-m", _CHILD, "--child", "--function", "--collections", str(args.collections)]
            done = subprocess.run(command + (["--policy"] if frozen else []), check=True, capture_output=True,
                                  text=True)
            found = json.loads(done.stdout.strip().splitlines()[-1])
            rows.append({"run": run + 1, "state": "frozen by the warm-up" if frozen else "as loaded", **found})
            print(rows[-1], flush=True)
    table("The enrichment function's loaded state: full collections over it", [
        ("run", "run"), ("state", "state"), ("tracked objects", "tracked"), ("frozen", "frozen"),
        ("full collection ms (p50 / max)", "pause")],
        [{**r, "pause": f"{sorted(r['pauses_ms'])[len(r['pauses_ms']) // 2]} / {max(r['pauses_ms'])}"}
         for r in rows])
    save(args.out or "bench/results/gc-pauses-function.json",
         {"benchmark": "gc_pauses_function", "machine": machine(), "speed_probe_ms": probe,
          "collections": args.collections, "rows": rows})


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tickets", type=int, default=100_000)
    p.add_argument("--writes", type=int, default=30_000)
    p.add_argument("--runs", type=int, default=1, help="runs of each (alternated)")
    p.add_argument("--function", action="store_true", help="the enrichment function's process, not the emulator's")
    p.add_argument("--collections", type=int, default=10, help="--function: full collections timed in each")
    p.add_argument("--out", help="default bench/results/gc-pauses.json (gc-pauses-function.json with --function)")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--policy", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child and args.function:
        _function_child(args.collections, args.policy)
        return
    if args.child:
        _child(args.tickets, args.writes)
        return
    probe = speed_probe_ms()
    if args.function:
        _function_main(args, probe)
        return
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
    save(args.out or "bench/results/gc-pauses.json",
         {"benchmark": "gc_pauses", "machine": machine(), "speed_probe_ms": probe, "tickets": args.tickets,
          "writes": args.writes, "rows": rows})


if __name__ == "__main__":
    main()
