"""FirebaseTickets against a real emulator: the kept-alive transport built from firebase-admin's client, and the
stock Reference API it falls back to, read and write the same way and fail the same way."""

import uuid

import firebase_admin
import pytest

from enrichment._rtdb_http import RtdbHttp
from enrichment.errors import TransientError
from enrichment.runtime import FirebaseTickets
from tests.support.procs import start_emulator

NS = "demo-transport-default-rtdb"
TICKET = {"subject": "Cannot log in", "description": "Every login fails.", "impact": 3,
          "contact": {"name": "Ada", "email": "ada@example.com"}}


@pytest.fixture(scope="module")
def emulator():
    """One in-memory emulator for the module."""
    proc = start_emulator()
    yield proc
    proc.stop()


def _app(monkeypatch, host: str):
    monkeypatch.setenv("FIREBASE_DATABASE_EMULATOR_HOST", host)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    return firebase_admin.initialize_app(options={"databaseURL": f"https://{NS}.firebaseio.com"},
                                         name=f"transport-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def app(emulator, monkeypatch):
    """A firebase-admin app pointed at the emulator as Firebase documents it."""
    app = _app(monkeypatch, f"127.0.0.1:{emulator.port}")
    yield app
    firebase_admin.delete_app(app)


@pytest.fixture(params=["kept-alive", "firebase-admin"])
def tickets(request, app):
    """FirebaseTickets on either transport."""
    tickets = FirebaseTickets(app, fast=request.param == "kept-alive")
    assert tickets.transport == request.param
    return tickets


def test_the_emulator_app_takes_the_kept_alive_transport_by_default(app):
    assert FirebaseTickets(app).transport == "kept-alive"


def test_reads_and_writes_are_the_same_on_either_transport(tickets):
    ticket_id = uuid.uuid4().hex
    assert tickets.get(ticket_id) is None
    tickets.update(ticket_id, TICKET)
    tickets.update(ticket_id, {"enrichment": {"priority": "P2", "scores": [0.1, 0.9]}, "enrichment_error": None})
    assert tickets.get(ticket_id) == {**TICKET, "enrichment": {"priority": "P2", "scores": [0.1, 0.9]}}
    tickets.update(ticket_id, {"enrichment": None, "helpdesk": {"id": 7}})
    assert tickets.get(ticket_id) == {**TICKET, "helpdesk": {"id": 7}}


def test_a_ticket_id_with_characters_that_mean_something_in_a_url_names_that_ticket(app):
    tickets = FirebaseTickets(app)
    ticket_id = f"a b&c=d%e+f{uuid.uuid4().hex[:6]}"  # (firebase-admin refuses "?" in a path)
    tickets.update(ticket_id, TICKET)
    assert tickets.get(ticket_id) == TICKET
    assert FirebaseTickets(app, fast=False)._root.child(ticket_id).get() == TICKET


def test_a_refused_write_is_a_transient_error_quoting_the_database(tickets):
    with pytest.raises(TransientError, match=r"^Database write to tickets/t1 failed: .*a\.b"):
        tickets.update("t1", {"a.b": 1})  # an invalid key: the database answers 400


@pytest.mark.parametrize("fast", [True, False])
def test_an_unreachable_database_is_a_transient_error(monkeypatch, fast):
    app = _app(monkeypatch, "127.0.0.1:9")  # the discard port: refused
    try:
        tickets = FirebaseTickets(app, fast=fast)
        with pytest.raises(TransientError, match=r"^Database read of tickets/t1 failed: "):
            tickets.get("t1")
    finally:
        firebase_admin.delete_app(app)


def test_a_client_without_the_expected_internals_keeps_the_reference_api():
    class Reference:
        _client = object()

    assert RtdbHttp.from_reference(Reference()) is None
    assert RtdbHttp.from_reference(object()) is None


def test_a_configured_proxy_keeps_the_reference_api(app, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    assert FirebaseTickets(app).transport == "firebase-admin"


class _Scripted:
    """A kept-alive HTTP/1.1 server answering each call with the next (status, body) of `script`, then 200;
    it records the calls' methods, paths and Authorization headers, and the client ports (connections)."""

    def __init__(self, script, close_each=False):
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.script, self.calls = list(script), []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                outer.calls.append((self.command, self.path, self.headers.get("Authorization"), body,
                                    self.client_address[1]))
                status, text = outer.script.pop(0) if outer.script else (200, b'{"ok":true}')
                self.send_response(status)
                self.send_header("Content-Length", str(len(text)))
                if close_each:
                    self.send_header("Connection", "keep-alive")  # says so, then closes anyway
                self.end_headers()
                self.wfile.write(text)
                if close_each:
                    self.close_connection = True

            do_GET = do_PATCH = _answer

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class _Credential:
    """google-auth's credential protocol: a token, refreshed on demand."""

    def __init__(self):
        self.token, self.refreshes = "t0", 0

    def before_request(self, request, method, url, headers):
        headers["Authorization"] = f"Bearer {self.token}"

    def refresh(self, request):
        self.refreshes += 1
        self.token = f"t{self.refreshes}"


def test_calls_keep_one_connection_and_retry_503_and_refresh_after_401(monkeypatch):
    import enrichment._rtdb_http as rtdb_http

    monkeypatch.setattr(rtdb_http.time, "sleep", lambda s: None)
    server = _Scripted([(503, b'{"error":"busy"}'), (401, b'{"error":"expired"}'), (200, b'{"a":1}')])
    credential = _Credential()
    try:
        http = RtdbHttp(server.url, {"ns": "x"}, credential, 5)
        assert http.get("tickets/a b") == {"a": 1}
        http.update("tickets/t1", {"enrichment": None})
        methods = [(c[0], c[1], c[2]) for c in server.calls]
        assert methods == [("GET", "/tickets/a%20b.json?ns=x", "Bearer t0"),
                           ("GET", "/tickets/a%20b.json?ns=x", "Bearer t0"),
                           ("GET", "/tickets/a%20b.json?ns=x", "Bearer t1"),
                           ("PATCH", "/tickets/t1.json?ns=x&print=silent", "Bearer t1")]
        assert server.calls[-1][3] == b'{"enrichment":null}'
        assert credential.refreshes == 1
        assert len({c[4] for c in server.calls}) == 1  # one kept-alive connection for all four
    finally:
        server.close()


def test_persistent_500s_fail_after_four_retries(monkeypatch):
    import enrichment._rtdb_http as rtdb_http

    sleeps = []
    monkeypatch.setattr(rtdb_http.time, "sleep", sleeps.append)
    server = _Scripted([(500, b'{"error":"down"}')] * 10)
    try:
        with pytest.raises(rtdb_http.DatabaseCallFailed, match="answered 500: down"):
            RtdbHttp(server.url, {}, _Credential(), 5).get("tickets/t1")
        assert len(server.calls) == 5 and sleeps == [0, 1.0, 2.0, 4.0]
    finally:
        server.close()


def test_a_connection_the_server_closed_while_idle_is_replaced():
    server = _Scripted([], close_each=True)
    try:
        http = RtdbHttp(server.url, {}, _Credential(), 5)
        for _ in range(3):
            assert http.get("tickets/t1") == {"ok": True}
        assert len(server.calls) == 3  # each call answered once: no call lost, none sent twice to an answer
    finally:
        server.close()
