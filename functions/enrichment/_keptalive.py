"""HTTP/1.1 calls over kept-alive connections, pooled per host and shared by the serving threads.

urllib3 took about 0.30 ms of CPU a call, `http.client` 0.14 ms, a third of it parsing each answer's headers
through the `email` package. This writes a request in one buffer and hands the answer's bytes to llhttp (Node's
HTTP parser, through httptools) as they arrive. It is the small part of HTTP the database and helpdesk calls
need: a pool of connections per host; a call sent again once, on a new connection (not another kept one, which
may be closed too), when a kept-alive one turns out closed before any byte of an answer; every framing of an
answer (Content-Length, chunked, the end of the connection; 1xx interim answers skipped); TLS checked against
certifi's CA bundle (as `_transport.tls_options` has urllib3 do) or the system's when certifi is absent.
"""

import re
import socket
import ssl
import threading
import urllib.parse

import httptools

# A kept connection the server closed while idle fails with one of these (TLS: its EOF without close_notify).
_STALE = (ConnectionResetError, ConnectionAbortedError, BrokenPipeError, ssl.SSLEOFError, ssl.SSLZeroReturnError)
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_RECV_BYTES = 65536
MAX_HEAD_BYTES = 64 * 1024  # an answer's status line and headers
_NOT_IN_TARGET = re.compile(r"[\x00-\x20\x7f]")  # a space or a control character would break the request line


class CallFailed(Exception):
    """The call could not be sent or its answer not read (connection refused, lost, timed out)."""


class _Closed(CallFailed):
    """The connection ended before any byte of the answer."""


class Headers(dict):
    """An answer's headers, by lower-case name; `get` takes a name in any case. Repeated ones are joined by ", "."""

    def get(self, name: str, default=None):
        return dict.get(self, name.lower(), default)

    def __getitem__(self, name: str):
        return dict.__getitem__(self, name.lower())

    def __contains__(self, name) -> bool:
        return dict.__contains__(self, name.lower())


class _Connection:
    """One socket and its llhttp parser; one request at a time, answers parsed as their bytes arrive."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self._parser = httptools.HttpResponseParser(self)
        self._reset()

    def _reset(self) -> None:
        self._headers = Headers()
        self._body = bytearray()
        self._head_done = False
        self._complete = False
        self._status = 0
        self._keep = False

    def exchange(self, request: bytes) -> tuple[int, Headers, bytes, bool]:
        """(status, headers, body, keep-alive) of the answer to `request`.

        Raises:
          _Closed: the connection ended before any byte of an answer.
          CallFailed: an answer cut short, too long a head or not HTTP.
          OSError: the socket's (a timeout, a reset after some bytes).
        """
        self._reset()
        try:
            self.sock.sendall(request)
        except _STALE as exc:
            raise _Closed(f"{type(exc).__name__}: {exc}") from exc
        got = 0
        while not self._complete:
            try:
                data = self.sock.recv(_RECV_BYTES)
            except _STALE as exc:
                if not got:
                    raise _Closed(f"{type(exc).__name__}: {exc}") from exc
                raise
            if not data:
                if not got:
                    raise _Closed("the connection closed before an answer")
                if self._head_done and self._framed_by_close():
                    return self._status, self._headers, bytes(self._body), False
                raise CallFailed("the connection closed in the middle of an answer")
            got += len(data)
            if not self._head_done and got > MAX_HEAD_BYTES:
                raise CallFailed(f"the answer's head is longer than {MAX_HEAD_BYTES} bytes")
            try:
                self._parser.feed_data(data)
            except httptools.HttpParserError as exc:
                raise CallFailed(f"not an HTTP answer: {exc}") from exc
        return self._status, self._headers, bytes(self._body), self._keep

    def _framed_by_close(self) -> bool:
        return "content-length" not in self._headers and "chunked" not in self._headers.get("transfer-encoding", "")

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    # ---- parser callbacks (httptools) ---------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        old = dict.get(self._headers, key)
        dict.__setitem__(self._headers, key, text if old is None else f"{old}, {text}")

    def on_headers_complete(self) -> None:
        self._head_done = True
        self._status = self._parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        self._body += body

    def on_message_complete(self) -> None:
        if 100 <= self._status < 200:  # an interim answer: the real one follows
            self._reset()
            return
        self._keep = self._parser.should_keep_alive()  # llhttp forgets it once the callback returns
        self._complete = True


class KeptAlive:
    """Calls to one origin (scheme, host, port) over at most `keep` idle connections.

    Args:
      base_url: http:// or https:// origin; a path in it is ignored (calls name theirs).
      timeout_s: socket timeout of each connect, send and read; None waits for ever.
      keep: idle connections kept for reuse.
    """

    def __init__(self, base_url: str, timeout_s: float | None, keep: int = 16):
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        default = 443 if self._https else 80
        self._port = parts.port or default
        name = f"[{self._host}]" if ":" in self._host else self._host
        self._host_line = f"Host: {name}\r\n" if self._port == default else f"Host: {name}:{self._port}\r\n"
        self._timeout = timeout_s
        self._keep = keep
        self._idle: list[_Connection] = []
        self._lock = threading.Lock()
        self._context = _tls_context() if self._https else None

    def request(self, method: str, target: str, body: bytes | None = None,
                headers: dict | None = None) -> tuple[int, Headers, bytes]:
        """(status, headers, body) of one call; `target` is the path and query.

        Raises:
          ValueError: a target or header that would break the request's framing (a space or a line break).
          CallFailed: no answer (refused, lost, timed out, not HTTP).
        """
        request = self._encode(method, target, body, headers or {})
        for attempt in range(2):
            try:
                # Once a kept connection turned out closed, the call goes on a new one: the other kept ones
                # may have been closed while idle too (a server drops each after the same idle time).
                conn, reused = self._connection(fresh=attempt > 0)
            except OSError as exc:
                raise CallFailed(f"{type(exc).__name__}: {exc}") from exc
            try:
                status, answer_headers, data, keep = conn.exchange(request)
            except _Closed as exc:
                conn.close()
                if reused and attempt == 0:
                    continue  # closed by the server while idle: once more on a new connection
                raise CallFailed(str(exc)) from exc
            except CallFailed:
                conn.close()
                raise
            except OSError as exc:
                conn.close()
                raise CallFailed(f"{type(exc).__name__}: {exc}") from exc
            if keep:
                self._release(conn)
            else:
                conn.close()
            return status, answer_headers, data
        raise CallFailed("unreachable")  # pragma: no cover

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def _encode(self, method: str, target: str, body: bytes | None, headers: dict) -> bytes:
        if not target.startswith("/") or _NOT_IN_TARGET.search(target):
            raise ValueError(f"an HTTP request target must start with / and hold no space or control character: {target!r}")
        lines = [f"{method} {target} HTTP/1.1\r\n", self._host_line, "Accept-Encoding: identity\r\n"]
        if body is not None or method in _BODY_METHODS:
            lines.append(f"Content-Length: {len(body) if body else 0}\r\n")
        for name, value in headers.items():
            value = str(value)
            if "\r" in value or "\n" in value or "\r" in name or "\n" in name or ":" in name:
                raise ValueError(f"an HTTP header may not hold a line break (or a colon in its name): {name!r}: {value!r}")
            lines.append(f"{name}: {value}\r\n")
        lines.append("\r\n")
        head = "".join(lines).encode("latin-1")
        return head + body if body else head

    def _connection(self, fresh: bool = False) -> tuple[_Connection, bool]:
        if not fresh:
            with self._lock:
                if self._idle:
                    return self._idle.pop(), True
        sock = socket.create_connection((self._host, self._port), timeout=self._timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._context is not None:
                sock = self._context.wrap_socket(sock, server_hostname=self._host)
        except BaseException:
            sock.close()
            raise
        return _Connection(sock), False

    def _release(self, conn: _Connection) -> None:
        with self._lock:
            if len(self._idle) < self._keep:
                self._idle.append(conn)
                return
        conn.close()


def _tls_context() -> ssl.SSLContext:
    try:
        import certifi
    except ImportError:
        return ssl.create_default_context()
    return ssl.create_default_context(cafile=certifi.where())
