"""The Enricher writes the whole enrichment contract of the real bundle: language, confidence,
explanations and review reasons, besides the predictions and input_hash."""

import copy
import logging
from datetime import datetime, timezone
from pathlib import Path

import pytest

from enrichment import events
from enrichment.helpdesk import ticket_fields
from enrichment.pipeline import Enricher
from ticketml import explain
from ticketml.bundle import load_bundle
from ticketml.features import input_hash

MODEL_DIR = Path(__file__).resolve().parents[2] / "model"
WRITTEN = "google.firebase.database.ref.v1.written"
NOW = 1_800_000_000.0
TICKET = {"subject": "Cannot log in since this morning",
          "description": "Every login fails. Production is down for our whole team!",
          "contact": {"name": "Ada", "email": "ada@example.com"}, "category": "authentication",
          "type": "issue", "impact": 4, "experience": "experienced", "seniority": 3,
          "created_at": 1_799_999_000_000, "status": "new"}
FRENCH = {**TICKET, "subject": "Impossible de se connecter",
          "description": "Bonjour, je ne peux plus me connecter à mon compte depuis ce matin. "
                         "Toute l'équipe est bloquée, merci de nous aider rapidement."}


class Tickets:
    def __init__(self, data):
        self.data = copy.deepcopy(data)
        self.updates = []

    def get(self, ticket_id):
        return copy.deepcopy(self.data.get(ticket_id))

    def update(self, ticket_id, fields):
        self.updates.append((ticket_id, copy.deepcopy(fields)))
        for key, value in fields.items():
            if value is None:
                self.data[ticket_id].pop(key, None)
            else:
                self.data[ticket_id][key] = value


class Model:
    def __init__(self):
        self.bundle = load_bundle(MODEL_DIR)

    def current(self):
        return self.bundle


class Helpdesk:
    def __init__(self):
        self.sent = []

    def upsert(self, ticket_id, ticket, enrichment, idempotency_key, known_id=None, may_exist=True):
        self.sent.append(ticket_fields(ticket_id, ticket, enrichment))
        return {"id": 7, "url": "http://desk.invalid/agent/tickets/7", "created": True}


@pytest.fixture(scope="module")
def model():
    return Model()


def _enrich(model, ticket):
    tickets, helpdesk = Tickets({"t1": ticket}), Helpdesk()
    enricher = Enricher(tickets, model, helpdesk, logging.getLogger("test-pipeline"),
                        clock=lambda: NOW)
    event = events.TicketEvent("t1", "e1", "google.firebase.database.ref.v1.written",
                               datetime.fromtimestamp(NOW, timezone.utc), None, ticket)
    assert enricher.process(event) == "forwarded"
    return tickets.data["t1"]["enrichment"], helpdesk.sent[0]


def test_the_enrichment_carries_language_confidence_and_explanations(model):
    enrichment, sent = _enrich(model, TICKET)
    assert enrichment["input_hash"] == input_hash(TICKET)
    assert enrichment["language"] == "en"
    assert set(enrichment["confidence"]) == {"priority", "sentiment", "resolution"}
    assert set(enrichment["explanations"]) == {"priority", "sentiment", "resolution"}
    # Stored as one JSON text per head (a node per item tripled a ticket's memory), read back whole.
    assert all(isinstance(text, str) for text in enrichment["explanations"].values())
    items = explain.loaded(enrichment["explanations"])
    assert items == model.current().predict(TICKET)["explanations"]
    assert any(items.values()) and all(set(i) == {"feature", "kind", "weight"} for v in items.values() for i in v)
    assert enrichment["needs_review"] is False and enrichment["review_reasons"] == []
    assert "language_en" in sent["tags"]


def test_a_french_ticket_is_flagged_with_its_reason_in_the_helpdesk_too(model):
    enrichment, sent = _enrich(model, FRENCH)
    assert enrichment["language"] == "fr"
    assert enrichment["needs_review"] is True and "language:fr" in enrichment["review_reasons"]
    assert "needs_review" in sent["tags"] and "language_fr" in sent["tags"]
    assert "needs review: language:fr" in sent["comment"]["body"]


def test_the_functions_own_write_backs_are_logged_only_at_debug(model, caplog):
    from enrichment import events

    write_back = {"data": TICKET, "delta": {"enrichment": {"priority": "P2"}}}
    attributes = {"id": "e1", "type": "google.firebase.database.ref.v1.written", "subject": "refs/tickets/t1"}
    enricher = Enricher(Tickets({"t1": TICKET}), model, Helpdesk(), logging.getLogger("test-pipeline-levels"),
                        clock=lambda: NOW)
    with caplog.at_level(logging.INFO, logger="test-pipeline-levels"):
        assert enricher.handle(attributes, write_back) == "skipped_inputs_unchanged"
    assert not caplog.records
    with caplog.at_level(logging.DEBUG, logger="test-pipeline-levels"):
        assert enricher.process(events.from_cloud_event(attributes, write_back)) == "skipped_inputs_unchanged"
    [record] = caplog.records
    assert record.levelname == "DEBUG" and record.fields["outcome"] == "skipped_inputs_unchanged"


def test_a_write_back_that_lands_after_a_newer_one_is_redone_for_the_current_text(model):
    """An admin edits a ticket's text while its creation is being enriched, and the edit's event finishes first:
    the creation's write-back then puts the old text's enrichment over the new one. Its own event changes no input,
    yet it is not skipped: it redoes the work for the text the ticket has."""
    edited = {**TICKET, "description": "Sorry, false alarm: only my own account is locked out."}
    tickets = Tickets({"t1": TICKET})
    at = datetime.fromtimestamp(NOW, timezone.utc)
    before_late_write = []

    class RacingHelpdesk(Helpdesk):
        def upsert(self, ticket_id, ticket, enrichment, idempotency_key, known_id=None, may_exist=True):
            self.sent.append(ticket_fields(ticket_id, ticket, enrichment))
            first = len(self.sent) == 1
            if first:  # the creation's call: the admin's edit is written and enriched meanwhile
                before = tickets.get("t1")
                tickets.data["t1"]["description"] = edited["description"]
                edit = events.TicketEvent("t1", "e2", WRITTEN, at, before, tickets.get("t1"))
                assert enricher.process(edit) == "helpdesk_updated"
                before_late_write.append(tickets.get("t1"))
            return {"id": 7, "url": "http://desk.invalid/agent/tickets/7", "created": first}

    helpdesk = RacingHelpdesk()
    enricher = Enricher(tickets, model, helpdesk, logging.getLogger("test-pipeline-race"), clock=lambda: NOW)
    assert enricher.process(events.TicketEvent("t1", "e1", WRITTEN, at, None, TICKET)) == "forwarded"
    # The creation's write-back landed last: the old text's enrichment sits on the edited ticket.
    assert tickets.data["t1"]["enrichment"]["input_hash"] == input_hash(TICKET) != input_hash(edited)
    late_write = events.TicketEvent("t1", "e3", WRITTEN, at, before_late_write[0], tickets.get("t1"))
    assert input_hash(late_write.before) == input_hash(late_write.after)  # its event changed no input
    assert enricher.process(late_write) == "helpdesk_updated"
    assert tickets.data["t1"]["enrichment"]["input_hash"] == input_hash(edited)
    assert tickets.data["t1"]["helpdesk"]["input_hash"] == input_hash(edited)
    assert edited["description"] in helpdesk.sent[-1]["comment"]["body"] and len(helpdesk.sent) == 3
    # The event of that write-back is the function's own again, and skipped.
    last = events.TicketEvent("t1", "e4", WRITTEN, at, late_write.after, tickets.get("t1"))
    assert enricher.process(last) == "skipped_inputs_unchanged"
    # A ticket with an outcome keeps the enrichment it has, whatever its input_hash.
    solved = {**late_write.after, "status": "solved", "resolution": {"status": "solved", "final_priority": "P2"}}
    outcome = events.TicketEvent("t1", "e5", WRITTEN, at, late_write.after, solved)
    assert input_hash(solved) != solved["enrichment"]["input_hash"]
    assert enricher.process(outcome) == "skipped_inputs_unchanged"
