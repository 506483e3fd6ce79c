"""A raw realtime-protocol (`/.ws?v=5`) client for tests: sends any frame, records every message and the close.

Unlike `bench.realtime.Client` it never hides what the server did: answers are matched by `r`, pushes
queue up in arrival order, `log` keeps every data message as received (to check ordering), and the
close code and reason are kept. All methods are coroutines; a test runs its scenario with `asyncio.run`.
"""

import asyncio
import json

import aiohttp

ADMIN_PARAMS = {"access_token": "owner"}
TIMEOUT_S = 5.0


def ws_url(http_url: str, ns: str) -> str:
    return http_url.replace("http://", "ws://", 1) + f"/.ws?v=5&ns={ns}"


class Closed(Exception):
    """The server closed the connection while a test was waiting for a message."""


class WsClient:
    """One connection.

    Args:
      session: the aiohttp session to connect with.
      url: the `ws://.../.ws?v=5&ns=...` address.
    """

    def __init__(self, session: aiohttp.ClientSession, url: str):
        self.session, self.url = session, url
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.handshake: dict | None = None
        self.log: list[dict] = []  # every data message's `d`, in arrival order
        self.controls: list[dict] = []  # control messages after the handshake
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self._answers: dict[int, asyncio.Future] = {}
        self._pushes: asyncio.Queue = asyncio.Queue()
        self._closed = asyncio.Event()
        self._next_r = 0
        self._reader: asyncio.Task | None = None

    async def open(self, admin: bool = True) -> "WsClient":
        """Connect, read the handshake, and (by default) authenticate as the admin (`gauth owner`)."""
        self.ws = await self.session.ws_connect(self.url, max_msg_size=0, autoping=True, autoclose=True)
        first = await self.ws.receive(timeout=TIMEOUT_S)
        self.handshake = json.loads(first.data)
        assert self.handshake["t"] == "c" and self.handshake["d"]["t"] == "h", self.handshake
        self._reader = asyncio.get_running_loop().create_task(self._read())
        if admin:
            assert (await self.request("gauth", {"cred": "owner"}))["s"] == "ok"
        return self

    async def send_raw(self, text: str) -> None:
        await self.ws.send_str(text)

    async def send_bytes(self, data: bytes) -> None:
        await self.ws.send_bytes(data)

    async def send(self, action: str, body) -> asyncio.Future:
        """Send a request; returns the future of its answer's `b` (`{"s": ..., "d": ...}`)."""
        self._next_r += 1
        r = self._next_r
        answer = asyncio.get_running_loop().create_future()
        self._answers[r] = answer
        await self.ws.send_str(json.dumps({"t": "d", "d": {"r": r, "a": action, "b": body}}))
        return answer

    async def request(self, action: str, body, timeout: float = TIMEOUT_S) -> dict:
        """Send a request and return its answer's `b`."""
        return await asyncio.wait_for(await self.send(action, body), timeout)

    async def raw_request(self, text: str, r: int, timeout: float = TIMEOUT_S) -> dict:
        """Send a hand-written request frame whose request number is `r`; return its answer's `b`."""
        answer = asyncio.get_running_loop().create_future()
        self._answers[r] = answer
        await self.ws.send_str(text)
        return await asyncio.wait_for(answer, timeout)

    async def push(self, timeout: float = TIMEOUT_S) -> dict:
        """The next server push (`{"a": ..., "b": {...}}`), in order."""
        getter = asyncio.ensure_future(self._pushes.get())
        closed = asyncio.ensure_future(self._closed.wait())
        done, _ = await asyncio.wait({getter, closed}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        closed.cancel()
        if getter in done:
            return getter.result()
        getter.cancel()
        if closed in done and self._pushes.empty():
            raise Closed(f"closed with {self.close_code} {self.close_reason!r} while waiting for a push")
        raise AssertionError(f"no push within {timeout}s")

    async def no_push(self, within: float = 0.3) -> None:
        """Assert that nothing is pushed for `within` seconds."""
        await asyncio.sleep(within)
        assert self._pushes.empty(), f"unexpected push: {self._pushes.get_nowait()}"

    def drain(self) -> list[dict]:
        """The pushes received so far (and not yet taken)."""
        out = []
        while not self._pushes.empty():
            out.append(self._pushes.get_nowait())
        return out

    async def wait_closed(self, timeout: float = TIMEOUT_S) -> tuple[int, str]:
        """Wait until the server closes the connection; returns (code, reason)."""
        await asyncio.wait_for(self._closed.wait(), timeout)
        return self.close_code, self.close_reason

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    async def close(self) -> None:
        if self.ws is not None and not self.ws.closed:
            await self.ws.close()
        if self._reader is not None:
            await asyncio.wait([self._reader], timeout=TIMEOUT_S)

    async def _read(self) -> None:
        parts: list[str] | None = None
        left = 0
        try:
            while True:
                msg = await self.ws.receive()
                if msg.type != aiohttp.WSMsgType.TEXT:
                    if msg.type == aiohttp.WSMsgType.CLOSE or self.ws.close_code is not None:
                        self.close_code = self.ws.close_code
                        self.close_reason = msg.extra if isinstance(msg.extra, str) else None
                    break
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
                envelope = json.loads(data)
                if envelope["t"] == "c":
                    self.controls.append(envelope["d"])
                    continue
                body = envelope["d"]
                self.log.append(body)
                answer = self._answers.pop(body["r"], None) if "r" in body else None
                if answer is not None:
                    if not answer.done():
                        answer.set_result(body["b"])
                else:
                    self._pushes.put_nowait(body)
        except Exception as exc:  # noqa: BLE001 - e.g. an answer nested too deeply to parse: reported, not lost
            self.close_reason = f"reading failed: {exc!r}"
        finally:
            if self.close_code is None and self.ws.close_code is not None:
                self.close_code = self.ws.close_code
            self._closed.set()
            for answer in self._answers.values():
                if not answer.done():
                    answer.set_exception(Closed(f"closed with {self.close_code} {self.close_reason!r}"))
