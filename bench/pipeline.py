"""End-to-end benchmark: write -> enrichment visible, and write -> helpdesk link, on the real stack.

Run: `python -m bench.pipeline [--seconds 10] [--rates 20,50,100,150,200]`. Starts the whole stack
(emulator with durable storage, both functions, helpdesk stub) on free ports, submits tickets at a
steady rate, watches `/tickets` over one SSE stream (what the web page does), prints a table and
saves JSON. A rate is "sustained" when every ticket is forwarded and p99 write-to-enrichment stays
under the target.
"""

import argparse
import asyncio
import json
import random
import tempfile
import time
from pathlib import Path

import aiohttp

from bench.emulator import machine, pct
from stack import Ports, Stack
from stack.procs import ROOT
from stack.tokens import user_token

TARGET_P50_MS, TARGET_P99_MS = 50.0, 150.0
SUSTAINED_P99_MS = 250.0
BENCH_UID = "bench-customer"
ADMIN = {"Authorization": "Bearer owner"}
SUBJECTS = ["Cannot log in", "Invoice is wrong", "Dashboard is slow", "API returns 500", "Password reset mail missing"]


def ticket(i: int) -> dict:
    rnd = random.Random(i)
    return {"subject": f"{rnd.choice(SUBJECTS)} #{i}",
            "description": rnd.choice(["Production is down for all users, please help now.",
                                       "A small question about an invoice line, no rush.",
                                       "Pages take thirty seconds to load since the update."]),
            "contact": {"name": "Bench User", "email": f"user{i}@example.com"},
            "category": rnd.choice(["technical", "performance", "authentication", "billing"]),
            "type": rnd.choice(["request", "issue"]), "impact": rnd.randint(0, 4),
            "experience": rnd.choice(["beginner", "experienced", "advanced", "trainer"]),
            "seniority": rnd.randint(0, 10), "created_at": {".sv": "timestamp"}, "status": "new"}


async def run_rate(db: str, rate: float, seconds: float, offset: int) -> dict:
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
                    now = time.perf_counter()
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
            t0 = time.perf_counter()
            async with session.post(f"{db}/tickets.json", params={"auth": token},
                                    json={**ticket(offset + i), "uid": BENCH_UID}) as r:
                name = (await r.json())["name"]
            sent[name] = t0

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


async def _lines(content):
    buf = b""
    async for chunk in content.iter_any():
        buf += chunk
        *lines, buf = buf.split(b"\n")
        for line in lines:
            yield line


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=10.0, help="duration of each rate")
    p.add_argument("--rates", default="20,50,100,150,200", help="tickets per second, comma-separated")
    p.add_argument("--model-dir", default=str(ROOT / "model"))
    p.add_argument("--out", default="bench/results/pipeline.json")
    args = p.parse_args(argv)
    rates = [float(r) for r in args.rates.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        stack = Stack(ports=Ports.free(), data_dir=Path(tmp), model_dir=Path(args.model_dir)).start()
        try:
            # Warm up: the first event loads the model and the firebase-admin app (cold start is
            # measured on its own); steady-state latency starts after it.
            asyncio.run(run_rate(stack.urls["database"], 2, 1, 10**6))
            offset = 0
            for rate in rates:
                rows.append(asyncio.run(run_rate(stack.urls["database"], rate, args.seconds, offset)))
                offset += int(rate * args.seconds)
        finally:
            stack.stop()
    print("\nEnd to end: write -> enrichment visible on a stream, write -> helpdesk link")
    print(f"{'rate/s':>7} {'tickets':>8} {'fwd':>6} {'enrich p50':>11} {'p99':>8} {'link p50':>9} {'p99':>8} {'sustained':>10}")
    for r in rows:
        print(f"{r['rate']:>7.0f} {r['tickets']:>8} {r['forwarded']:>6} {r.get('enrich_p50_ms', '-'):>11} "
              f"{r.get('enrich_p99_ms', '-'):>8} {r.get('link_p50_ms', '-'):>9} {r.get('link_p99_ms', '-'):>8} "
              f"{'yes' if r['sustained'] else 'no':>10}")
    steady = rows[0]
    best = max((r["rate"] for r in rows if r["sustained"]), default=0)
    print(f"\nat {steady['rate']:.0f}/s: enrichment p50 {steady.get('enrich_p50_ms')} ms (target < {TARGET_P50_MS}), "
          f"p99 {steady.get('enrich_p99_ms')} ms (target < {TARGET_P99_MS}); highest sustained rate tried: {best:.0f}/s")
    result = {"benchmark": "pipeline", "machine": machine(), "rows": rows, "highest_sustained_rate": best}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
