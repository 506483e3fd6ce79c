"""Realtime (WebSocket) benchmark: durable writes and write-to-listener latency, next to REST and SSE, in one run.

Run: `python -m bench.realtime [--seconds 5] [--out bench/results/realtime.json]`. Starts one real durable
emulator (data dir in a temp folder) and, on that process, measures:
  - durable small writes over REST (`bench.emulator.writes`) and over the realtime protocol (`/.ws?v=5`), with
    1, 8 and 32 clients. A WebSocket client is one connection sending puts; "wait" sends the next put only once
    the last is answered (its latency is what latency means), "window N" keeps N puts in flight, as the SDK
    pipelines its writes (its latency includes the wait behind the puts ahead of it);
  - write-to-listener latency with 100 and 500 WebSocket connections listening at one location (a separate
    connection puts a sequence number; time from sending the put to each listener receiving its push), next to
    SSE's (`bench.emulator.fanout`) with as many streams.
The load generator shares the machine with the emulator, so its client speaks the protocol directly on one event
loop and parses only the messages it needs. CPU per write is the emulator process's (psutil) and this one's.
"""

import argparse
import asyncio
import json
import os
import re
import tempfile
import time

import aiohttp
import psutil

from bench.emulator import TARGET_EVENT_P99_MS, fanout, writes
from bench.report import fsync_ms, machine, pct, save, table
from tests.support.procs import start_emulator

VALUE = '{"v":1,"s":"small ticket field"}'  # the same small write as bench.emulator's REST one
CONNECT_AT_ONCE = 50  # WebSocket handshakes in flight while opening the listeners
_PROBLEM = re.compile(r"Traceback|ERROR|WARNING|Exception|dropping|closing a realtime", re.I)


class ProtocolError(RuntimeError):
    """The server answered something the benchmark did not expect (the message says what)."""


class Client:
    """One realtime-protocol connection: handshake, admin auth, requests answered by `r`, pushes to a callback.

    Args:
      session: the aiohttp session to connect with.
      url: the `ws://.../.ws?v=5&ns=...` address.
      on_push: fn(body, received_at) for each server push (`{"a": ..., "b": {...}}`), or None.
    """

    def __init__(self, session: aiohttp.ClientSession, url: str, on_push=None):
        self.session, self.url, self.on_push = session, url, on_push
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.pending: dict[int, asyncio.Future] = {}
        self.next_r = 0
        self.closed_because: str | None = None
        self._reader: asyncio.Task | None = None

    async def open(self) -> "Client":
        self.ws = await self.session.ws_connect(self.url, max_msg_size=0, autoping=True)
        first = await self.ws.receive(timeout=10)
        if first.type != aiohttp.WSMsgType.TEXT or not first.data.startswith('{"t":"c","d":{"t":"h"'):
            raise ProtocolError(f"expected the handshake first, got {first.type.name} {str(first.data)[:200]!r}")
        self._reader = asyncio.get_running_loop().create_task(self._read())
        await self.request("gauth", {"cred": "owner"})
        return self

    async def send(self, action: str, body_json: str) -> asyncio.Future:
        """Send a request whose body is already JSON; returns its answer, a future of (body, received_at) with
        body `{"s": ..., "d": ...}`."""
        r = self.next_r = self.next_r + 1
        answer = asyncio.get_running_loop().create_future()
        if self.closed_because is not None:
            answer.set_exception(ConnectionError(self.closed_because))
            return answer
        self.pending[r] = answer
        await self.ws.send_str(f'{{"t":"d","d":{{"r":{r},"a":"{action}","b":{body_json}}}}}')
        return answer

    async def request(self, action: str, body: dict, expect: str = "ok") -> dict:
        """Send a request and wait for its answer, which must have status `expect`."""
        answer = await self.send(action, json.dumps(body, separators=(",", ":")))
        reply, _ = await asyncio.wait_for(answer, 30)
        if reply.get("s") != expect:
            raise ProtocolError(f"{action} {body} answered {reply}")
        return reply

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            await asyncio.wait([self._reader], timeout=5)

    async def _read(self) -> None:
        ws, pending, on_push = self.ws, self.pending, self.on_push
        parts: list[str] | None = None
        left = 0
        try:
            while True:
                msg = await ws.receive()
                if msg.type != aiohttp.WSMsgType.TEXT:
                    self.closed_because = (f"the server closed the WebSocket: {msg.type.name} "
                                           f"code={ws.close_code} extra={msg.extra!r} exception={ws.exception()!r}")
                    break
                now = time.perf_counter()
                data = msg.data
                if parts is not None:  # a split message: its pieces follow its frame count
                    parts.append(data)
                    if len(parts) < left:
                        continue
                    data, parts = "".join(parts), None
                elif len(data) <= 6 and data.isdigit():
                    if data != "0":
                        parts, left = [], int(data)
                    continue
                if data.startswith('{"t":"c"'):
                    continue  # control (ping answers); the handshake was read in `open`
                body = json.loads(data)["d"]
                r = body.get("r")
                if r is not None:
                    fut = pending.pop(r, None)
                    if fut is not None and not fut.done():
                        fut.set_result((body["b"], now))
                elif on_push is not None:
                    on_push(body, now)
        except Exception as exc:  # noqa: BLE001 - reported through every pending request
            self.closed_because = f"reading failed: {exc!r}"
        finally:
            for fut in pending.values():
                if not fut.done():
                    fut.set_exception(ConnectionError(self.closed_because or "the WebSocket closed"))
            pending.clear()


def ws_url(http_url: str, ns: str = "bench") -> str:
    return http_url.replace("http://", "ws://", 1) + f"/.ws?v=5&ns={ns}"


async def ws_writes(url: str, clients: int, seconds: float, window: int = 1) -> dict:
    """`clients` connections putting small values for `seconds`, each with up to `window` puts in flight."""
    latencies: list[float] = []
    errors: list[str] = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        conns = await asyncio.gather(*(Client(session, url).open() for _ in range(clients)))
        deadline = time.perf_counter() + seconds

        async def waiting(c: int, conn: Client) -> None:
            n = 0
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                answer = await conn.send("p", f'{{"p":"/bench_ws/c{c}/{n % 1000}","d":{VALUE}}}')
                reply, _ = await answer
                if reply["s"] != "ok":
                    raise ProtocolError(f"put /bench_ws/c{c}/{n % 1000} answered {reply}")
                latencies.append(time.perf_counter() - t0)
                n += 1

        async def pipelined(c: int, conn: Client) -> None:
            slots = asyncio.Semaphore(window)
            in_flight: set = set()

            def answered(fut, t0=0.0):
                slots.release()
                in_flight.discard(fut)
                if fut.cancelled() or fut.exception() is not None:
                    errors.append(repr(fut.exception()) if not fut.cancelled() else "cancelled")
                elif fut.result()[0]["s"] != "ok":
                    errors.append(f"put answered {fut.result()[0]}")
                else:
                    latencies.append(time.perf_counter() - t0)

            n = 0
            while time.perf_counter() < deadline:
                await slots.acquire()
                t0 = time.perf_counter()
                answer = await conn.send("p", f'{{"p":"/bench_ws/c{c}/{n % 1000}","d":{VALUE}}}')
                in_flight.add(answer)
                answer.add_done_callback(lambda fut, t0=t0: answered(fut, t0))
                n += 1
            if in_flight:
                await asyncio.wait(list(in_flight), timeout=30)

        start = time.perf_counter()
        await asyncio.gather(*((waiting if window == 1 else pipelined)(c, conn) for c, conn in enumerate(conns)))
        elapsed = time.perf_counter() - start
        await asyncio.gather(*(conn.close() for conn in conns))
    if errors:
        raise ProtocolError(f"{len(errors)} puts failed, e.g. {errors[:3]}")
    return {"clients": clients, "writes": len(latencies), "writes_per_s": round(len(latencies) / elapsed),
            "p50_ms": round(pct(latencies, 50) * 1000, 2), "p99_ms": round(pct(latencies, 99) * 1000, 2),
            "max_ms": round(max(latencies) * 1000, 2)}


async def ws_fanout(url: str, listeners: int, writes_n: int, gap: float = 0.02, cpu=None) -> dict:
    """`listeners` connections listening at one location; another puts `writes_n` numbers there, `gap` apart;
    each push is timed from the moment its put was sent. `cpu` (a `Cpu`), if given, is read around the writes."""
    where = f"wsfan{listeners}"
    push_path = f"{where}/n"
    sent: dict[int, float] = {}
    delays: list[float] = []
    got = [0] * listeners
    expected = listeners * writes_n
    all_in = asyncio.Event()
    unexpected: list = []

    def receiver(i: int):
        def on_push(body, now):
            b = body["b"]
            if body["a"] == "d" and b["p"] == push_path:
                delays.append(now - sent[b["d"]])
                got[i] += 1
                if len(delays) == expected:
                    all_in.set()
            elif b.get("p") != where:  # anything but the listen's first data
                unexpected.append(body)
        return on_push

    timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=0)) as session:
        gate = asyncio.Semaphore(CONNECT_AT_ONCE)

        async def listen(i: int) -> Client:
            async with gate:
                conn = await Client(session, url, receiver(i)).open()
                await conn.request("q", {"p": f"/{where}", "h": ""})
                return conn

        conns = await asyncio.gather(*(listen(i) for i in range(listeners)))
        writer = await Client(session, url).open()
        write_lat = []
        before = cpu.read() if cpu is not None else None
        for n in range(writes_n):
            sent[n] = t0 = time.perf_counter()
            answer = await writer.send("p", f'{{"p":"/{push_path}","d":{n}}}')
            reply, _ = await answer
            if reply["s"] != "ok":
                raise ProtocolError(f"put /{push_path} {n} answered {reply}")
            write_lat.append(time.perf_counter() - t0)
            await asyncio.sleep(gap)
        try:
            await asyncio.wait_for(all_in.wait(), 30)
        except asyncio.TimeoutError:
            pass  # reported below as missing pushes
        spent = cpu.per(before, writes_n) if cpu is not None else {}
        closed = [c.closed_because for c in conns if c.closed_because]
        await asyncio.gather(writer.close(), *(c.close() for c in conns))
    short = [(i, g) for i, g in enumerate(got) if g != writes_n]
    row = {"listeners": listeners, "writes": writes_n, "events": len(delays), "missing": expected - len(delays),
           "event_p50_ms": round(pct(delays, 50) * 1000, 2) if delays else None,
           "event_p99_ms": round(pct(delays, 99) * 1000, 2) if delays else None,
           "event_max_ms": round(max(delays) * 1000, 2) if delays else None,
           "write_p50_ms": round(pct(write_lat, 50) * 1000, 2), "write_p99_ms": round(pct(write_lat, 99) * 1000, 2),
           **spent}
    if short or unexpected or closed:
        row["problems"] = {"listeners_short": short[:20], "listeners_short_count": len(short),
                           "unexpected_pushes": unexpected[:5], "closed": closed[:5]}
    return row


class Cpu:
    """CPU seconds the emulator process and this one spent between two readings, and the cores the rest of the
    machine kept busy meanwhile (the VM is shared: other work there slows both sides of the benchmark)."""

    def __init__(self, pid: int):
        self.proc = psutil.Process(pid)

    def read(self) -> tuple[float, float, float, float]:
        t, machine_t = self.proc.cpu_times(), psutil.cpu_times()
        busy = sum(getattr(machine_t, f, 0.0) for f in ("user", "nice", "system", "irq", "softirq", "steal"))
        return t.user + t.system, time.process_time(), busy, time.perf_counter()

    def per(self, before: tuple, n: int) -> dict:
        server, client, busy, wall = (a - b for a, b in zip(self.read(), before))
        return {"server_cpu_us": round(server / n * 1e6) if n else None,
                "client_cpu_us": round(client / n * 1e6) if n else None,
                "other_cores": round(max(0.0, busy - server - client) / wall, 2) if wall > 0 else None}


async def run(url: str, pid: int, args) -> tuple[list[dict], list[dict]]:
    cpu = Cpu(pid)
    wsu = ws_url(url)
    # Warm both paths up (first connections, first SQLite pages, lazy imports) before measuring.
    await writes(url, 1, min(0.5, args.seconds))
    await ws_writes(wsu, 1, min(0.5, args.seconds))
    write_rows = []
    for clients in args.clients:  # interleaved, so a slow minute of the shared VM hits every transport alike
        runs = [("REST", "wait", writes(url, clients, args.seconds)),
                ("WebSocket", "wait", ws_writes(wsu, clients, args.seconds))]
        if args.window > 1:
            runs.append(("WebSocket", f"window {args.window}", ws_writes(wsu, clients, args.seconds, args.window)))
        for transport, mode, coro in runs:
            before = cpu.read()
            row = await coro
            row.setdefault("max_ms", None)  # bench.emulator's REST rows have none
            write_rows.append({"transport": transport, "mode": mode, **row, **cpu.per(before, row["writes"])})
            print(f"  {transport} {mode} x{clients}: {row['writes_per_s']} writes/s", flush=True)
    fan_rows = []
    for n in args.listeners:
        row = await ws_fanout(wsu, n, args.fanout_writes, cpu=cpu)
        fan_rows.append({"transport": "WebSocket", **row})
        print(f"  WebSocket {n} listeners: p99 {row['event_p99_ms']} ms", flush=True)
    for n in args.sse_streams:  # bench.emulator's run; its CPU would include opening the streams, so none
        row = await fanout(url, n, args.fanout_writes)
        row["listeners"] = row.pop("streams")
        fan_rows.append({"transport": "SSE", **row, "missing": n * row["writes"] - row["events"]})
        print(f"  SSE {n} streams: p99 {row['event_p99_ms']} ms", flush=True)
    return write_rows, fan_rows


def targets(write_rows: list[dict], fan_rows: list[dict]) -> list[dict]:
    """Each target of the issue, its figure and whether it is met."""
    out = []
    rest = {r["clients"]: r["writes_per_s"] for r in write_rows if r["transport"] == "REST"}
    for r in write_rows:
        if r["transport"] == "WebSocket" and r["mode"] == "wait" and r["clients"] in rest:
            out.append({"target": f"WebSocket writes/s >= REST's, {r['clients']} client(s), one put in flight each",
                        "figure": f"{r['writes_per_s']} vs {rest[r['clients']]}",
                        "met": r["writes_per_s"] >= rest[r["clients"]]})
    ws100 = next((r for r in fan_rows if r["transport"] == "WebSocket" and r["listeners"] == 100), None)
    if ws100 is not None:
        p99 = ws100["event_p99_ms"]
        out.append({"target": f"p99 write-to-event with 100 listening WebSocket clients < {TARGET_EVENT_P99_MS} ms",
                    "figure": f"{p99} ms, {ws100['missing']} pushes missing",
                    "met": p99 is not None and p99 < TARGET_EVENT_P99_MS and ws100["missing"] == 0})
    return out


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=5.0, help="duration of each write run")
    p.add_argument("--clients", type=_ints, default=[1, 8, 32], help="writer clients per run, comma-separated")
    p.add_argument("--window", type=int, default=32, help="puts in flight per client in the pipelined mode "
                                                          "(1: no pipelined runs)")
    p.add_argument("--listeners", type=_ints, default=[100, 500], help="WebSocket listeners per fan-out run")
    p.add_argument("--sse-streams", type=_ints, default=[100, 500], help="SSE streams per fan-out run (REST side)")
    p.add_argument("--fanout-writes", type=int, default=100, help="writes per fan-out run")
    p.add_argument("--out", default="bench/results/realtime.json")
    args = p.parse_args(argv)
    host = machine()  # before the load, so its speed probe measures the machine and not the benchmark
    host["load_avg_before"] = [round(x, 2) for x in os.getloadavg()]  # other work on the shared VM skews all
    with tempfile.TemporaryDirectory() as data_dir:
        disk = fsync_ms(data_dir)
        print(f"The data dir's disk: one fsync takes {disk['p50']} ms (p50), {disk['p99']} ms (p99); "
              f"the speed probe takes {host['speed_probe_ms']} ms; load average {host['load_avg_before']}")
        emu = start_emulator(data_dir=data_dir)
        try:
            write_rows, fan_rows = asyncio.run(run(emu.url, emu.proc.pid, args))
        finally:
            code = emu.stop()
    host["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
    log_problems = [line.rstrip() for line in emu.lines if _PROBLEM.search(line)]
    table("Durable small writes, REST and WebSocket, one emulator (SQLite WAL, synchronous=FULL)",
          [("transport", "transport"), ("mode", "mode"), ("clients", "clients"), ("writes/s", "writes_per_s"),
           ("p50 ms", "p50_ms"), ("p99 ms", "p99_ms"), ("max ms", "max_ms"),
           ("emulator CPU us/write", "server_cpu_us"), ("bench CPU us/write", "client_cpu_us"),
           ("other procs, cores", "other_cores")], write_rows)
    table("Write-to-event latency, all listeners on the written location (WebSocket: one connection each)",
          [("transport", "transport"), ("listeners", "listeners"), ("events", "events"), ("missing", "missing"),
           ("p50 ms", "event_p50_ms"), ("p99 ms", "event_p99_ms"), ("max ms", "event_max_ms"),
           ("write p50", "write_p50_ms"), ("write p99", "write_p99_ms"), ("emulator CPU us/write", "server_cpu_us"),
           ("bench CPU us/write", "client_cpu_us"), ("other procs, cores", "other_cores")], fan_rows)
    verdicts = targets(write_rows, fan_rows)
    print("\ntargets:")
    for t in verdicts:
        print(f"  {'met   ' if t['met'] else 'MISSED'}  {t['target']}: {t['figure']}")
    for row in fan_rows:
        if row.get("missing") or row.get("problems"):
            print(f"PROBLEM: {row['transport']} with {row['listeners']} listeners: {row.get('problems') or row}")
    if log_problems or code not in (0, -15):
        print(f"the emulator exited with {code}; lines of its log worth a look ({len(log_problems)}):")
        for line in log_problems[:20]:
            print(f"  {line}")
    result = {"benchmark": "realtime", "machine": host, "fsync_ms": disk,
              "settings": {"seconds": args.seconds, "window": args.window, "fanout_writes": args.fanout_writes,
                           "fanout_gap_ms": 20},
              "writes": write_rows, "fanout": fan_rows, "targets": verdicts,
              "emulator_exit_code": code, "emulator_log_problems": log_problems[:50]}
    save(args.out, result)


if __name__ == "__main__":
    main()
