"""The function's Zendesk client against the helpdesk stub served over loopback: which calls it makes."""

import sqlite3
import threading

import pytest
import requests
from werkzeug.serving import make_server

from enrichment.errors import PermanentError
from enrichment.helpdesk import HelpdeskClient
from helpdesk.app import create_app

TOKEN = "client-test-token"
TICKET = {"subject": "Cannot log in", "description": "Since this morning.", "category": "authentication",
          "type": "issue", "impact": 3, "contact": {"name": "Ada", "email": "ada@example.com"}}
ENRICHMENT = {"priority": "P2", "priority_scores": {"P1": 0.1, "P2": 0.6, "P3": 0.2, "P4": 0.1},
              "sentiment": {"label": "negative", "score": -0.4}, "resolution_hours": {"p50": 5.0, "p90": 30.0},
              "needs_review": False, "model_version": "v-test"}


@pytest.fixture(params=["kept-alive", "requests"])
def desk(request, tmp_path):
    """The stub on a free port, recording each request's method and path; a client on either transport."""
    app = create_app({"HELPDESK_DB": str(tmp_path / "desk.sqlite3"), "HELPDESK_API_TOKEN": TOKEN,
                      "HELPDESK_WEBHOOK_URL": ""})
    calls = []
    inner = app.wsgi_app

    def recording(environ, start_response):
        calls.append((environ["REQUEST_METHOD"], environ["PATH_INFO"]))
        return inner(environ, start_response)

    app.wsgi_app = recording
    request.node.stub = app.extensions["helpdesk"]
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    session = requests.Session() if request.param == "requests" else None
    client = HelpdeskClient(f"http://127.0.0.1:{server.server_port}", TOKEN, timeout_s=5, session=session)
    assert client.transport == request.param
    yield client, calls
    server.shutdown()
    app.extensions["helpdesk"].close()


def test_a_ticket_never_forwarded_is_created_with_one_call(desk):
    client, calls = desk
    result = client.upsert("t1", TICKET, ENRICHMENT, "t1:abc", may_exist=False)
    assert result["created"] and calls == [("POST", "/api/v2/tickets.json")]


def test_a_ticket_that_may_exist_is_looked_up_and_updated_not_duplicated(desk):
    client, calls = desk
    first = client.upsert("t1", TICKET, ENRICHMENT, "t1:abc", may_exist=False)
    calls.clear()
    again = client.upsert("t1", TICKET, ENRICHMENT, "t1:def")  # e.g. the link was never recorded
    assert again == {**first, "created": False}
    assert [m for m, _ in calls] == ["GET", "PUT"]
    listing = requests.get(f"{client.base_url}/api/v2/tickets.json", params={"external_id": "t1"},
                           headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5).json()
    assert len(listing["tickets"]) == 1


def test_a_linked_ticket_is_updated_by_its_id(desk):
    client, calls = desk
    first = client.upsert("t1", TICKET, ENRICHMENT, "t1:abc", may_exist=False)
    calls.clear()
    updated = client.upsert("t1", {**TICKET, "subject": "Still cannot log in"}, ENRICHMENT, "t1:def",
                            known_id=first["id"])
    assert updated == {**first, "created": False}
    assert calls == [("PUT", f"/api/v2/tickets/{first['id']}.json")]


def test_a_linked_ticket_deleted_in_the_helpdesk_is_created_again(desk):
    client, calls = desk
    result = client.upsert("t1", TICKET, ENRICHMENT, "t1:abc", known_id=987654)
    assert result["created"] and result["id"] != 987654
    assert [m for m, _ in calls] == ["PUT", "GET", "POST"]


def test_the_same_idempotency_key_replays_the_first_creation(desk):
    client, _ = desk
    first = client.upsert("t1", TICKET, ENRICHMENT, "t1:abc", may_exist=False)
    second = client.upsert("t1", TICKET, ENRICHMENT, "t1:abc", may_exist=False)  # a timed-out create, retried
    assert second["id"] == first["id"]


def test_a_refusal_is_permanent(desk):
    client, _ = desk
    client = HelpdeskClient(client.base_url, "wrong", timeout_s=5, session=client.session)
    with pytest.raises(PermanentError, match="401"):
        client.upsert("t1", TICKET, ENRICHMENT, "t1:abc", may_exist=False)


def test_a_helpdesk_that_is_down_is_a_transient_error(desk, request):
    from enrichment.errors import TransientError

    client, _ = desk
    request.node.stub.faults.set({"down": True})
    with pytest.raises(TransientError, match="^Helpdesk answered 503 to POST /api/v2/tickets.json"):
        client.upsert("t1", TICKET, ENRICHMENT, "t1:abc", may_exist=False)


@pytest.mark.parametrize("session", [None, "requests"])
def test_an_unreachable_helpdesk_is_a_transient_error(session):
    from enrichment.errors import TransientError

    client = HelpdeskClient("http://127.0.0.1:9", TOKEN, timeout_s=5,
                            session=requests.Session() if session else None)  # the discard port: refused
    with pytest.raises(TransientError, match=r"^Helpdesk unreachable at http://127\.0\.0\.1:9/api/v2/tickets\.json: "
                                             r"\w+: .*(refused|Connection|Errno)"):  # the reason, not only its type
        client.upsert("t1", TICKET, ENRICHMENT, "t1:abc", may_exist=False)


def test_a_configured_proxy_keeps_requests(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    assert HelpdeskClient("https://acme.zendesk.com", TOKEN).transport == "requests"


def test_a_redirected_call_is_followed():
    """A helpdesk answering 307 (moved, say): the call is made again where it points, as requests would."""
    import json
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen = []

    class Moved(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            seen.append((self.path, self.headers.get("Authorization"), json.loads(body)["ticket"]["external_id"]))
            if not self.path.startswith("/new/"):
                self.send_response(307)
                self.send_header("Location", "/new" + self.path)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            answer = json.dumps({"ticket": {"id": 42}}).encode()
            self.send_response(201)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args):
            pass

    moved = ThreadingHTTPServer(("127.0.0.1", 0), Moved)
    threading.Thread(target=moved.serve_forever, daemon=True).start()
    try:
        client = HelpdeskClient(f"http://127.0.0.1:{moved.server_address[1]}", TOKEN, timeout_s=5)
        assert client.transport == "kept-alive"
        result = client.upsert("t1", TICKET, ENRICHMENT, "t1:abc", may_exist=False)
        assert result["created"] and result["id"] == 42
        # The redirect is rare: the call is made again through urllib3, which meets the 307 and follows it.
        assert seen == [("/api/v2/tickets.json", f"Bearer {TOKEN}", "t1")] * 2 + [
            ("/new/api/v2/tickets.json", f"Bearer {TOKEN}", "t1")]
    finally:
        moved.shutdown()


def test_a_key_reused_with_another_body_updates_the_ticket_it_created(desk):
    client, calls = desk
    first = client.upsert("t1", TICKET, ENRICHMENT, "t1", may_exist=False)
    calls.clear()
    edited = {**TICKET, "subject": "Still cannot log in"}  # e.g. edited before a crashed attempt was redelivered
    again = client.upsert("t1", edited, ENRICHMENT, "t1", may_exist=False)
    assert again == {**first, "created": False}
    assert [m for m, _ in calls] == ["POST", "GET", "PUT"]  # refused as a reused key, looked up, updated
    assert client.find("t1")["subject"] == "Still cannot log in"


def test_a_key_reused_after_its_ticket_was_deleted_creates_one_anew_once(desk, tmp_path):
    client, _ = desk
    first = client.upsert("t1", TICKET, ENRICHMENT, "t1", may_exist=False)
    with sqlite3.connect(tmp_path / "desk.sqlite3") as db:  # deleted by someone in the helpdesk
        db.execute("DELETE FROM tickets WHERE id = ?", (first["id"],))
    edited = {**TICKET, "subject": "Still cannot log in"}
    again = client.upsert("t1", edited, ENRICHMENT, "t1", may_exist=False)
    retried = client.upsert("t1", edited, ENRICHMENT, "t1", may_exist=False)  # its answer lost, say
    assert again["created"] and again["id"] != first["id"] and retried["id"] == again["id"]
    listing = requests.get(f"{client.base_url}/api/v2/tickets.json", params={"external_id": "t1"},
                           headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5).json()
    assert [t["id"] for t in listing["tickets"]] == [again["id"]]
