"""Reads answer what is durable: a read waits for a commit that may change what it answers, and only for that.

At 200 tickets a second a group commit is always in flight; the function's read of one ticket used to wait for
it (and for the writes queued behind it) whatever they wrote. The emulator here runs in-process on a free port
with a real SQLite journal whose commits the test holds and releases, and is driven by real HTTP and realtime
protocol clients.
"""

import asyncio
import threading
from types import SimpleNamespace

import aiohttp

from emulator.server import EmulatorServer
from emulator.settings import load_settings
from tests.emulator.wsclient import WsClient, ws_url

ADMIN = {"Authorization": "Bearer owner"}


async def _serving(tmp_path):
    args = SimpleNamespace(config=None, host="127.0.0.1", port=0, data_dir=str(tmp_path / "data"), import_dir=None,
                           export_on_exit=None, in_memory=False, hosting_port=None, auth_port=None,
                           project="demo-read", triggers=None, keep_alive=None)
    server = EmulatorServer(load_settings(args, env={}))
    await server.start()
    gate = threading.Event()
    gate.set()
    commit = server.db.journal.commit

    def held_commit(records):  # runs in the journal's thread
        assert gate.wait(10), "the test never released the commit"
        commit(records)

    server.db.journal.commit = held_commit
    return server, gate


def test_a_read_waits_only_for_commits_that_touch_what_it_reads(tmp_path):
    async def scenario():
        server, gate = await _serving(tmp_path)
        url, ns = server.url, server.settings.namespace
        try:
            async with aiohttp.ClientSession(headers=ADMIN) as http:
                for key in ("a", "b"):
                    async with http.put(f"{url}/tickets/{key}.json", json={"subject": key}) as r:
                        assert r.status == 200
                ws = await WsClient(http, ws_url(url, ns)).open()
                gate.clear()  # the next commit is held
                write = asyncio.ensure_future(http.patch(f"{url}/tickets/a.json", json={"status": "open"}))
                await asyncio.sleep(0.2)
                assert not write.done()

                # Another ticket: answered at once, over REST and over the realtime protocol.
                async with http.get(f"{url}/tickets/b.json", timeout=aiohttp.ClientTimeout(total=2)) as r:
                    assert await r.json() == {"subject": "b"}
                assert (await ws.request("g", {"p": "/tickets/b"}, timeout=2))["d"] == {"subject": "b"}

                # The ticket written, a field inside it and the list above it: not before the commit.
                reads = [asyncio.ensure_future(http.get(f"{url}/{path}.json"))
                         for path in ("tickets/a", "tickets/a/subject", "tickets")]
                ws_read = asyncio.ensure_future(ws.request("g", {"p": "/tickets/a"}))
                await asyncio.sleep(0.3)
                assert not any(r.done() for r in reads) and not ws_read.done()
                gate.set()
                async with await write as r:
                    assert r.status == 200
                answers = []
                for read in reads:
                    async with await read as r:
                        answers.append(await r.json())
                assert answers == [{"subject": "a", "status": "open"}, "a",
                                   {"a": {"subject": "a", "status": "open"}, "b": {"subject": "b"}}]
                assert (await ws_read)["d"] == {"subject": "a", "status": "open"}
                await ws.close()
        finally:
            gate.set()
            await server.stop()

    asyncio.run(scenario())
