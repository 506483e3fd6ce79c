"""A small HTTP/1.1 client for event delivery: POST a body to a plain-http URL over kept-alive connections.

aiohttp's client cost the emulator about 0.19 ms of CPU per event (request and response objects, URL parsing,
timeouts, tracing hooks), three events per ticket; this one writes the request in one buffer and parses the
answer's status line, headers and body as they arrive: about 0.05 ms. It speaks only what delivery needs: a
POST with a Content-Length body, and answers framed by Content-Length, chunked transfer coding, or the end of
the connection (HTTP/1.0, `Connection: close`), 1xx interim answers skipped. Delivery keeps aiohttp for
https:// URLs.

A kept-alive connection the function closed just before it was reused (gunicorn closes idle ones after a
few seconds) fails with no byte of an answer: the request is sent once more on a new connection, as
browsers and aiohttp do. An event may then reach the function twice, which at-least-once delivery allows.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

MAX_HEAD_BYTES = 64 * 1024  # status line and headers of an answer
MAX_KEPT_BODY = 64 * 1024  # of an answer's body, kept for the caller (the rest is read and dropped)


class HttpError(OSError):
    """The request could not be sent or its answer read (delivery treats it as a failed attempt)."""


class _Stale(HttpError):
    """A reused connection ended before any byte of the answer."""


class _Connection(asyncio.Protocol):
    """One connection; parses one answer at a time."""

    def __init__(self):
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._buf = bytearray()
        self._waiter: asyncio.Future | None = None
        self._reset()

    def _reset(self) -> None:
        self._state = "head"
        self._status = 0
        self._keep_alive = True
        self._remaining = 0  # body bytes still to come (length framing), or of the current chunk
        self._body = bytearray()
        self._got_bytes = False

    # ---- protocol ----------------------------------------------------------------------

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self._got_bytes = True
        if self._waiter is None or self._waiter.done():  # nothing asked: the connection is not reusable
            self.closed = True
            self.transport.close()
            return
        self._buf += data
        try:
            self._parse()
        except HttpError as exc:
            self._fail(exc)

    def eof_received(self) -> bool:
        if self._waiter is not None and not self._waiter.done() and self._state == "until_eof":
            self._finish()
        return False  # close the transport

    def connection_lost(self, exc) -> None:
        self.closed = True
        if self._waiter is not None and not self._waiter.done():
            if self._state == "until_eof":
                self._finish()
            elif not self._got_bytes:
                self._waiter.set_exception(_Stale(f"connection closed before an answer ({exc or 'EOF'})"))
            else:
                self._waiter.set_exception(HttpError(f"connection closed in the middle of an answer ({exc or 'EOF'})"))

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

    # ---- answer ------------------------------------------------------------------------

    def _parse(self) -> None:
        buf = self._buf
        while True:
            if self._state == "done":
                if buf:
                    raise HttpError("unexpected bytes after the answer")
                return
            if self._state == "head":
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    if len(buf) > MAX_HEAD_BYTES:
                        raise HttpError("the answer's headers are too long")
                    return
                head = bytes(buf[:end])
                del buf[:end + 4]
                if self._head(head):
                    continue  # a 1xx interim answer: the real one follows
            elif self._state == "length":
                take = min(self._remaining, len(buf))
                self._keep(buf, take)
                self._remaining -= take
                if self._remaining:
                    return
                self._finish()
                return
            elif self._state == "chunk_size":
                end = buf.find(b"\r\n")
                if end < 0:
                    if len(buf) > 1024:
                        raise HttpError("invalid chunk size line")
                    return
                size_text = bytes(buf[:end]).split(b";", 1)[0].strip()
                del buf[:end + 2]
                try:
                    self._remaining = int(size_text, 16)
                except ValueError:
                    raise HttpError(f"invalid chunk size {size_text[:20]!r}") from None
                self._state = "chunk" if self._remaining else "trailer"
            elif self._state == "chunk":
                take = min(self._remaining, len(buf))
                self._keep(buf, take)
                self._remaining -= take
                if self._remaining:
                    return
                self._state = "chunk_end"
            elif self._state == "chunk_end":
                if len(buf) < 2:
                    return
                if buf[:2] != b"\r\n":
                    raise HttpError("a chunk does not end with CRLF")
                del buf[:2]
                self._state = "chunk_size"
            elif self._state == "trailer":
                end = buf.find(b"\r\n")
                if end < 0:
                    if len(buf) > MAX_HEAD_BYTES:
                        raise HttpError("the answer's trailer is too long")
                    return
                line = bytes(buf[:end])
                del buf[:end + 2]
                if not line:
                    self._finish()
                    return
            else:  # "until_eof"
                self._keep(buf, len(buf))
                return

    def _head(self, head: bytes) -> bool:
        """Read a status line and headers; True for a 1xx interim answer (skipped)."""
        lines = head.split(b"\r\n")
        parts = lines[0].split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise HttpError(f"invalid status line {lines[0][:80]!r}")
        status = int(parts[1])
        if 100 <= status < 200:
            return True
        self._status = status
        length = chunked = None
        connection = b""
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if not sep:
                raise HttpError(f"invalid header line {line[:80]!r}")
            name = name.strip().lower()
            if name == b"content-length":
                try:
                    length = int(value.strip())
                except ValueError:
                    raise HttpError(f"invalid Content-Length {value.strip()[:20]!r}") from None
                if length < 0:
                    raise HttpError("negative Content-Length")
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                connection = value.strip().lower()
        http10 = parts[0] == b"HTTP/1.0"
        self._keep_alive = (connection == b"keep-alive") if http10 else (b"close" not in connection)
        if status in (204, 304):
            self._finish()
        elif chunked:
            self._state = "chunk_size"
        elif length is not None:
            self._remaining = length
            self._state = "length"
            if not length:
                self._finish()
        else:
            self._keep_alive = False
            self._state = "until_eof"
        return False

    def _keep(self, buf: bytearray, take: int) -> None:
        room = MAX_KEPT_BODY - len(self._body)
        if room > 0:
            self._body += buf[:min(take, room)]
        del buf[:take]

    def _finish(self) -> None:
        self._state = "done"
        if self._buf:
            self._keep_alive = False
        self._waiter.set_result((self._status, bytes(self._body), self._keep_alive))

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
