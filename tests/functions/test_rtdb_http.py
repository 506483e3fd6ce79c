"""FirebaseTickets against a real emulator: the urllib3 transport built from firebase-admin's client, and the
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


@pytest.fixture(params=["urllib3", "firebase-admin"])
def tickets(request, app):
    """FirebaseTickets on either transport."""
    tickets = FirebaseTickets(app, fast=request.param == "urllib3")
    assert tickets.transport == request.param
    return tickets


def test_the_emulator_app_takes_the_urllib3_transport_by_default(app):
    assert FirebaseTickets(app).transport == "urllib3"


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
