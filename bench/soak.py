"""Soak: the whole stack at a moderate, steady load for a long time, watching memory and open files.

Run: `python -m bench.soak [--minutes 30] [--rate 20]`. Every `--every` seconds it records, per
process (children included: gunicorn's worker), resident memory and open file descriptors, plus
tickets submitted/forwarded and the outbox backlog. Prints the table and saves JSON; growth from the
first to the last quarter is summarised, so a leak shows as a trend, not a single number.
"""

import argparse
import json
import os
import tempfile
import threading
import time
from pathlib import Path

import requests

from bench.pipeline import ticket
from bench.report import machine, save, table
from stack import Ports, Stack
from stack.procs import ROOT
from stack.tokens import user_token

ADMIN = {"Authorization": "Bearer owner"}


def _tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return pids


def sample(pid: int) -> dict:
    rss_kb, fds = 0, 0
    for p in _tree(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                rss_kb += next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
            fds += len(os.listdir(f"/proc/{p}/fd"))
        except (OSError, StopIteration):
            pass
    return {"rss_mb": round(rss_kb / 1024, 1), "fds": fds}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=30)
    p.add_argument("--rate", type=float, default=20, help="tickets per second")
    p.add_argument("--every", type=float, default=30, help="seconds between samples")
    p.add_argument("--out", default="bench/results/soak.json")
    args = p.parse_args(argv)
    samples, submitted = [], [0]
    stop = threading.Event()
    with tempfile.TemporaryDirectory() as tmp:
        stack = Stack(ports=Ports.free(), data_dir=Path(tmp), model_dir=ROOT / "model").start()
        db = stack.urls["database"]

        def submit():
            token, n, start = user_token("soak"), 0, time.monotonic()
            with requests.Session() as http:
                while not stop.is_set():
                    time.sleep(max(0.0, start + n / args.rate - time.monotonic()))
                    r = http.post(f"{db}/tickets.json", params={"auth": token}, json={**ticket(n), "uid": "soak"})
                    if r.status_code == 200:
                        submitted[0] += 1
                    n += 1

        worker = threading.Thread(target=submit, daemon=True)
        worker.start()
        started = time.monotonic()
        try:
            while time.monotonic() - started < args.minutes * 60:
                time.sleep(args.every)
                row = {"t_min": round((time.monotonic() - started) / 60, 2), "submitted": submitted[0]}
                tickets = requests.get(f"{db}/tickets.json?shallow=true", headers=ADMIN).json() or {}
                row["stored"] = len(tickets)
                metrics = requests.get(f"{db}/metrics").text
                row["outbox_pending"] = next(float(l.split()[-1]) for l in metrics.splitlines()
                                             if l.startswith("rtdb_outbox_pending"))
                for name, proc in stack.procs.items():
                    row[name] = sample(proc.proc.pid)
                samples.append(row)
                print(json.dumps(row), flush=True)
        finally:
            stop.set()
            worker.join(10)
            stack.stop()
    names = [n for n in samples[0] if isinstance(samples[0][n], dict)]
    quarter = max(1, len(samples) // 4)
    summary = {}
    for name in names:
        first = sum(s[name]["rss_mb"] for s in samples[:quarter]) / quarter
        last = sum(s[name]["rss_mb"] for s in samples[-quarter:]) / quarter
        summary[name] = {"rss_first_quarter_mb": round(first, 1), "rss_last_quarter_mb": round(last, 1),
                         "rss_max_mb": max(s[name]["rss_mb"] for s in samples),
                         "fds_first": samples[0][name]["fds"], "fds_last": samples[-1][name]["fds"]}
    table(f"Soak: {args.minutes} min at {args.rate} tickets/s; resident memory MB and open files per process",
          [("process", "process"), ("first-quarter MB", "rss_first_quarter_mb"),
           ("last-quarter MB", "rss_last_quarter_mb"), ("max MB", "rss_max_mb"), ("fds first", "fds_first"),
           ("fds last", "fds_last")], [{"process": n, **m} for n, m in summary.items()])
    result = {"benchmark": "soak", "machine": machine(), "minutes": args.minutes, "rate": args.rate,
              "samples": samples, "summary": summary}
    save(args.out, result)

if __name__ == "__main__":
    main()
