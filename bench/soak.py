"""Soak: the whole stack at a moderate, steady load for a long time, watching memory, open files and every ticket.

Run: `python -m bench.soak [--minutes 30] [--rate 20] [--every 30] [--drain 120] [--stored N]`. Every `--every`
seconds it records, per process (children included: gunicorn's worker), resident memory, open file descriptors
and CPU time (shown as CPU ms per ticket of each window, with the soak's own), and, counted since the start:
tickets submitted, enriched and forwarded, duplicates in the helpdesk, dead letters, events retried, the outbox
backlog, the emulator's snapshots and the size of its log since the last, and the p50/p99 write-to-enrichment
latency of the tickets enriched in that window, and where that time went: each window's p50 and p99 of the
emulator's request, commit, delivery and event-loop lag histograms and of the function's event age, event and
helpdesk call histograms (read off both `/metrics` pages, to their buckets' upper bounds). Growth from the first to
the last quarter is summarised, so a leak shows as a trend, not a single number. The emulator's warnings (a late
event loop among them) are printed and saved with the wall-clock time the load started.

The sampling stays cheap as `/tickets` grows: one SSE stream on `/tickets`, opened while it is empty,
tells when each ticket's enrichment and helpdesk link become visible (what the web page does; a few
small frames per ticket, no re-reads); the helpdesk stub's API is paged only over the tickets created
since the last sample; the rest comes from the emulator's `/metrics`. After the load stops, a drain
(`--drain` seconds at most) waits for every ticket to be enriched and forwarded; then one full read of
`/tickets` and the helpdesk's list verify that each was enriched and forwarded exactly once. Prints the
tables and saves JSON.

`--stored N` starts from a year of tickets instead of an empty database: N realistic tickets as the pipeline leaves
them (`bench.scale_data`, 2% open), written into the data dir by an emulator without triggers before the stack
starts, so the stack loads them as it would after a restart and the function sees none of them. The stream and
the final read then watch only the keys after the stored ones (`orderBy="$key"`, `startAt`): the soak's tickets.
"""

import argparse
import asyncio
import json
import os
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import aiohttp
import requests

from bench import scale_data
from bench.burst import ADMIN, HELPDESK_AUTH
from bench.pipeline import ticket
from bench.report import histogram, machine, metric, pct, save, table, tree_cpu_seconds, window_quantile
from stack import Ports, Stack
from stack.procs import ROOT
from stack.tokens import user_token

PER_PAGE = 100  # the helpdesk API's largest page
STORED_OPEN_SHARE = 0.02  # `--stored`: the share of open tickets, as in bench.scale
STORED_BATCH = 2000  # `--stored`: tickets per multi-path PATCH while seeding
# (name, process, histogram): the stages a ticket's time goes through, read off that process's /metrics each window
STAGES = (("db request", "database", "rtdb_http_request_seconds"),
          ("db commit", "database", "rtdb_write_commit_seconds"),
          ("delivery", "database", "rtdb_event_delivery_seconds"),
          ("loop lag", "database", "rtdb_event_loop_lag_seconds"),
          ("event age", "enrich", "enrich_event_age_seconds"),
          ("event", "enrich", "enrich_event_seconds"),
          ("helpdesk", "enrich", "enrich_helpdesk_seconds"))
FIELDS = ("enrichment", "helpdesk")  # what the function writes back: the model's fields, the helpdesk link


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
    """Resident memory (MB), open file descriptors and CPU seconds so far of a process and its children."""
    rss_kb, fds = 0, 0
    for p in _tree(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                rss_kb += next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
            fds += len(os.listdir(f"/proc/{p}/fd"))
        except (OSError, StopIteration):
            pass
    return {"rss_mb": round(rss_kb / 1024, 1), "fds": fds, "cpu_s": round(tree_cpu_seconds(pid), 2)}


def cpu_per_ticket(samples: list[dict], names: list[str]) -> list[dict]:
    """Each window's CPU ms per ticket submitted in it, per process (`<name>_cpu`) and the soak's own (`soak_cpu`:
    the customer, the stream and the sampling)."""
    rows, before = [], None
    for s in samples:
        row = {}
        if before is not None and s["submitted"] > before["submitted"]:
            n = s["submitted"] - before["submitted"]
            for name in names:
                row[f"{name}_cpu"] = round((s[name]["cpu_s"] - before[name]["cpu_s"]) * 1000 / n, 2)
            row["soak_cpu"] = round((s["soak_cpu_s"] - before["soak_cpu_s"]) * 1000 / n, 2)
        rows.append(row)
        before = s
    return rows


class Submitter:
    """Customers submitting tickets at a steady rate; remembers each acknowledged ticket's key and send time.

    Open loop, as customers are: each ticket is sent at its time whether or not the earlier ones have been
    answered (at most `in_flight` at once, the rest waiting for a connection from their time on), so a stack that
    falls behind shows as latency and a backlog, not as fewer tickets sent. (One POST after another, as before
    2026-12-07 evening, sent 95,000 tickets in a 10-minute run at 200/s on a VM that could not keep up.)
    """

    def __init__(self, db: str, rate: float, in_flight: int = 64):
        self.db, self.rate, self.in_flight = db, rate, in_flight
        self.sent: dict[str, float] = {}  # key -> perf_counter just before its POST
        self.errors = 0  # refused or failed POSTs (a timed-out one may still have been stored)
        self.stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "Submitter":
        self._thread.start()
        return self

    def join(self) -> None:
        self.stop.set()
        self._thread.join(15)

    def _run(self) -> None:
        asyncio.run(self._submit_all())

    async def _submit_all(self) -> None:
        token, n, start = user_token("soak"), 0, time.monotonic()
        pending: set[asyncio.Task] = set()
        connector = aiohttp.TCPConnector(limit=self.in_flight)
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=10)) as http:
            while not self.stop.is_set():
                await asyncio.sleep(max(0.0, start + n / self.rate - time.monotonic()))
                task = asyncio.create_task(self._post(http, token, n))
                pending.add(task)
                task.add_done_callback(pending.discard)
                n += 1
            await asyncio.gather(*pending)

    async def _post(self, http: aiohttp.ClientSession, token: str, n: int) -> None:
        t0 = time.perf_counter()
        try:
            async with http.post(f"{self.db}/tickets.json", params={"auth": token},
                                 json={**ticket(n), "uid": "soak"}) as r:
                body = await r.json()
                if r.status == 200:
                    self.sent[body["name"]] = t0
                else:
                    self.errors += 1
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError, KeyError, TypeError):
            self.errors += 1


class TicketStream:
    """One SSE stream on `/tickets`: when each ticket's enrichment and helpdesk link first became visible.

    Opened before any ticket exists, so its first event is empty; after that each write sends only what
    changed. A dropped stream reconnects (its first event is then the whole tree; counted in `reconnects`).
    """

    def __init__(self, db: str, query: dict | None = None):
        self.db, self.query = db, query or {}
        self.first_seen: dict[str, dict[str, float]] = {f: {} for f in FIELDS}  # field -> key -> perf_counter
        self.enriched_log: list[tuple[str, float]] = []  # (key, when), in the order enrichments appeared
        self.reconnects = -1
        self.ready = threading.Event()
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "TicketStream":
        self._thread.start()
        if not self.ready.wait(30):
            raise RuntimeError("the /tickets stream sent no first event in 30 s")
        return self

    def stop(self) -> None:
        self._stop.set()  # the thread ends at the next frame (keep-alives included) or when the stack stops

    def counts(self, keys) -> dict[str, int]:
        """How many of `keys` have each field visible."""
        with self.lock:
            return {f: sum(1 for k in keys if k in self.first_seen[f]) for f in FIELDS}

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with requests.get(f"{self.db}/tickets.json", headers={"Accept": "text/event-stream", **ADMIN},
                                  params=self.query, stream=True, timeout=(10, None)) as r:
                    self.reconnects += 1
                    kind = None
                    for line in r.iter_lines(chunk_size=None):
                        if self._stop.is_set():
                            return
                        if line.startswith(b"event: "):
                            kind = line[7:].decode()
                        elif line.startswith(b"data: ") and kind in ("put", "patch"):
                            self._on(kind, json.loads(line[6:]), time.perf_counter())
                            self.ready.set()
            except (requests.RequestException, ValueError):
                pass
            self._stop.wait(1)

    def _on(self, kind: str, event: dict, now: float) -> None:
        base = [p for p in event["path"].split("/") if p]
        data = event["data"]
        writes = ([(base + [p for p in k.split("/") if p], v) for k, v in data.items()] if kind == "patch"
                  else [(base, data)])
        with self.lock:
            for path, value in writes:
                if not path:  # the whole tree: the first event, or a reconnect
                    for key, t in (value or {}).items():
                        self._mark(key, t, now)
                elif len(path) == 1:
                    self._mark(path[0], value, now)
                elif len(path) == 2:
                    self._mark(path[0], {path[1]: value}, now)

    def _mark(self, key: str, t, now: float) -> None:
        if not isinstance(t, dict):
            return
        for field in FIELDS:
            if isinstance(t.get(field), dict) and key not in self.first_seen[field]:
                self.first_seen[field][key] = now
                if field == "enrichment":
                    self.enriched_log.append((key, now))


class Helpdesk:
    """The helpdesk stub's tickets by `external_id` (the database key), read page by page as they are created."""

    def __init__(self, url: str):
        self.url = url.rstrip("/")
        self.external_ids: list[str] = []  # in helpdesk id order; tickets are only ever appended
        self.per_ticket: Counter = Counter()
        self.http = requests.Session()
        self.http.headers.update(HELPDESK_AUTH)

    def catch_up(self) -> None:
        """Read the helpdesk tickets created since the last call: from the page the last one read ends in."""
        while True:
            page = len(self.external_ids) // PER_PAGE + 1
            body = self.http.get(f"{self.url}/api/v2/tickets.json", timeout=30,
                                 params={"page": page, "per_page": PER_PAGE, "sort_by": "id"}).json()
            new = [t["external_id"] for t in body["tickets"][len(self.external_ids) % PER_PAGE:]]
            self.external_ids += new
            self.per_ticket.update(new)
            if not new or not body["next_page"]:
                return

    def duplicates(self) -> int:
        """Helpdesk tickets beyond the first for the same database ticket."""
        return sum(n - 1 for n in self.per_ticket.values() if n > 1)


def latency_ms(stream: TicketStream, sent: dict[str, float], since: int) -> tuple[list[float], int]:
    """Write-to-enrichment-visible times (ms) of the tickets enriched since entry `since` of the stream's log."""
    with stream.lock:
        new = stream.enriched_log[since:]
    return [(when - sent[key]) * 1000 for key, when in new if key in sent], since + len(new)


def _p(values: list[float], q: float) -> float | None:
    return round(pct(values, q), 1) if values else None


def verify(db: str, sent: dict[str, float], desk: Helpdesk, query: dict | None = None) -> dict:
    """One full read of `/tickets` (of `query`'s part of it): each acknowledged ticket enriched, linked and in the
    helpdesk exactly once."""
    tickets = requests.get(f"{db}/tickets.json", params=query or {}, headers=ADMIN, timeout=300).json() or {}
    desk.catch_up()

    def enriched(key):
        return isinstance((tickets.get(key) or {}).get("enrichment"), dict)

    def forwarded(key):  # the link written back for the current enrichment, and a helpdesk ticket for it
        t = tickets.get(key) or {}
        link = t.get("helpdesk")
        return (enriched(key) and isinstance(link, dict) and desk.per_ticket[key] >= 1
                and link.get("input_hash") == t["enrichment"].get("input_hash"))

    lost = [k for k in sent if not forwarded(k)]
    return {"submitted": len(sent), "stored": len(tickets), "unacknowledged_stored": len(set(tickets) - set(sent)),
            "enriched": sum(map(enriched, sent)), "forwarded": sum(map(forwarded, sent)),
            "helpdesk_tickets": len(desk.external_ids), "lost": len(lost), "lost_keys": lost[:10],
            "duplicates": desk.duplicates(),
            "helpdesk_strays": sum(n for k, n in desk.per_ticket.items() if k not in tickets)}


def growth(samples: list[dict], names: list[str]) -> dict:
    """Per process: mean resident memory and open files over the first and the last quarter of the samples."""
    quarter = max(1, len(samples) // 4)
    first, last = samples[:quarter], samples[-quarter:]

    def mean(rows, name, key):
        return round(sum(s[name][key] for s in rows) / len(rows), 1)

    summary = {}
    for name in names:
        rss_first, rss_last = mean(first, name, "rss_mb"), mean(last, name, "rss_mb")
        summary[name] = {"rss_first_quarter_mb": rss_first, "rss_last_quarter_mb": rss_last,
                         "rss_growth_mb": round(rss_last - rss_first, 1),
                         "rss_max_mb": max(s[name]["rss_mb"] for s in samples),
                         "fds_first_quarter": mean(first, name, "fds"), "fds_last_quarter": mean(last, name, "fds"),
                         "fds_first": samples[0][name]["fds"], "fds_last": samples[-1][name]["fds"]}
    return summary


def emulator_counts(db: str, text: str | None = None) -> dict:
    """Dead letters and retried deliveries since the start, and the outbox backlog, from the emulator's /metrics
    (`text`, when it was just read)."""
    text = requests.get(f"{db}/metrics", timeout=30).text if text is None else text
    try:  # snapshots completed, and the log's size: not counted by emulators before 2026-12-07 evening
        snapshots = {"snapshots": int(metric(text, "rtdb_snapshots_total")),
                     "log_mb": round(metric(text, "rtdb_log_bytes") / 1e6, 1)}
    except KeyError:
        snapshots = {"snapshots": None, "log_mb": None}
    return {"dead_letters": int(metric(text, "rtdb_events_dead_lettered_total")),
            "events_retried": int(metric(text, "rtdb_events_retried_total")),
            "outbox_pending": int(metric(text, "rtdb_outbox_pending")), **snapshots}


def metrics_pages(urls: dict[str, str]) -> dict[str, str]:
    """The /metrics page of each process `urls` names, now."""
    return {name: requests.get(url, timeout=30).text for name, url in urls.items()}


def stage_histograms(pages: dict[str, str]) -> dict[str, dict[float, float]]:
    """Each of `STAGES`' histograms, from its process's page in `pages` (`metrics_pages`)."""
    return {stage: histogram(pages[proc], name) for stage, proc, name in STAGES}


def stage_window(before: dict, after: dict) -> dict[str, dict]:
    """Per stage, the observations made between two `stage_histograms` readings: their count, and their p50 and
    p99 in ms as bucket upper bounds (None: no observation; "inf": past the last bucket, kept valid JSON)."""
    def ms(seconds):
        return None if seconds is None else "inf" if seconds == float("inf") else round(seconds * 1000, 3)

    window = {}
    for stage in after:
        p50, p99 = (window_quantile(before[stage], after[stage], q) for q in (50, 99))
        window[stage] = {"n": int(max(after[stage].values()) - max(before[stage].values(), default=0)),
                         "p50_ms": ms(p50), "p99_ms": ms(p99)}
    return window


def preload(data_dir: Path, n: int, seed: int) -> tuple[dict, dict]:
    """Write `n` stored tickets into the database data dir `data_dir` with an emulator without triggers.

    Returns the query that selects only tickets written after them, and what the seeding took.
    """
    from bench.scale import Emulator, seed as write_batches  # (psutil, the scale benchmark's, only when needed)

    data = scale_data.Tickets(n, STORED_OPEN_SHARE, seed=seed, now_ms=int(time.time() * 1000))
    triggers = data_dir.parent / "no-triggers.json"
    triggers.write_text('{"triggers": []}')
    emulator = Emulator(data_dir, triggers)
    emulator.start()
    try:
        with requests.Session() as session:
            seeded = write_batches(session, emulator.url, data.batches(STORED_BATCH))
    finally:
        emulator.stop()
    # Push ids grow with time: the soak's keys sort after the newest stored one, and "-" is the lowest push id
    # character, so this is above every stored key and below every later one.
    after = max(key for key, _ in data.items) + "-"
    return {"orderBy": '"$key"', "startAt": json.dumps(after)}, {**seeded, "tickets": n, "open": data.open_count}


def run(args) -> tuple[list[str], list[dict], dict]:
    """Start the stack, load and sample it, drain and verify it; the process names, the samples, the totals."""
    samples = []
    with tempfile.TemporaryDirectory() as tmp:
        query, stored = None, None
        if args.stored:
            query, stored = preload(Path(tmp) / "database", args.stored, args.seed)
            print(f"stored {args.stored:,} tickets in {stored['seconds']} s", flush=True)
        started_at = time.perf_counter()
        stack = Stack(ports=Ports.free(), data_dir=Path(tmp), model_dir=ROOT / "model").start()
        db = stack.urls["database"]
        try:
            if stored:
                stored["stack_start_s"] = round(time.perf_counter() - started_at, 2)
                stored["loaded"] = len(requests.get(f"{db}/tickets.json", params={"shallow": "true"}, headers=ADMIN,
                                                    timeout=300).json() or {})
                if stored["loaded"] != args.stored:
                    raise RuntimeError(f"the stack loaded {stored['loaded']} of the {args.stored} stored tickets")
            stage_urls = {"database": f"{db}/metrics", "enrich": stack.metrics_url("enrich")}
            stages = stage_histograms(metrics_pages(stage_urls))
            stream = TicketStream(db, query).start()
            desk = Helpdesk(stack.urls["helpdesk"])
            submitter = Submitter(db, args.rate).start()
            started, logged, all_ms = time.monotonic(), 0, []
            started_wall = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())
            for k in range(1, max(1, round(args.minutes * 60 / args.every)) + 1):
                time.sleep(max(0.0, started + k * args.every - time.monotonic()))
                sent = dict(submitter.sent)
                desk.catch_up()
                window, logged = latency_ms(stream, sent, logged)
                all_ms += window
                pages = metrics_pages(stage_urls)  # the emulator's page serves the counts and the stages
                row = {"t_min": round((time.monotonic() - started) / 60, 2), "submitted": len(sent),
                       "submit_errors": submitter.errors, "enriched": stream.counts(sent)["enrichment"],
                       "forwarded": sum(1 for key in sent if desk.per_ticket[key]),
                       "duplicates": desk.duplicates(), **emulator_counts(db, pages["database"]),
                       "enrich_p50_ms": _p(window, 50), "enrich_p99_ms": _p(window, 99)}
                stages, before = stage_histograms(pages), stages
                row["stages"] = stage_window(before, stages)
                for name, proc in stack.procs.items():
                    row[name] = sample(proc.proc.pid)
                row["soak_cpu_s"] = round(time.process_time(), 2)
                samples.append(row)
                print(json.dumps(row), flush=True)
            submitter.join()
            drain_s = drain(db, stream, desk, submitter.sent, args.drain)
            window, logged = latency_ms(stream, submitter.sent, logged)
            all_ms += window
            stream.stop()
            totals = {**verify(db, submitter.sent, desk, query), "stored_before": stored,
                      "submit_errors": submitter.errors, **emulator_counts(db), "drain_s": drain_s,
                      "enrich_p50_ms": _p(all_ms, 50), "enrich_p99_ms": _p(all_ms, 99),
                      "stream_reconnects": stream.reconnects, "load_started": started_wall,
                      # what the emulator warned of (a late event loop, say), to hold against the windows' times
                      "emulator_warnings": [line.strip() for line in stack.procs["database"].lines
                                            if " WARNING " in line][-200:]}
        finally:
            stack.stop()
    return list(stack.procs), samples, totals


def drain(db: str, stream: TicketStream, desk: Helpdesk, sent: dict, seconds: float) -> float:
    """Wait (at most `seconds`) until every ticket is enriched, linked and in the helpdesk, and the outbox is empty."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        desk.catch_up()
        visible = stream.counts(sent)
        in_desk = sum(1 for key in sent if desk.per_ticket[key])
        if min(visible.values()) == in_desk == len(sent) and emulator_counts(db)["outbox_pending"] == 0:
            break
        time.sleep(1)
    return round(time.monotonic() - start, 1)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=30)
    p.add_argument("--rate", type=float, default=20, help="tickets per second")
    p.add_argument("--every", type=float, default=30, help="seconds between samples")
    p.add_argument("--drain", type=float, default=120, help="at most this many seconds for the backlog to clear")
    p.add_argument("--stored", type=int, default=0,
                   help="start from this many stored tickets (a year is 50,000-100,000), not an empty database")
    p.add_argument("--seed", type=int, default=7, help="the stored tickets' generator seed")
    p.add_argument("--out", default="bench/results/soak.json")
    args = p.parse_args(argv)
    names, samples, totals = run(args)
    summary = growth(samples, names)
    table(f"Soak: {args.minutes} min at {args.rate} tickets/s, every {args.every} s; counts since the start, "
          "write-to-enrichment ms of the window's tickets, resident MB",
          [("min", "t_min"), ("submitted", "submitted"), ("enriched", "enriched"), ("forwarded", "forwarded"),
           ("dup", "duplicates"), ("dead", "dead_letters"), ("retried", "events_retried"),
           ("outbox", "outbox_pending"), ("snapshots", "snapshots"), ("log MB", "log_mb"),
           ("p50 ms", "enrich_p50_ms"), ("p99 ms", "enrich_p99_ms"), *[(f"{n} MB", f"{n}_mb") for n in names]],
          [{**s, **{f"{n}_mb": s[n]["rss_mb"] for n in names}} for s in samples])
    table("CPU ms per ticket submitted in each window, per process and the soak's own",
          [("min", "t_min"), *[(n, f"{n}_cpu") for n in names], ("soak", "soak_cpu")],
          [{"t_min": s["t_min"], **c} for s, c in zip(samples, cpu_per_ticket(samples, names))])
    table("Where the time went: p99 ms of each stage in each window (to its histogram bucket's upper bound)",
          [("min", "t_min"), *[(stage, stage) for stage, _, _ in STAGES]],
          [{"t_min": s["t_min"], **{k: v["p99_ms"] for k, v in s["stages"].items()}} for s in samples])
    table("Resident memory MB and open files per process, first quarter of the samples -> last",
          [("process", "process"), ("first-quarter MB", "rss_first_quarter_mb"),
           ("last-quarter MB", "rss_last_quarter_mb"), ("growth MB", "rss_growth_mb"), ("max MB", "rss_max_mb"),
           ("fds first", "fds_first"), ("fds last", "fds_last")], [{"process": n, **m} for n, m in summary.items()])
    t = totals
    for line in t["emulator_warnings"]:
        print(f"emulator: {line}")
    print(f"\nTotals after a {t['drain_s']} s drain: {t['submitted']} submitted ({t['submit_errors']} failed "
          f"submissions, {t['stored']} stored), {t['enriched']} enriched, {t['forwarded']} forwarded "
          f"({t['helpdesk_tickets']} helpdesk tickets); lost {t['lost']}, duplicates {t['duplicates']}; "
          f"dead letters {t['dead_letters']}, events retried {t['events_retried']}; "
          f"write-to-enrichment p50 {t['enrich_p50_ms']} ms, p99 {t['enrich_p99_ms']} ms")
    save(args.out, {"benchmark": "soak", "machine": machine(), "minutes": args.minutes, "rate": args.rate,
                    "every": args.every, "stored": args.stored, "samples": samples,
                    "cpu_ms_per_ticket": cpu_per_ticket(samples, names), "summary": summary,
                    "totals": totals})


if __name__ == "__main__":
    main()
