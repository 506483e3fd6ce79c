"""End-to-end benchmark: write -> enrichment visible, and write -> helpdesk link, on the real stack.

Run: `python -m bench.pipeline [--seconds 10] [--rates 20,50,75,100,150,200] [--variants model,noop]
[--writer rest|jssdk]`.
Starts the whole stack (emulator with durable storage, both functions, helpdesk stub) on free ports,
submits tickets at a steady rate, watches `/tickets` over one SSE stream (what the web page does),
prints tables and saves JSON. A rate is "sustained" when every ticket is forwarded and p99
write-to-enrichment stays under 250 ms.

Variants: `model` is the deployed function; `noop` serves `bench/noop_function.py`, the same path with
a constant model and a helpdesk that answers at once, so the pipeline's own overhead shows next to
the floor. For each ticket the function's log gives the breakdown: delivery (the event's commit
time to the handler starting), the database read, the prediction, the write-back and the
helpdesk call. CPU per ticket is each process's CPU time over the run divided by its tickets; the load
generator's own (this process, and the Node writer's with `--writer jssdk`) is reported beside it, not in the
total, as it takes its share of the same cores.
"""

import argparse
import asyncio
import json
import os
import random
import shutil
import tempfile
import threading
import time
from pathlib import Path

import aiohttp

from bench.report import fsync_ms, machine, pct, save, table, tree_cpu_seconds
from bench.texts import MAX_CHARS, REAL_MEDIAN_CHARS, REAL_P90_CHARS, real_length, run_together
from stack import Ports, Stack
from stack.procs import ROOT
from stack.tokens import user_token

TARGET_P50_MS, TARGET_P99_MS = 50.0, 150.0
SUSTAINED_P99_MS = 250.0
BENCH_UID = "bench-customer"
ADMIN = {"Authorization": "Bearer owner"}
SUBJECTS = ["Cannot log in", "Invoice is wrong", "Dashboard is slow", "API returns 500", "Password reset mail missing"]
# `--writer jssdk`: tickets written by the Firebase JS SDK (web, modular) over the realtime protocol, spread
# over this many client connections, as customers' browsers write them.
JSSDK_WRITER = ROOT / "tests" / "jssdk" / "support" / "pipeline_writer.mjs"
JSSDK_CLIENTS = 4
WRITERS = ("rest", "jssdk")
VARIANTS = {"model": ROOT / "functions" / "main.py", "noop": ROOT / "bench" / "noop_function.py"}
STAGES = ("delivery", "read", "predict", "write_back", "helpdesk", "handler")


# `--text real`: descriptions as long as real helpdesk e-mails (bench.texts); the short default is one sentence of
# about 50 characters.
TEXTS = ("short", "real")
SHORT_SENTENCES = ("Production is down for all users, please help now.",
                   "A small question about an invoice line, no rush.",
                   "Pages take thirty seconds to load since the update.")
SENTENCES = SHORT_SENTENCES + (
    "We restarted the service twice and cleared the cache.",
    "The error says: connection reset by peer (code 104) after about a minute.",
    "This is the third time this week and our customers are getting really frustrated.",
    "Attached are the logs from this morning; the first failure is at 09:14.",
    "Thanks for the quick answer last time, it helped a lot.", "Could you tell us when a fix will be ready?",
    "INFO worker-3 request handled in 1240 ms, status 502, upstream timeout.",
    "Our finance team cannot export the monthly report as CSV any more.",
    "I am not sure whether this is a bug or a setting on our side.")


def real_description(rnd: random.Random) -> str:
    """Sentences up to the length of a real helpdesk e-mail, drawn from ``rnd``."""
    return run_together(list(SENTENCES), real_length(rnd), rnd)


def ticket(i: int, text: str = "short") -> dict:
    rnd = random.Random(i)
    subject, short = f"{rnd.choice(SUBJECTS)} #{i}", rnd.choice(SHORT_SENTENCES)
    # (a real-length text from a generator of its own, so that the ticket's other fields stay the same)
    return {"subject": subject, "description": short if text == "short" else real_description(random.Random(-1 - i)),
            "contact": {"name": "Bench User", "email": f"user{i}@example.com"},
            "category": rnd.choice(["technical", "performance", "authentication", "billing"]),
            "type": rnd.choice(["request", "issue"]), "impact": rnd.randint(0, 4),
            "experience": rnd.choice(["beginner", "experienced", "advanced", "trainer"]),
            "seniority": rnd.randint(0, 10), "created_at": {".sv": "timestamp"}, "status": "new"}


class FunctionLog:
    """Collects the enrich function's JSON log lines (outcome, event_age_ms, timings_ms) as they are printed."""

    def __init__(self):
        self._lock = threading.Lock()
        self._records: list[dict] = []

    def __call__(self, line: str) -> None:
        if line.startswith("{") and '"outcome"' in line:
            try:
                record = json.loads(line)
            except ValueError:
                return
            with self._lock:
                self._records.append(record)

    def take(self) -> list[dict]:
        with self._lock:
            records, self._records = self._records, []
        return records


def breakdown(records: list[dict]) -> dict:
    """p50 and p99 in ms of each stage of the events that forwarded a ticket.

    (The skipped write-back events are logged only at LOG_LEVEL=DEBUG, which the stack does not set.)
    """
    stages = {name: [] for name in STAGES}
    for r in records:
        if r["outcome"] != "forwarded":
            continue
        t = r.get("timings_ms", {})
        for name, value in (("delivery", r.get("event_age_ms")), ("read", t.get("read")),
                            ("predict", t.get("predict")), ("helpdesk", t.get("helpdesk")),
                            ("write_back", t.get("write")), ("handler", r.get("total_ms"))):
            if value is not None:
                stages[name].append(value)
    return {f"{name}_ms": _p50_p99(values) for name, values in stages.items()}


def _p50_p99(values: list[float]) -> str | None:
    return f"{pct(values, 50):.1f} / {pct(values, 99):.1f}" if values else None


def load_generator_seconds() -> float:
    """CPU seconds (user + system) of this process and of its children that have finished (the Node writer):
    the load generator's. The stack's processes still run, so they are not among them."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def cpu_seconds(stack: Stack) -> dict[str, float]:
    """CPU seconds (user + system) used so far by each process of the stack, its children included."""
    return {name: tree_cpu_seconds(proc.proc.pid) for name, proc in stack.procs.items()}


async def run_rate(db: str, rate: float, seconds: float, offset: int, writer: str = "rest", ns: str = "",
                   text: str = "short") -> dict:
    sent: dict[str, float] = {}
    seen: dict[str, dict[str, float]] = {}
    total = int(rate * seconds)
    token = user_token(BENCH_UID)  # customers submit as signed-in users, under the project's rules
    timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=0)) as session:
        ready = asyncio.Event()

        async def watch():
            async with session.get(f"{db}/tickets.json", headers={"Accept": "text/event-stream", **ADMIN}) as r:
                async for line in _lines(r.content):  # the first event holds every ticket: no line limit
                    if not line.startswith(b"data: "):
                        continue
                    now = time.time()  # epoch: a Node writer's send times are compared with it
                    event = json.loads(line[6:])
                    if not ready.is_set():
                        ready.set()
                        continue
                    if not isinstance(event, dict):
                        continue
                    parts = event["path"].strip("/").split("/")
                    data = event["data"]
                    keys = [parts[1]] if len(parts) >= 2 else (list(data) if isinstance(data, dict) else [])
                    marks = seen.setdefault(parts[0], {})
                    for key in ("enrichment", "helpdesk"):
                        if key in keys and key not in marks:
                            marks[key] = now

        watcher = asyncio.create_task(watch())
        await asyncio.wait_for(ready.wait(), 30)  # the stream's first event; a failed watcher must not hang us
        start = time.perf_counter()

        async def submit(i):
            t0 = time.time()
            async with session.post(f"{db}/tickets.json", params={"auth": token},
                                    json={**ticket(offset + i, text), "uid": BENCH_UID}) as r:
                body = await r.json()
                if "name" not in body:
                    raise RuntimeError(f"submit refused: {r.status} {body}")
                name = body["name"]
            sent[name] = t0

        if writer == "jssdk":
            await _jssdk_submit(f"{db}/?ns={ns}", rate, [ticket(offset + i, text) for i in range(total)], sent)
        else:
            tasks = []
            for i in range(total):
                await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
                tasks.append(asyncio.create_task(submit(i)))
            await asyncio.gather(*tasks)
        deadline = time.perf_counter() + 30
        while time.perf_counter() < deadline and sum(1 for n in sent if "helpdesk" in seen.get(n, {})) < total:
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - start
        watcher.cancel()
    enrich = [seen[n]["enrichment"] - t for n, t in sent.items() if "enrichment" in seen.get(n, {})]
    link = [seen[n]["helpdesk"] - t for n, t in sent.items() if "helpdesk" in seen.get(n, {})]
    row = {"rate": rate, "tickets": total, "enriched": len(enrich), "forwarded": len(link),
           "seconds": round(elapsed, 1)}
    if enrich:
        row.update(enrich_p50_ms=round(pct(enrich, 50) * 1000, 1), enrich_p99_ms=round(pct(enrich, 99) * 1000, 1))
    if link:
        row.update(link_p50_ms=round(pct(link, 50) * 1000, 1), link_p99_ms=round(pct(link, 99) * 1000, 1))
    row["sustained"] = len(link) == total and row.get("enrich_p99_ms", 1e9) < SUSTAINED_P99_MS
    return row


def jssdk_missing() -> str | None:
    """Why `--writer jssdk` cannot run here, or None."""
    if shutil.which("node") is None:
        return "--writer jssdk needs Node.js: apt-get install nodejs npm (Debian's packages)"
    if not (JSSDK_WRITER.parents[1] / "node_modules" / "firebase").is_dir():
        return "--writer jssdk needs the JS SDK packages: npm ci in tests/jssdk (make test does it)"
    return None


async def _jssdk_submit(url: str, rate: float, tickets: list[dict], sent: dict[str, float]) -> None:
    """Write `tickets` at `rate` with the Firebase JS SDK (tests/jssdk/support/pipeline_writer.mjs), as the
    customers' web clients do over the realtime protocol; each ticket's send time (epoch) goes into `sent`."""
    problem = jssdk_missing()
    if problem:
        raise RuntimeError(problem)
    proc = await asyncio.create_subprocess_exec(
        "node", str(JSSDK_WRITER), url, BENCH_UID, str(rate), str(JSSDK_CLIENTS),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        cwd=JSSDK_WRITER.parent)
    # The send times are Node's own clock readings, so its output can be read once it has finished.
    out, err = await proc.communicate(json.dumps(tickets).encode())
    done = None
    for line in out.splitlines():
        record = json.loads(line)
        if "key" in record:
            sent[record["key"]] = record["sent_ms"] / 1000
        else:
            done = record
    if proc.returncode != 0 or done is None:
        raise RuntimeError(f"the JS SDK writer failed ({proc.returncode}): {done} {err.decode(errors='replace')[-2000:]}")


async def _lines(content):
    buf = b""
    async for chunk in content.iter_any():
        buf += chunk
        *lines, buf = buf.split(b"\n")
        for line in lines:
            yield line


def run_variant(variant: str, rates: list[float], seconds: float, model_dir: Path,
                writer: str = "rest", text: str = "short") -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        stack = Stack(ports=Ports.free(), data_dir=Path(tmp), model_dir=model_dir,
                      enrich_source=VARIANTS[variant]).start()
        try:
            log = FunctionLog()
            stack.procs["enrich"].on_line = log
            # Warm up: the first event loads the model and the firebase-admin app (cold start is
            # measured on its own); steady-state latency starts after it.
            asyncio.run(run_rate(stack.urls["database"], 2, 1, 10**6))
            offset = 0
            for rate in rates:
                log.take()
                before, generator = cpu_seconds(stack), load_generator_seconds()
                row = asyncio.run(run_rate(stack.urls["database"], rate, seconds, offset, writer, stack.namespace,
                                          text))
                after, generator = cpu_seconds(stack), load_generator_seconds() - generator
                row = {"variant": variant, "writer": writer, "text": text, **row, **breakdown(log.take())}
                tickets = max(row["forwarded"], 1)
                row["cpu_ms_per_ticket"] = {n: round((after[n] - before[n]) / tickets * 1000, 2) for n in after}
                row["cpu_ms_per_ticket_total"] = round(sum(row["cpu_ms_per_ticket"].values()), 1)
                row["load_generator_cpu_ms_per_ticket"] = round(generator / tickets * 1000, 2)
                rows.append(row)
                offset += int(rate * seconds)
        finally:
            stack.stop()
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=10.0, help="duration of each rate")
    p.add_argument("--rates", default="20,50,75,100,150,200", help="tickets per second, comma-separated")
    p.add_argument("--variants", default="model,noop", help=f"comma-separated, of: {', '.join(VARIANTS)}")
    p.add_argument("--writer", default="rest", choices=WRITERS,
                   help="who writes the tickets: REST POSTs (the form's fallback, default) or the Firebase JS SDK "
                        "over the realtime protocol (needs Node and tests/jssdk's npm packages)")
    p.add_argument("--text", default="short", choices=TEXTS,
                   help="ticket descriptions: one short sentence (default), or as long as real helpdesk e-mails "
                        f"(median {REAL_MEDIAN_CHARS} characters, p90 {REAL_P90_CHARS}, at most {MAX_CHARS})")
    p.add_argument("--model-dir", default=str(ROOT / "model"))
    p.add_argument("--out", default="bench/results/pipeline.json")
    args = p.parse_args(argv)
    if args.writer == "jssdk" and jssdk_missing():
        p.error(jssdk_missing())
    rates = [int(float(r)) if float(r).is_integer() else float(r) for r in args.rates.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        disk = fsync_ms(tmp)
    host = machine()  # before the load, so its speed probe measures the machine and not the benchmark
    print(f"The data dir's disk: one fsync takes {disk['p50']} ms (p50), {disk['p99']} ms (p99); "
          f"the speed probe takes {host['speed_probe_ms']} ms")
    for variant in args.variants.split(","):
        rows += run_variant(variant, rates, args.seconds, Path(args.model_dir), args.writer, args.text)
    for r in rows:
        r["cpu_split"] = ", ".join(f"{n} {v:.1f}" for n, v in r["cpu_ms_per_ticket"].items() if v >= 0.05)
    table("End to end: write -> enrichment visible on a stream, write -> helpdesk link (ms)",
          [("variant", "variant"), ("rate/s", "rate"), ("tickets", "tickets"), ("fwd", "forwarded"),
           ("enrich p50", "enrich_p50_ms"), ("p99", "enrich_p99_ms"), ("link p50", "link_p50_ms"),
           ("p99", "link_p99_ms"), ("sustained", "sustained")], rows)
    table("Inside the function, per forwarded ticket: p50 / p99 ms",
          [("variant", "variant"), ("rate/s", "rate"), ("delivery", "delivery_ms"), ("read", "read_ms"),
           ("predict", "predict_ms"), ("write-back", "write_back_ms"), ("helpdesk", "helpdesk_ms"),
           ("handler", "handler_ms")], rows)
    table("CPU ms per ticket, by process",
          [("variant", "variant"), ("rate/s", "rate"), ("total", "cpu_ms_per_ticket_total"),
           ("split", "cpu_split"), ("load generator", "load_generator_cpu_ms_per_ticket")], rows)
    summary = {}
    for variant in args.variants.split(","):
        mine = [r for r in rows if r["variant"] == variant]
        summary[variant] = max((r["rate"] for r in mine if r["sustained"]), default=0)
        steady = mine[0]
        print(f"{variant}: at {steady['rate']:.0f}/s enrichment p50 {steady.get('enrich_p50_ms')} ms "
              f"(target < {TARGET_P50_MS}), p99 {steady.get('enrich_p99_ms')} ms (target < {TARGET_P99_MS}); "
              f"highest sustained rate tried: {summary[variant]:.0f}/s")
    for r in rows:
        del r["cpu_split"]
    save(args.out, {"benchmark": "pipeline", "writer": args.writer, "text": args.text, "machine": host,
                    "fsync_ms": disk, "rows": rows, "highest_sustained_rate": summary})


if __name__ == "__main__":
    main()
