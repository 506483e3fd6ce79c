"""The function's kept-alive HTTP/1.1 client against a real socket server that answers with exact bytes: every
framing of an answer, the requests it writes, connection reuse, and each way a connection can fail."""

import socket
import threading
import time

import pytest

from enrichment._keptalive import CallFailed, KeptAlive


class _Raw:
    """A TCP server on a free port; each connection reads requests and writes the next scripted answer.

    `script` items are bytes (written whole, the connection kept), or ("close", bytes) (written, then the
    connection closed), or ("close-idle", bytes) (written; the connection is closed once the client is idle),
    or ("slow-close-idle", bytes) (as "close-idle", written after 0.2 s), or ("hang",) (nothing written). Records
    every request's raw bytes and the connection it came on.
    """

    def __init__(self, script):
        self.script = list(script)
        self.requests: list[tuple[int, bytes]] = []
        self.connections = 0
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
                number = self.connections
            threading.Thread(target=self._serve, args=(conn, number), daemon=True).start()

    def _read_request(self, conn, buffered: bytes) -> tuple[bytes | None, bytes]:
        data = buffered
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return None, b""
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(rest) < length:
            rest += conn.recv(65536)
        return head + b"\r\n\r\n" + rest[:length], rest[length:]

    def _serve(self, conn, number):
        buffered = b""
        with conn:
            while True:
                request, buffered = self._read_request(conn, buffered)
                if request is None:
                    return
                self.requests.append((number, request))
                step = self.script.pop(0) if self.script else b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
                if isinstance(step, bytes):
                    conn.sendall(step)
                elif step[0] == "close":
                    conn.sendall(step[1])
                    conn.shutdown(socket.SHUT_RDWR)
                    return
                elif step[0] in ("close-idle", "slow-close-idle"):
                    if step[0] == "slow-close-idle":
                        time.sleep(0.2)
                    conn.sendall(step[1])
                    time.sleep(0.2)  # the client has its answer and is idle; the server drops the connection
                    conn.shutdown(socket.SHUT_RDWR)
                    return
                elif step[0] == "hang":
                    time.sleep(3)
                    return

    def close(self):
        self._sock.close()


@pytest.fixture
def raw():
    servers = []

    def make(script):
        servers.append(_Raw(script))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


def test_calls_reuse_one_connection_and_write_complete_requests(raw):
    server = raw([b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\nX-A: 1\r\nx-a: 2\r\n\r\n{\"a\":1}",
                  b"HTTP/1.1 204 No Content\r\n\r\n",
                  b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"])
    client = KeptAlive(server.url + "/ignored/path", timeout_s=5)
    status, headers, body = client.request("GET", "/tickets/t1.json?ns=x", headers={"Authorization": "Bearer t"})
    assert (status, body) == (200, b'{"a":1}')
    assert headers.get("x-a") == headers.get("X-A") == "1, 2" and "CONTENT-LENGTH" in headers
    assert client.request("PATCH", "/tickets/t1.json?print=silent", b'{"b":2}')[:1] == (204,)
    assert client.request("POST", "/api/v2/tickets.json")[0] == 201
    assert server.connections == 1 and [n for n, _ in server.requests] == [1, 1, 1]
    get, patch, post = (request for _, request in server.requests)
    assert get.startswith(b"GET /tickets/t1.json?ns=x HTTP/1.1\r\n")
    assert f"\r\nHost: 127.0.0.1:{server.port}\r\n".encode() in get
    assert b"\r\nAuthorization: Bearer t\r\n" in get and b"content-length" not in get.lower()
    assert patch.endswith(b"\r\nContent-Length: 7\r\n\r\n{\"b\":2}") or (
        b"\r\nContent-Length: 7\r\n" in patch and patch.endswith(b'\r\n\r\n{"b":2}'))
    assert b"\r\nContent-Length: 0\r\n" in post  # a POST without a body still says so


def test_every_framing_of_an_answer_is_read(raw):
    server = raw([b"HTTP/1.1 100 Continue\r\n\r\n"
                  b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n",
                  ("close", b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end"),
                  b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nnew"])
    client = KeptAlive(server.url, timeout_s=5)
    assert client.request("GET", "/chunked")[0::2] == (200, b"abcdefg")  # the interim answer is skipped
    assert client.request("GET", "/close")[0::2] == (200, b"until the end")
    assert client.request("GET", "/after")[0::2] == (200, b"new")
    assert [n for n, _ in server.requests] == [1, 1, 2]  # a new connection after the one the answer closed


def test_a_kept_connection_the_server_closed_while_idle_is_replaced_once(raw):
    server = raw([("close-idle", b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none"),
                  b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo"])
    client = KeptAlive(server.url, timeout_s=5)
    assert client.request("GET", "/a")[2] == b"one"
    time.sleep(0.4)
    assert client.request("GET", "/b")[2] == b"two"
    # The request reached the server once, on the second connection: nothing was answered twice.
    assert [(n, r.split(b" ")[1]) for n, r in server.requests] == [(1, b"/a"), (2, b"/b")]


def test_after_a_closed_kept_connection_the_call_goes_on_a_new_one_not_another_kept_one(raw):
    # Two threads' calls leave two kept connections; the server closes both while they are idle (as the helpdesk
    # stub does after 30 s). The next call finds the first closed, and must not try the second, closed too.
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    server = raw([("slow-close-idle", answer), ("slow-close-idle", answer), answer])
    client = KeptAlive(server.url, timeout_s=5)
    calls = [threading.Thread(target=client.request, args=("GET", f"/{name}")) for name in ("a", "b")]
    for call in calls:
        call.start()
    for call in calls:
        call.join()
    assert server.connections == 2
    time.sleep(0.6)
    assert client.request("GET", "/c")[2] == b"ok"
    assert server.connections == 3 and server.requests[-1][0] == 3 and len(server.requests) == 3


def test_an_answer_cut_short_fails_and_is_not_sent_again(raw):
    server = raw([("close", b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf")])
    client = KeptAlive(server.url, timeout_s=5)
    with pytest.raises(CallFailed, match="middle of an answer"):
        client.request("POST", "/create", b"{}")
    assert len(server.requests) == 1


def test_a_new_connection_closed_before_any_answer_fails_without_a_second_try(raw):
    server = raw([("close", b"")])
    with pytest.raises(CallFailed, match="closed before an answer"):
        KeptAlive(server.url, timeout_s=5).request("POST", "/create", b"{}")
    assert len(server.requests) == 1


def test_not_http_and_too_long_a_head_fail(raw):
    server = raw([b"SSH-2.0-OpenSSH_9.2\r\n\r\n",
                  b"HTTP/1.1 200 OK\r\n" + b"X-Pad: " + b"p" * 70_000 + b"\r\n\r\n"])
    client = KeptAlive(server.url, timeout_s=5)
    with pytest.raises(CallFailed, match="not an HTTP answer"):
        client.request("GET", "/")
    with pytest.raises(CallFailed, match="head is longer than 65536 bytes"):
        client.request("GET", "/")


def test_a_silent_server_times_out_and_a_closed_port_is_refused(raw):
    server = raw([("hang",)])
    started = time.monotonic()
    with pytest.raises(CallFailed, match="timed out|TimeoutError"):
        KeptAlive(server.url, timeout_s=0.3).request("GET", "/slow")
    assert time.monotonic() - started < 2.5
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    with pytest.raises(CallFailed, match="ConnectionRefused"):
        KeptAlive(f"http://127.0.0.1:{free}", timeout_s=2).request("GET", "/")


@pytest.mark.parametrize("target, headers", [
    ("/tickets/a b.json", {}),
    ("/tickets/a\r\nX-Evil: 1", {}),
    ("tickets/no-slash", {}),
    ("/ok", {"Idempotency-Key": "t1\r\nX-Evil: 1"}),
    ("/ok", {"X-Bad\nName": "v"}),
])
def test_a_request_that_would_break_its_framing_is_refused_before_anything_is_sent(raw, target, headers):
    server = raw([])
    with pytest.raises(ValueError, match="target|header"):
        KeptAlive(server.url, timeout_s=2).request("GET", target, headers=headers)
    time.sleep(0.05)
    assert server.connections == 0


def test_only_http_urls_are_taken():
    with pytest.raises(ValueError, match="not an http"):
        KeptAlive("ftp://example.com", timeout_s=1)


def _self_signed(tmp_path):
    """A certificate for localhost / 127.0.0.1 and its key, as PEM files."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


class _Tls(_Raw):
    """The same scripted server behind TLS."""

    def __init__(self, script, cert_file, key_file):
        import ssl

        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.load_cert_chain(cert_file, key_file)
        super().__init__(script)
        self.url = f"https://localhost:{self.port}"

    def _serve(self, conn, number):
        try:
            conn = self._context.wrap_socket(conn, server_side=True)
        except OSError:
            return  # the client refused the certificate
        super()._serve(conn, number)


def test_https_calls_check_the_certificate_reuse_the_connection_and_replace_a_closed_one(tmp_path, monkeypatch):
    import ssl

    import enrichment._keptalive as keptalive

    cert_file, key_file = _self_signed(tmp_path)
    server = _Tls([b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none",
                   ("close-idle", b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo"),
                   b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nthree"], cert_file, key_file)
    try:
        # The machine's CA bundle does not know this certificate: the call fails, nothing is answered.
        with pytest.raises(CallFailed, match="CERTIFICATE_VERIFY_FAILED"):
            KeptAlive(server.url, timeout_s=5).request("GET", "/refused")
        assert server.requests == []
        monkeypatch.setattr(keptalive, "_tls_context", lambda: ssl.create_default_context(cafile=str(cert_file)))
        client = KeptAlive(server.url, timeout_s=5)
        assert client.request("GET", "/a")[2] == b"one"
        assert client.request("GET", "/b")[2] == b"two"
        time.sleep(0.4)  # the server has closed that connection meanwhile
        assert client.request("GET", "/c")[2] == b"three"
        assert [r.split(b" ")[1] for _, r in server.requests] == [b"/a", b"/b", b"/c"]
        numbers = [n for n, _ in server.requests]
        assert numbers[0] == numbers[1] != numbers[2]  # kept alive, then replaced once
        assert b"\r\nHost: localhost:" in server.requests[0][1]
    finally:
        server.close()
