"""Exactly one helpdesk ticket per database ticket when the function dies between the helpdesk call and its
write-back: the Enricher with the shipped bundle and the real Zendesk client against the helpdesk stub served
over loopback. The database is a dict whose write can be made to fail once, as a killed instance's would."""

import copy
import logging
import sqlite3
import threading
from datetime import datetime, timezone

import pytest
from werkzeug.serving import make_server

from enrichment import events
from enrichment.helpdesk import HelpdeskClient
from enrichment.pipeline import FRESH_CREATION_S, Enricher
from helpdesk.app import create_app
from tests.functions.test_pipeline import NOW, TICKET, Model
from ticketml.features import input_hash

TOKEN = "once-test-token"
EDITED = {**TICKET, "description": "Every login fails with error 500. Production is down for our whole team!"}


class Died(Exception):
    """The instance died here."""


class Database:
    """tickets/{id} as the function sees it; `die_on_write` makes the next write fail before it lands."""

    def __init__(self, tickets):
        self.data, self.die_on_write, self.writes = copy.deepcopy(tickets), False, []

    def get(self, ticket_id):
        return copy.deepcopy(self.data.get(ticket_id))

    def update(self, ticket_id, fields):
        if self.die_on_write:
            self.die_on_write = False
            raise Died()
        self.writes.append(sorted(fields))
        for key, value in fields.items():
            if value is None:
                self.data[ticket_id].pop(key, None)
            else:
                self.data[ticket_id][key] = copy.deepcopy(value)


@pytest.fixture
def desk(tmp_path):
    """The stub on a free port, recording each call's method; the function's client for it."""
    app = create_app({"HELPDESK_DB": str(tmp_path / "desk.sqlite3"), "HELPDESK_API_TOKEN": TOKEN,
                      "HELPDESK_WEBHOOK_URL": ""})
    calls, inner = [], app.wsgi_app

    def recording(environ, start_response):
        calls.append(environ["REQUEST_METHOD"])
        return inner(environ, start_response)

    app.wsgi_app = recording
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client = HelpdeskClient(f"http://127.0.0.1:{server.server_port}", TOKEN, timeout_s=5)
    yield client, calls
    server.shutdown()
    app.extensions["helpdesk"].close()


def event(before, after, age_s=1.0, event_id="e1"):
    return events.TicketEvent("t1", event_id, "google.firebase.database.ref.v1.written",
                              datetime.fromtimestamp(NOW - age_s, timezone.utc), before, after)


MODEL = Model()


def enricher(database, client):
    return Enricher(database, MODEL, client, logging.getLogger("test-forwarding-once"), clock=lambda: NOW)


def forwarded_once(database, client):
    """The helpdesk holds exactly one ticket for t1, and the database links it with the current inputs."""
    found = [t["id"] for t in client._call("GET", "/api/v2/tickets.json", params={"external_id": "t1"})["tickets"]]
    ticket = database.data["t1"]
    assert found == [ticket["helpdesk"]["id"]]
    assert ticket["helpdesk"]["input_hash"] == ticket["enrichment"]["input_hash"]
    return found[0]


def died_after_the_helpdesk_call(client) -> Database:
    """The database after t1's creation event died between the helpdesk call and the write-back."""
    database = Database({"t1": TICKET})
    database.die_on_write = True
    with pytest.raises(Died):
        enricher(database, client).process(event(None, TICKET))
    return database


def test_a_fresh_ticket_is_forwarded_with_one_call_and_written_back_once(desk):
    client, calls = desk
    database = Database({"t1": TICKET})
    assert enricher(database, client).process(event(None, TICKET)) == "forwarded"
    assert calls == ["POST"]  # no lookup: nothing can have forwarded it before
    assert database.writes == [["enrichment", "enrichment_error", "helpdesk", "helpdesk_error"]]
    forwarded_once(database, client)


def test_dying_before_the_write_back_then_the_event_again_replays_the_creation(desk):
    client, calls = desk
    database = died_after_the_helpdesk_call(client)
    assert "enrichment" not in database.data["t1"] and calls == ["POST"]  # created, not recorded
    assert enricher(database, client).process(event(None, TICKET)) == "forwarded"
    assert calls == ["POST", "POST"]  # the key replayed the first creation
    forwarded_once(database, client)


def test_dying_then_an_edit_before_the_redelivery_updates_the_same_ticket(desk):
    client, calls = desk
    database = died_after_the_helpdesk_call(client)
    created = client.find("t1")["id"]
    calls.clear()
    database.data["t1"].update(EDITED)
    # The creation's redelivery reads the edited ticket: another body under the same key is refused, so
    # the ticket is looked up and updated; then the edit's own event finds the work done.
    assert enricher(database, client).process(event(None, TICKET)) == "helpdesk_updated"
    assert calls == ["POST", "GET", "PUT"]
    assert enricher(database, client).process(event(TICKET, EDITED, event_id="e2")) == "skipped_up_to_date"
    assert forwarded_once(database, client) == created
    assert database.data["t1"]["helpdesk"]["input_hash"] == input_hash(EDITED)


def test_the_edit_event_first_after_dying_looks_up_before_creating(desk):
    client, calls = desk
    database = died_after_the_helpdesk_call(client)
    database.data["t1"].update(EDITED)
    # An edit's event cannot rule out an earlier attempt: it looks up first.
    assert enricher(database, client).process(event(TICKET, EDITED, event_id="e2")) == "helpdesk_updated"
    assert calls == ["POST", "GET", "PUT"]
    assert enricher(database, client).process(event(None, TICKET)) == "skipped_up_to_date"
    forwarded_once(database, client)


def test_a_creation_redelivered_after_the_key_is_forgotten_looks_up_first(desk, tmp_path):
    client, calls = desk
    database = died_after_the_helpdesk_call(client)
    with sqlite3.connect(tmp_path / "desk.sqlite3") as db:  # two hours on: the helpdesk forgot the key
        db.execute("DELETE FROM idempotency_keys")
    late = event(None, TICKET, age_s=FRESH_CREATION_S + 1)
    assert enricher(database, client).process(late) == "helpdesk_updated"
    assert calls == ["POST", "GET", "PUT"]
    forwarded_once(database, client)


def test_a_helpdesk_that_is_down_leaves_the_enrichment_written_and_the_event_to_retry(desk, tmp_path):
    from enrichment.errors import TransientError

    client, calls = desk
    database = Database({"t1": TICKET})
    down = HelpdeskClient("http://127.0.0.1:9", TOKEN, timeout_s=5)  # the discard port: refused
    with pytest.raises(TransientError):
        enricher(database, down).process(event(None, TICKET))
    assert database.writes == [["enrichment", "enrichment_error"]]  # the ticket shows its enrichment meanwhile
    assert enricher(database, client).process(event(None, TICKET)) == "forwarded"
    assert calls == ["GET", "POST"]  # a field of ours is on the ticket: looked up first
    assert database.writes[1] == ["helpdesk", "helpdesk_error"]  # the enrichment is not written twice
    forwarded_once(database, client)
