"""Raw HTTP over sockets for hostile clients: exact bytes on the wire, trickled bodies, huge uploads.

`requests` rewrites URLs (it unquotes `%2E` and friends) and cannot send a body slowly; these helpers
write exactly what they are given and read one HTTP/1.1 response back, with bounded waits.
"""

from __future__ import annotations

import json
import select
import socket
import time
from dataclasses import dataclass
from pathlib import Path

_IO_TIMEOUT_S = 60.0
_SEND_CHUNK = 1 << 16


@dataclass
class Reply:
    """One HTTP response as read off the socket."""

    status: int
    headers: dict
    body: bytes

    def json(self):
        return json.loads(self.body)


def open_socket(port: int, host: str = "127.0.0.1", rcvbuf: int | None = None) -> socket.socket:
    """A connected TCP socket (optionally with a small receive buffer, for a client that stalls)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(_IO_TIMEOUT_S)
    sock.connect((host, port))
    return sock


def head(method: str, target: str, headers: dict | None = None, length: int | None = None) -> bytes:
    """The request line and headers (`Content-Length: length` unless None; chunked if length == -1)."""
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if length == -1:
        lines.append("Transfer-Encoding: chunked")
    elif length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def read_reply(sock: socket.socket, timeout: float = _IO_TIMEOUT_S, limit: int = 64 << 20) -> Reply:
    """Read one response (Content-Length, chunked, or until close), waiting at most `timeout`."""
    deadline = time.monotonic() + timeout
    data = b""

    def more() -> bool:
        nonlocal data
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no complete response within {timeout}s; got {data[:200]!r}")
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(1 << 16)
        except ConnectionResetError:
            chunk = b""
        data += chunk
        if len(data) > limit:
            raise AssertionError(f"response larger than {limit} bytes")
        return bool(chunk)

    while b"\r\n\r\n" not in data:
        if not more():
            raise ConnectionError(f"connection closed before the response headers; got {data[:200]!r}")
    raw_head, _, rest = data.partition(b"\r\n\r\n")
    status_line, *header_lines = raw_head.decode("latin-1").split("\r\n")
    status = int(status_line.split(" ")[1])
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    start = len(raw_head) + 4
    if "content-length" in headers:
        end = start + int(headers["content-length"])
        while len(data) < end and more():
            pass
        return Reply(status, headers, data[start:end])
    if headers.get("transfer-encoding", "").lower() == "chunked":
        while not data.endswith(b"0\r\n\r\n") and more():
            pass
        return Reply(status, headers, _dechunk(data[start:]))
    while more():
        pass
    return Reply(status, headers, data[start:])


def _dechunk(data: bytes) -> bytes:
    out, pos = [], 0
    while True:
        line_end = data.index(b"\r\n", pos)
        size = int(data[pos:line_end].split(b";")[0], 16)
        if size == 0:
            return b"".join(out)
        out.append(data[line_end + 2:line_end + 2 + size])
        pos = line_end + 2 + size + 2


def request(port: int, method: str, target: str, body: bytes | None = None, headers: dict | None = None,
            timeout: float = _IO_TIMEOUT_S) -> Reply:
    """Send one request on a new connection and read its response."""
    with open_socket(port) as sock:
        sock.sendall(head(method, target, headers, None if body is None else len(body)) + (body or b""))
        return read_reply(sock, timeout)


def upload(port: int, method: str, target: str, body: bytes, headers: dict | None = None,
           chunked: bool = False, timeout: float = _IO_TIMEOUT_S) -> Reply:
    """Send a (large) body while watching for an early answer; a server may refuse before reading it all.

    Returns the response, whether the server read the whole body or answered (and closed) part-way.
    """
    with open_socket(port) as sock:
        sock.sendall(head(method, target, headers, -1 if chunked else len(body)))
        view, sent = memoryview(body), 0
        deadline = time.monotonic() + timeout
        while sent < len(body):
            if time.monotonic() > deadline:
                raise TimeoutError(f"sent only {sent} of {len(body)} bytes within {timeout}s")
            readable, writable, _ = select.select([sock], [sock], [], 1.0)
            if readable:
                break  # the server answered early (typically 4xx and close): stop sending, read it
            if writable:
                piece = bytes(view[sent:sent + _SEND_CHUNK])
                try:
                    sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
                except (BrokenPipeError, ConnectionResetError):
                    break
                sent += len(piece)
        else:
            if chunked:
                try:
                    sock.sendall(b"0\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    pass
        return read_reply(sock, max(1.0, deadline - time.monotonic()))


def rss_kb(pid: int) -> int:
    """Resident set size of a process, from /proc/<pid>/status (kB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise LookupError(f"no VmRSS for pid {pid}")


def children_of(pid: int) -> list[int]:
    """Direct child processes (gunicorn's workers under its arbiter)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []
