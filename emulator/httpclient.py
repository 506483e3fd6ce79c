"""A small HTTP/1.1 client for event delivery: POST a body to a plain-http URL over kept-alive connections.

aiohttp's client cost the emulator about 0.19 ms of CPU per event (request and response objects, URL parsing,
timeouts, tracing hooks), two events per ticket (three until 2026-12-05); this one writes the request in one
buffer and hands the answer's bytes to llhttp (Node's HTTP parser, through httptools) as they arrive: about
0.05 ms. It sends only what delivery needs, a POST with a Content-Length body; llhttp reads every framing of the
answer (Content-Length, chunked transfer coding, the end of the connection) and 1xx interim answers are skipped.
Delivery keeps aiohttp for https:// URLs.

A kept-alive connection the function closed just before it was reused (gunicorn closes idle ones after a
few seconds) fails with no byte of an answer: the request is sent once more on a new connection, as
browsers and aiohttp do. An event may then reach the function twice, which at-least-once delivery allows.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import httptools

MAX_HEAD_BYTES = 64 * 1024  # status line and headers of an answer
MAX_KEPT_BODY = 64 * 1024  # of an answer's body, kept for the caller (the rest is read and dropped)


class HttpError(OSError):
    """The request could not be sent or its answer read (delivery treats it as a failed attempt)."""


class _Stale(HttpError):
    """A reused connection ended before any byte of the answer."""


class _Connection(asyncio.Protocol):
    """One connection; its answers are parsed by llhttp (httptools), one at a time."""

    def __init__(self):
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future | None = None
        self._reset()

    def _reset(self) -> None:
        self._body = bytearray()
        self._got_bytes = False
        self._head_bytes = 0
        self._headers_done = False

    # ---- protocol ----------------------------------------------------------------------

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self._got_bytes = True
        if self._waiter is None or self._waiter.done():  # nothing asked: the connection is not reusable
            self.closed = True
            self.transport.close()
            return
        if not self._headers_done:
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                self._fail(HttpError("the answer's headers are too long"))
                return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(HttpError(f"invalid answer: {exc}"))

    def connection_lost(self, exc) -> None:
        self.closed = True
        if self._waiter is None or self._waiter.done():
            return
        if self._headers_done and not self._parser.should_keep_alive():
            # An answer framed by the end of the connection (no Content-Length, not chunked).
            self._waiter.set_result((self._parser.get_status_code(), bytes(self._body), False))
        elif not self._got_bytes:
            self._waiter.set_exception(_Stale(f"connection closed before an answer ({exc or 'EOF'})"))
        else:
            self._waiter.set_exception(HttpError(f"connection closed in the middle of an answer ({exc or 'EOF'})"))

    # ---- parser callbacks (httptools) ---------------------------------------------------

    def on_headers_complete(self) -> None:
        self._headers_done = True

    def on_body(self, body: bytes) -> None:
        room = MAX_KEPT_BODY - len(self._body)
        if room > 0:
            self._body += body[:room]

    def on_message_complete(self) -> None:
        status = self._parser.get_status_code()
        if 100 <= status < 200:  # an interim answer: the real one follows
            self._reset()
            return
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result((status, bytes(self._body), self._parser.should_keep_alive()))

    # ---- request -----------------------------------------------------------------------

    def send(self, request: bytes) -> asyncio.Future:
        self._reset()
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return self._waiter

    def abort(self) -> None:
        """Drop the connection at once (an answer half read, an error)."""
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def close(self) -> None:
        """Close the connection after a complete answer that does not keep it alive."""
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _fail(self, exc: Exception) -> None:
        self.abort()
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc)


class HttpClient:
    """POSTs over kept-alive connections, at most `keep` idle ones per host."""

    def __init__(self, keep: int = 64):
        self.keep = keep
        self._idle: dict[tuple[str, int], list[_Connection]] = {}
        self._targets: dict[str, tuple[tuple[str, int], bytes]] = {}
        self.connections_opened = 0

    @staticmethod
    def handles(url: str) -> bool:
        """True for the URLs this client sends to (plain http://)."""
        return url[:7].lower() == "http://"

    async def post(self, url: str, body: bytes, headers: dict[str, str], timeout_s: float | None) -> tuple[int, bytes]:
        """POST `body` to `url` with `headers`: (status, body of the answer, its first 64 KiB).

        Raises:
          HttpError: not sent, or no complete answer (connection refused or lost, invalid answer).
          asyncio.TimeoutError: no complete answer within `timeout_s`.
          ValueError: a header name or value holds a line break, or the URL is not http://.
        """
        address, start = self._target(url)
        lines = [start]
        for name, value in headers.items():
            line = f"{name}: {value}\r\n"
            if "\r" in line[:-2] or "\n" in line[:-2]:
                raise ValueError(f"header {name!r} holds a line break")
            lines.append(line.encode())
        lines.append(b"Content-Length: %d\r\n\r\n" % len(body))
        lines.append(body)
        request = b"".join(lines)
        async with asyncio.timeout(timeout_s):
            for attempt in range(2):
                conn, reused = await self._connection(address)
                try:
                    status, answer, keep_alive = await conn.send(request)
                except _Stale:
                    if reused and attempt == 0:
                        continue  # closed by the server while idle: once more on a new connection
                    raise
                except BaseException:
                    conn.abort()  # a timeout or cancellation leaves the answer half read
                    raise
                if keep_alive and not conn.closed:
                    self._release(address, conn)
                else:
                    conn.close()
                return status, answer
        raise HttpError("unreachable")  # pragma: no cover

    def close(self) -> None:
        """Close every idle connection."""
        for conns in self._idle.values():
            for conn in conns:
                conn.close()
        self._idle.clear()

    def _target(self, url: str) -> tuple[tuple[str, int], bytes]:
        target = self._targets.get(url)
        if target is None:
            parts = urlsplit(url)
            if parts.scheme.lower() != "http" or not parts.hostname:
                raise ValueError(f"not an http:// URL: {url!r}")
            path = parts.path or "/"
            if parts.query:
                path += "?" + parts.query
            host = parts.netloc.rpartition("@")[2]
            start = f"POST {path} HTTP/1.1\r\nHost: {host}\r\n".encode("idna" if not host.isascii() else "ascii")
            target = ((parts.hostname, parts.port or 80), start)
            if len(self._targets) > 1000:
                self._targets.clear()
            self._targets[url] = target
        return target

    async def _connection(self, address: tuple[str, int]) -> tuple[_Connection, bool]:
        idle = self._idle.get(address)
        while idle:
            conn = idle.pop()
            if not conn.closed:
                return conn, True
        loop = asyncio.get_running_loop()
        try:
            _, conn = await loop.create_connection(_Connection, address[0], address[1])
        except OSError as exc:
            raise HttpError(f"cannot connect to {address[0]}:{address[1]}: {exc}") from exc
        self.connections_opened += 1
        return conn, False

    def _release(self, address: tuple[str, int], conn: _Connection) -> None:
        idle = self._idle.setdefault(address, [])
        if len(idle) < self.keep:
            idle.append(conn)
        else:
            conn.close()
