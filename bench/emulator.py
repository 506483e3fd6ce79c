"""Emulator benchmark: durable small writes per second, reads while others write, and write-to-event latency.

Run: `python -m bench.emulator [--seconds 5] [--streams 100,500] [--out bench/results/emulator.json]`. Starts a real
emulator process (durable data dir in a temp folder), drives it over loopback with aiohttp
clients, prints a table and saves JSON.
"""

import argparse
import asyncio
import json
import tempfile
import time

import aiohttp

from bench.report import fsync_ms, machine, pct, save, table
from tests.support.procs import start_emulator

TARGET_WRITES_PER_S = 2000
TARGET_EVENT_P99_MS = 10.0


async def writes(url: str, clients: int, seconds: float) -> dict:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def client(c):
            n = 0
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                async with session.put(f"{url}/bench/c{c}/{n % 1000}.json?print=silent",
                                       data=b'{"v":1,"s":"small ticket field"}') as r:
                    assert r.status == 204, await r.text()
                latencies.append(time.perf_counter() - t0)
                n += 1
        start = time.perf_counter()
        await asyncio.gather(*(client(c) for c in range(clients)))
        elapsed = time.perf_counter() - start
    return {"clients": clients, "writes": len(latencies), "writes_per_s": round(len(latencies) / elapsed),
            "p50_ms": round(pct(latencies, 50) * 1000, 2), "p99_ms": round(pct(latencies, 99) * 1000, 2)}


async def reads_under_writes(url: str, writers: int, seconds: float) -> dict:
    """One client reads one location over and over while `writers` clients write elsewhere (as the function
    reads one ticket while others are being created): how long a read takes with a group commit always in
    flight."""
    reads: list[float] = []
    done = asyncio.Event()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=writers + 1)) as session:
        async with session.put(f"{url}/read/one.json?print=silent", data=b'{"subject":"a ticket","n":1}') as r:
            assert r.status == 204, await r.text()

        async def writer(c):
            n = 0
            while not done.is_set():
                async with session.put(f"{url}/bench/w{c}/{n % 1000}.json?print=silent",
                                       data=b'{"v":1,"s":"small ticket field"}') as r:
                    assert r.status == 204, await r.text()
                n += 1

        async def reader():
            await asyncio.sleep(0.5)  # the writers at full speed first
            deadline = time.perf_counter() + seconds
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                async with session.get(f"{url}/read/one.json") as r:
                    assert r.status == 200, await r.text()
                    await r.read()
                reads.append(time.perf_counter() - t0)
            done.set()

        await asyncio.gather(reader(), *(writer(c) for c in range(writers)))
    return {"writers": writers, "reads": len(reads), "read_p50_ms": round(pct(reads, 50) * 1000, 2),
            "read_p99_ms": round(pct(reads, 99) * 1000, 2)}


async def fanout(url: str, streams: int, writes_n: int) -> dict:
    """Open `streams` listeners on one location, write `writes_n` times, time each delivery."""
    sent: dict[int, float] = {}
    delays: list[float] = []
    ready = asyncio.Event()
    opened = 0
    timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=0)) as session:
        async def listen(i):
            nonlocal opened
            async with session.get(f"{url}/fan.json", headers={"Accept": "text/event-stream"}) as r:
                got = 0
                async for line in r.content:
                    if line.startswith(b"data: ") and b'"path":"/n"' in line:
                        now = time.perf_counter()
                        n = json.loads(line[6:])["data"]
                        delays.append(now - sent[n])
                        got += 1
                        if got == writes_n:
                            return
                    elif line.startswith(b"data: ") and b'"path":"/"' in line:
                        opened += 1
                        if opened == streams:
                            ready.set()

        tasks = [asyncio.create_task(listen(i)) for i in range(streams)]
        await asyncio.wait_for(ready.wait(), 60)
        write_lat = []
        for n in range(writes_n):
            sent[n] = time.perf_counter()
            async with session.put(f"{url}/fan/n.json?print=silent", data=str(n)) as r:
                assert r.status == 204
            write_lat.append(time.perf_counter() - sent[n])
            await asyncio.sleep(0.02)
        await asyncio.wait_for(asyncio.gather(*tasks), 60)
    return {"streams": streams, "writes": writes_n, "events": len(delays),
            "event_p50_ms": round(pct(delays, 50) * 1000, 2), "event_p99_ms": round(pct(delays, 99) * 1000, 2),
            "write_p50_ms": round(pct(write_lat, 50) * 1000, 2), "write_p99_ms": round(pct(write_lat, 99) * 1000, 2)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=5.0, help="duration of each write run")
    p.add_argument("--fanout-writes", type=int, default=100, help="writes per fan-out run")
    p.add_argument("--streams", default="100,500", help="open streams of each fan-out run, comma-separated")
    p.add_argument("--out", default="bench/results/emulator.json")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as data_dir:
        disk = fsync_ms(data_dir)
        emu = start_emulator(data_dir=data_dir)
        try:
            write_rows = [asyncio.run(writes(emu.url, c, args.seconds)) for c in (1, 8, 32)]
            read_rows = [asyncio.run(reads_under_writes(emu.url, w, args.seconds)) for w in (0, 8)]
            fan_rows = [asyncio.run(fanout(emu.url, int(s), args.fanout_writes)) for s in args.streams.split(",")]
        finally:
            emu.stop()
    print(f"\nThe data dir's disk: one fsync takes {disk['p50']} ms (p50), {disk['p99']} ms (p99)")
    table("Durable small writes (SQLite WAL, synchronous=FULL)",
          [("clients", "clients"), ("writes/s", "writes_per_s"), ("p50 ms", "p50_ms"), ("p99 ms", "p99_ms")],
          write_rows)
    table("Reads of one location while other clients write elsewhere",
          [("writers", "writers"), ("reads", "reads"), ("read p50 ms", "read_p50_ms"), ("p99 ms", "read_p99_ms")],
          read_rows)
    table("Write-to-event latency, all streams on the written location",
          [("streams", "streams"), ("events", "events"), ("p50 ms", "event_p50_ms"), ("p99 ms", "event_p99_ms"),
           ("write p99", "write_p99_ms")], fan_rows)
    best = max(r["writes_per_s"] for r in write_rows)
    p99_100 = fan_rows[0]["event_p99_ms"]
    print(f"\ntargets: >= {TARGET_WRITES_PER_S} writes/s: {'met' if best >= TARGET_WRITES_PER_S else 'MISSED'} ({best}); "
          f"p99 write-to-event with 100 streams < {TARGET_EVENT_P99_MS} ms: "
          f"{'met' if p99_100 < TARGET_EVENT_P99_MS else 'MISSED'} ({p99_100})")
    result = {"benchmark": "emulator", "machine": machine(), "fsync_ms": disk, "writes": write_rows,
              "reads_under_writes": read_rows, "fanout": fan_rows}
    save(args.out, result)


if __name__ == "__main__":
    main()
