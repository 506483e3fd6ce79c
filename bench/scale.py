"""Scale benchmark: the agent queue, the database's queries, training's read and the emulator at 1k-100k tickets.

Run: `python -m bench.scale [--sizes 1000,10000,100000] [--open-share 0.02] [--quick] [--out bench/results/scale.json]`.
For each size it starts a durable emulator of its own (the project's `database.rules.json`, whose `.indexOn` the
queue's queries need; no function triggers), writes that many realistic tickets as the admin with multi-path
PATCHes (`bench.scale_data`), and measures:
  - one page of 1,000 over REST as the admin, by key (the first, and one from the middle with `startAt`) and by an
    indexed child (`done_at` newest first), the queue's open query (`status` = "new") and its first Done page: the
    first answer (which builds the index) and the best of `--repeats` rounds taken over the sizes in turn;
  - the agent queue in headless Chromium (`bench.scale_queue`): sign-in to the open rows shown, bytes downloaded,
    the longest main-thread block afterwards (idle through one 30 s age refresh, then one new and one solved
    ticket), a filter change, opening a detail, a page of the Done list, the page's heap and the browser's memory;
  - training's read of every ticket (`training.database.write_snapshot`);
  - the emulator's RSS (empty, loaded, after the queue, after a restart) and its restart on the same data dir
    (until the ready line, and until the queue's query answers).
Prints a table per size and the issue's targets (14: at 100k tickets with 2k open), each met or MISSED with its
figure, and saves JSON with the machine, its speed probe, the load average (the VM is shared) and the commit
measured (others edit the emulator and web/ meanwhile: files that differed from it are listed).
"""

import argparse
import http.client
import json
import os
import re
import statistics
import subprocess
import tempfile
import time
import urllib.parse
from pathlib import Path

import psutil
import requests

from bench import scale_data, scale_queue
from bench.report import machine, save, table
from stack.procs import PYTHON, ROOT, ManagedProcess
from training.database import write_snapshot

ADMIN = {"Authorization": "Bearer owner"}
PAGE = 1000
ISSUE_SIZE = 100_000
TARGET_ROWS_S = 1.5
TARGET_BLOCK_MS = 100.0
TARGET_INTERACTION_MS = 100.0
TARGET_PAGE_RATIO = 2.0
TARGET_TRAINING_S = 10.0
TARGET_RESTART_S = 5.0
READY_TIMEOUT_S = 300.0  # a restart slower than this is reported as a failure, not waited for
_PROBLEM = re.compile(r"Traceback|ERROR|WARNING|Exception|Unindexed|dropping", re.I)
# The REST queries timed at each size: (name, query parameters; `{middle}` is the key where a middle page starts).
QUERIES = (
    ("key, first page", {"orderBy": '"$key"', "limitToFirst": str(PAGE)}),
    ("key, page from the middle", {"orderBy": '"$key"', "startAt": '"{middle}"', "limitToFirst": str(PAGE)}),
    ("done_at, newest page", {"orderBy": '"done_at"', "limitToLast": str(PAGE)}),
    ("status = new (the queue's query)", {"orderBy": '"status"', "equalTo": '"new"'}),
    ("done_at, the queue's first Done page", {"orderBy": '"done_at"', "startAt": "0",
                                               "endAt": "9007199254740991", "limitToLast": "50"}),
)
OPEN_QUERY = QUERIES[3][1]
RATIO_QUERIES = QUERIES[:3]  # pages of (at most) 1,000: their time should not grow with the tickets stored


class Emulator:
    """The durable emulator with the project's rules and hosting, Auth on a free port, and no triggers."""

    def __init__(self, data_dir: Path, triggers: Path):
        self.data_dir, self.triggers = data_dir, triggers
        self.proc: ManagedProcess | None = None
        self.logs: list[str] = []

    def start(self) -> float:
        """Start it; returns the seconds until its ready line."""
        args = [PYTHON, "-m", "emulator", "--port", "0", "--hosting-port", "0", "--auth-port", "0",
                "--config", str(ROOT / "firebase.json"), "--triggers", str(self.triggers),
                "--data-dir", str(self.data_dir)]
        self.proc = ManagedProcess(args, ready=r"Database emulator ready at (http://[\d.]+:\d+)",
                                   timeout=READY_TIMEOUT_S)
        started = time.perf_counter()
        self.proc.start()
        seconds = time.perf_counter() - started
        self.url = self.proc.match.group(1)
        self.site = f"http://127.0.0.1:{self.proc.port_of('Hosting emulator ready')}/"
        return seconds

    def stop(self) -> int:
        code = self.proc.stop(timeout=60)
        self.logs += self.proc.lines
        return code

    def rss(self) -> int:
        return psutil.Process(self.proc.proc.pid).memory_info().rss

    def problems(self) -> list[str]:
        running = self.proc is not None and self.proc.proc.poll() is None
        return [line.rstrip() for line in self.logs + (self.proc.lines if running else []) if _PROBLEM.search(line)]


def seed(session: requests.Session, url: str, batches) -> dict:
    """PATCH each batch of {id: ticket} onto /tickets; the JSON bytes sent and the time taken."""
    sent, count = 0, 0
    started = time.perf_counter()
    for body in batches:
        response = session.patch(f"{url}/tickets.json", params={"print": "silent"}, data=body, headers=ADMIN,
                                 timeout=600)
        if response.status_code != 204:
            raise RuntimeError(f"PATCH /tickets answered {response.status_code}: {response.text[:500]}")
        sent += len(body)
        count += 1
    seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 2), "patches": count, "json_bytes": sent}


def time_queries(runs: list["Size"], repeats: int) -> None:
    """Time each of QUERIES at every size: a first answer (it may build the index), then `repeats` rounds.

    The rounds go over the sizes in turn, so a slow minute of the shared machine slows every size alike, and the
    best of each is kept. Timed with http.client on one kept-alive connection per size, reading the whole body at
    once: requests reads a 1.2 MB answer in 10 KB pieces, which added 30-50% to these times on this machine.
    """
    times: dict = {}
    bodies: dict = {}
    connections = {}
    try:
        for run in runs:
            where = urllib.parse.urlsplit(run.emu.url)
            connections[run.n] = http.client.HTTPConnection(where.hostname, where.port, timeout=600)
        for _ in range(repeats + 1):
            for run in runs:
                for name, params in QUERIES:
                    params = {k: v.format(middle=run.middle) for k, v in params.items()}
                    ms, bodies[run.n, name] = _get(connections[run.n], params)
                    times.setdefault((run.n, name), []).append(ms)
    finally:
        for connection in connections.values():
            connection.close()
    for run in runs:
        run.row["queries"] = {}
        for name, _ in QUERIES:
            first, *rest = times[run.n, name]
            body = bodies[run.n, name]
            run.row["queries"][name] = {
                "first_ms": round(first, 1), "best_ms": round(min(rest or [first]), 1),
                "median_ms": round(statistics.median(rest or [first]), 1),
                "children": len(json.loads(body) or {}), "bytes": len(body)}
        print(f"  {run.n:,}: " + ", ".join(f"{k} {v['best_ms']} ms" for k, v in run.row["queries"].items()),
              flush=True)


def _get(connection: http.client.HTTPConnection, params: dict) -> tuple[float, bytes]:
    path = "/tickets.json?" + urllib.parse.urlencode(params)
    started = time.perf_counter()
    connection.request("GET", path, headers=ADMIN)
    response = connection.getresponse()
    body = response.read()
    ms = (time.perf_counter() - started) * 1000
    if response.status != 200:
        raise RuntimeError(f"GET {path} answered {response.status}: {body[:300]!r}")
    return ms, body


class Size:
    """One size's tickets, its emulator (its own data dir) and its figures (`row`)."""

    def __init__(self, n: int, args, work: Path):
        self.n, self.args, self.folder = n, args, work / f"n{n}"
        self.data = scale_data.Tickets(n, args.open_share, seed=args.seed, now_ms=int(time.time() * 1000))
        self.emu = Emulator(self.folder / "database", work / "triggers.json")
        self.row: dict = {"tickets": n, "open": self.data.open_count, "done": n - self.data.open_count,
                          "load_avg_at_start": [round(x, 2) for x in os.getloadavg()]}
        self.middle = self.data.keys_in_order[max(0, n // 2 - PAGE // 2)]
        self.rss: dict = {}

    def load(self) -> None:
        """Start the emulator and write the tickets."""
        print(f"\n== {self.n:,} tickets ({self.data.open_count:,} open) ==", flush=True)
        self.emu.start()
        time.sleep(0.5)
        self.rss["empty"] = self.emu.rss()
        with requests.Session() as session:
            self.row["seed"] = seed(session, self.emu.url, self.data.batches(self.args.batch))
        self.row["seed"]["tickets_per_s"] = round(self.n / self.row["seed"]["seconds"])
        self.row["json_bytes_per_ticket"] = round(self.row["seed"]["json_bytes"] / self.n)
        self.rss["loaded"] = self.emu.rss()
        print(f"  written in {self.row['seed']['seconds']} s ({self.row['seed']['tickets_per_s']:,}/s), "
              f"{self.row['json_bytes_per_ticket']} bytes of JSON each", flush=True)

    def finish(self, launch) -> None:
        """The queue, training's read and a restart; then stop the emulator."""
        row, data, emu = self.row, self.data, self.emu
        print(f"\n== {self.n:,} tickets: the queue, training's read, a restart ==", flush=True)
        if launch is not None:
            row["queue"] = scale_queue.measure(launch, emu.site, emu.url, data, watch_s=self.args.watch,
                                               repeats=1 if self.args.quick else 3)
            print(f"  queue: all open rows shown {row['queue'].get('rows_shown_s')} s", flush=True)
        self.rss["after_queue"] = emu.rss()
        started = time.perf_counter()
        report = write_snapshot(emu.url, self.folder / "snapshot.jsonl")
        row["training"] = {"seconds": round(report.seconds, 2), "tickets": report.tickets,
                           "pages": report.pages, "wall_s": round(time.perf_counter() - started, 2)}
        stored = self.n + ("rows_shown_s" in row.get("queue", {}))  # the queue's run added a ticket
        if report.tickets != stored:
            row.setdefault("problems", []).append(f"training read {report.tickets} tickets, not {stored}")
        print(f"  training's read: {row['training']['seconds']} s", flush=True)
        code = emu.stop()
        on_disk = sum(p.stat().st_size for p in emu.data_dir.iterdir() if p.is_file())
        ready_s = emu.start()
        where = urllib.parse.urlsplit(emu.url)
        connection = http.client.HTTPConnection(where.hostname, where.port, timeout=600)
        try:
            query_ms, body = _get(connection, dict(OPEN_QUERY))
        finally:
            connection.close()
        answered_s = ready_s + query_ms / 1000
        if len(json.loads(body) or {}) != data.open_count:  # the queue's run added one open ticket, solved one
            row.setdefault("problems", []).append(
                f"after the restart the open query returned {len(json.loads(body) or {})}, not {data.open_count}")
        self.rss["restarted"] = emu.rss()
        row["restart"] = {"ready_s": round(ready_s, 2), "first_query_s": round(answered_s, 2), "stop_exit_code": code}
        rss, n = self.rss, self.n
        row["emulator"] = {
            "rss_empty_mb": _mb(rss["empty"]), "rss_loaded_mb": _mb(rss["loaded"]),
            "rss_after_queue_mb": _mb(rss["after_queue"]), "rss_restarted_mb": _mb(rss["restarted"]),
            "data_dir_mb": _mb(on_disk),
            "bytes_per_ticket_loaded": round((rss["loaded"] - rss["empty"]) / n),
            "bytes_per_ticket_restarted": round((rss["restarted"] - rss["empty"]) / n),
            "disk_bytes_per_ticket": round(on_disk / n)}
        print(f"  restart: ready {ready_s:.2f} s, first query answered {answered_s:.2f} s; "
              f"RSS {row['emulator']['rss_restarted_mb']} MB", flush=True)
        self.close()

    def close(self) -> None:
        if self.emu.proc is not None and self.emu.proc.proc.poll() is None:
            self.emu.stop()
        self.row["emulator_log_problems"] = self.emu.problems()[:50]


def targets(rows: list[dict], skipped: str | None) -> list[dict]:
    """Each of the issue's targets at the largest size (and, for pages, against the smallest): met, not met, or
    None when it was not measured (`skipped` says why)."""
    big, small = rows[-1], rows[0]
    at = f"at {big['tickets']:,} tickets ({big['open']:,} open)"
    out = []
    q = big.get("queue")
    if q is None:
        out.append({"target": f"the queue's four targets (rows shown, blocks, filter, detail) {at}",
                    "figure": f"not measured: {skipped}", "met": None})
    elif "rows_shown_s" not in q:  # the rows never showed: every figure of the queue is missing
        out += [{"target": f"{what} {at}", "figure": "; ".join(q.get("problems", [])), "met": False}
                for what in ("the queue's rows, blocks, filter and detail",)]
    elif q is not None:
        out.append(_target(f"sign-in to all open rows shown < {TARGET_ROWS_S} s {at}", q["rows_shown_s"],
                           TARGET_ROWS_S, "s", f"first rows {q['first_rows_s']} s"))
        out.append(_target(f"longest main-thread block after the rows are shown < {TARGET_BLOCK_MS:.0f} ms {at}",
                           q["longest_block_after_ms"], TARGET_BLOCK_MS, "ms",
                           f"idle with {q['idle']['age_refreshes']} age refresh(es) {q['idle']['longest_block_ms']} ms, "
                           f"a new and a solved ticket {q['live']['longest_block_ms']} ms"))
        out.append(_target(f"filter change < {TARGET_INTERACTION_MS:.0f} ms {at}", q["filter_ms"],
                           TARGET_INTERACTION_MS, "ms", "worst of setting and clearing, until drawn"))
        out.append(_target(f"opening a detail < {TARGET_INTERACTION_MS:.0f} ms {at}", q["detail_ms"],
                           TARGET_INTERACTION_MS, "ms", "worst of the opens, until drawn"))
    for name, _ in RATIO_QUERIES:
        now, then = big["queries"][name]["best_ms"], small["queries"][name]["best_ms"]
        ratio = round(now / then, 2) if then else None
        out.append({"target": f"a page ({name}) {at} within {TARGET_PAGE_RATIO:.0f}x of its time at "
                              f"{small['tickets']:,}",
                    "figure": f"{now} ms vs {then} ms: {ratio}x", "met": ratio is not None and ratio <= TARGET_PAGE_RATIO})
    out.append(_target(f"training's read of every ticket < {TARGET_TRAINING_S:.0f} s {at}",
                       big["training"]["seconds"], TARGET_TRAINING_S, "s", f"{big['training']['pages']} pages"))
    out.append(_target(f"restart, until the queue's query answers, < {TARGET_RESTART_S:.0f} s {at}",
                       big["restart"]["first_query_s"], TARGET_RESTART_S, "s",
                       f"ready line after {big['restart']['ready_s']} s"))
    return out


def summary(rows: list[dict]) -> tuple[list[tuple[str, str]], list[dict]]:
    """One line per figure, one column per size: the table for the README."""
    lines = [("tickets written per s", lambda r: r["seed"]["tickets_per_s"]),
             ("JSON bytes per ticket", lambda r: r["json_bytes_per_ticket"])]
    if all("queue" in r for r in rows):
        lines += [
            ("queue: sign-in to first rows, s", lambda r: r["queue"]["first_rows_s"]),
            ("queue: sign-in to all open rows, s", lambda r: r["queue"]["rows_shown_s"]),
            ("queue: bytes until rows shown", lambda r: r["queue"]["bytes_until_shown"]),
            ("queue: longest block while the rows load, ms", lambda r: r["queue"]["longest_block_loading_ms"]),
            ("queue: longest block, idle incl. age refresh, ms", lambda r: r["queue"]["idle"]["longest_block_ms"]),
            ("queue: age refreshes in that window", lambda r: r["queue"]["idle"]["age_refreshes"]),
            ("queue: one age refresh, ms", lambda r: r["queue"]["idle"]["age_refresh_ms"]),
            ("queue: longest block, a new + a solved ticket, ms", lambda r: r["queue"]["live"]["longest_block_ms"]),
            ("queue: new ticket to its row, ms", lambda r: r["queue"]["live"]["new_row_ms"]),
            ("queue: solved ticket out of the list, ms", lambda r: r["queue"]["live"]["closed_out_ms"]),
            ("queue: bytes for the new + the solved ticket", lambda r: r["queue"]["live"]["bytes"]),
            ("queue: rows built for them (1 expected)", lambda r: r["queue"]["live"]["rows_built"]),
            ("queue: filter change, until drawn, ms", lambda r: r["queue"]["filter_ms"]),
            ("queue: filter change, handler only, ms", lambda r: r["queue"]["filter_handler_ms"]),
            ("queue: opening a detail, until drawn, ms", lambda r: r["queue"]["detail_ms"]),
            ("queue: opening a detail, handler only, ms", lambda r: r["queue"]["detail_handler_ms"]),
            ("queue: Done, first page, ms", lambda r: r["queue"]["done"]["first_page_ms"]),
            ("queue: Done, Show more (worst), ms", lambda r: r["queue"]["done"]["more_page_ms"]),
            ("queue: bytes per Done page", lambda r: r["queue"]["done"]["bytes_per_page"]),
            ("queue: page's JS heap, MB", lambda r: r["queue"]["js_heap_mb"]),
            ("queue: browser memory (PSS), MB", lambda r: r["queue"]["browser_pss_mb"]),
        ]
    for name, _ in QUERIES:
        lines.append((f"REST {name}, best ms", lambda r, name=name: r["queries"][name]["best_ms"]))
        lines.append((f"REST {name}, first ms", lambda r, name=name: r["queries"][name]["first_ms"]))
    lines += [
        ("training's read, s", lambda r: r["training"]["seconds"]),
        ("emulator RSS loaded, MB", lambda r: r["emulator"]["rss_loaded_mb"]),
        ("emulator RSS after the queue, MB", lambda r: r["emulator"]["rss_after_queue_mb"]),
        ("emulator RSS after restart, MB", lambda r: r["emulator"]["rss_restarted_mb"]),
        ("emulator bytes per ticket (after restart)", lambda r: r["emulator"]["bytes_per_ticket_restarted"]),
        ("data dir bytes per ticket", lambda r: r["emulator"]["disk_bytes_per_ticket"]),
        ("restart: ready line, s", lambda r: r["restart"]["ready_s"]),
        ("restart: first query answered, s", lambda r: r["restart"]["first_query_s"]),
    ]
    columns = [("measure", "measure")] + [(f"{r['tickets']:,}", f"n{r['tickets']}") for r in rows]
    out = []
    for label, read in lines:
        line = {"measure": label}
        for r in rows:
            try:
                line[f"n{r['tickets']}"] = read(r)
            except (KeyError, TypeError):
                line[f"n{r['tickets']}"] = None
        out.append(line)
    return columns, out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=_ints, default=[1000, 10_000, 100_000], help="tickets per run, comma-separated")
    p.add_argument("--open-share", type=float, default=0.02, help="share of open tickets (status new)")
    p.add_argument("--batch", type=int, default=2000, help="tickets per multi-path PATCH while writing")
    p.add_argument("--repeats", type=int, default=10, help="timed REST queries after the first (best is kept)")
    p.add_argument("--watch", type=float, default=None,
                   help="seconds to watch the idle queue for main-thread blocks (default 35, --quick 3); "
                        "over 30 s includes one refresh of the ages")
    p.add_argument("--quick", action="store_true", help="short watch, fewer repeats: a smoke run")
    p.add_argument("--no-browser", action="store_true", help="leave the queue in Chromium out")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", default="bench/results/scale.json")
    args = p.parse_args(argv)
    if args.watch is None:
        args.watch = 3.0 if args.quick else 35.0
    if args.quick:
        args.repeats = min(args.repeats, 2)
    args.sizes = sorted(args.sizes)
    host = machine()  # before the load, so its speed probe measures the machine and not the benchmark
    host["load_avg_before"] = [round(x, 2) for x in os.getloadavg()]
    host["code"] = _code_state()
    print(f"the speed probe takes {host['speed_probe_ms']} ms; load average {host['load_avg_before']}", flush=True)
    skipped = "left out (--no-browser)" if args.no_browser else scale_queue.unavailable()
    if skipped:
        print(f"SKIPPED the queue in Chromium: {skipped}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as work, scale_queue.browser(skipped is None) as launch:
        work = Path(work)
        (work / "triggers.json").write_text('{"triggers": []}')
        runs = [Size(n, args, work) for n in args.sizes]
        try:
            for run in runs:
                run.load()
            print("\nREST queries, interleaved over the sizes:", flush=True)
            time_queries(runs, args.repeats)
            for run in runs:
                run.finish(launch)
                _print_size(run.row)
        finally:
            for run in runs:
                run.close()
        rows = [run.row for run in runs]
    host["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
    columns, lines = summary(rows)
    table("All sizes", columns, lines)
    verdicts = targets(rows, skipped)
    print("\ntargets (issue 14)" + ("" if args.sizes[-1] == ISSUE_SIZE else
                                     f"; the issue sets them at {ISSUE_SIZE:,} tickets, this run's largest size is "
                                     f"{args.sizes[-1]:,}") + ":")
    for t in verdicts:
        print(f"  {({True: 'met', False: 'MISSED', None: 'skipped'})[t['met']]:7} {t['target']}: {t['figure']}")
    for r in rows:
        for problem in r.get("problems", []) + r.get("queue", {}).get("problems", []):
            print(f"PROBLEM at {r['tickets']:,}: {problem}")
        if r["emulator_log_problems"]:
            print(f"the emulator's log at {r['tickets']:,} tickets has {len(r['emulator_log_problems'])} lines "
                  f"worth a look, e.g.:")
            for line in r["emulator_log_problems"][:10]:
                print(f"  {line}")
    print(f"load average before {host['load_avg_before']}, after {host['load_avg_after']}")
    result = {"benchmark": "scale", "machine": host,
              "settings": {"sizes": args.sizes, "open_share": args.open_share, "batch": args.batch,
                           "repeats": args.repeats, "watch_s": args.watch, "seed": args.seed,
                           "bytes_method": scale_queue.BYTES_METHOD, "browser": skipped or "chromium"},
              "sizes": rows, "summary": lines, "targets": verdicts}
    save(args.out, result)


def _code_state() -> dict:
    """The commit measured, and the files of the measured components that differed from it (others edit them)."""
    def git(*args):
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    return {"commit": git("rev-parse", "HEAD"),
            "uncommitted": git("status", "--porcelain", "--", "emulator", "web", "training").splitlines()}


def _print_size(r: dict) -> None:
    columns, lines = summary([r])
    table(f"At {r['tickets']:,} tickets ({r['open']:,} open)", [("measure", "measure"), ("figure", columns[1][1])],
          lines)


def _target(text: str, figure, limit: float, unit: str, note: str) -> dict:
    met = figure is not None and figure < limit
    return {"target": text, "figure": f"{figure} {unit} ({note})", "met": met}


def _mb(n: int) -> float:
    return round(n / 2**20, 1)


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


if __name__ == "__main__":
    main()
