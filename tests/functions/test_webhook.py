"""The helpdesk webhook: signatures, freshness, and what it writes on the ticket."""

import base64
import hashlib
import hmac
import json

from enrichment import webhook
from helpdesk.signature import verify_signature

SECRET = "s3cret"
NOW = 1_800_000_000.0


class Tickets:
    """An in-memory stand-in for the database's tickets (the real one is exercised end to end)."""

    def __init__(self):
        self.data = {"t1": {"subject": "x", "status": "new"}}
        self.updates = []

    def get(self, ticket_id):
        return self.data.get(ticket_id)

    def update(self, ticket_id, fields):
        self.updates.append((ticket_id, fields))


def signed(body: dict, timestamp="2027-01-15T08:00:00Z", secret=SECRET):
    raw = json.dumps(body).encode()
    sig = base64.b64encode(hmac.new(secret.encode(), timestamp.encode() + raw, hashlib.sha256).digest()).decode()
    return {webhook.SIGNATURE_HEADER: sig, webhook.TIMESTAMP_HEADER: timestamp}, raw


def test_signature_matches_the_stub_and_zendesk_scheme():
    headers, raw = signed({"a": 1})
    assert webhook.verify(SECRET, headers[webhook.TIMESTAMP_HEADER], raw, headers[webhook.SIGNATURE_HEADER])
    assert verify_signature(SECRET, headers[webhook.TIMESTAMP_HEADER], raw, headers[webhook.SIGNATURE_HEADER])
    assert not webhook.verify("other", headers[webhook.TIMESTAMP_HEADER], raw, headers[webhook.SIGNATURE_HEADER])


def test_solved_ticket_writes_resolution():
    tickets = Tickets()
    headers, raw = signed({"event": "ticket.solved", "ticket": {
        "id": 7, "external_id": "t1", "status": "solved", "priority": "urgent",
        "solved_at": "2027-01-15T07:59:00Z", "closed_at": None, "satisfaction_rating": {"score": "good"}}})
    body, status = webhook.handle(tickets, SECRET, headers, raw, clock=lambda: NOW + 2400)
    assert status == 401 and "within 300 s" in body["error"]  # a replay of an old signed request
    body, status = webhook.handle(tickets, SECRET, headers, raw, clock=lambda: NOW + 60)
    assert status == 200, body
    ((ticket_id, fields),) = tickets.updates
    assert ticket_id == "t1" and fields["status"] == "solved"
    assert set(fields) == {"resolution", "status", "done_at"}  # one update: out of the open list, into Done
    assert fields["done_at"] == fields["resolution"]["recorded_at"] == int((NOW + 60) * 1000)
    r = fields["resolution"]
    assert r["final_priority"] == "P1" and r["helpdesk_id"] == 7 and r["satisfaction"] == "good"
    assert r["solved_at"] == 1_799_999_940_000 and "closed_at" not in r


def test_refusals():
    tickets = Tickets()
    headers, raw = signed({"ticket": {"external_id": "t1", "status": "solved"}})
    assert webhook.handle(tickets, "wrong", headers, raw, clock=lambda: NOW + 60)[1] == 401
    assert webhook.handle(tickets, SECRET, {}, raw)[1] == 401
    headers, raw = signed({"ticket": {"external_id": "nope", "status": "solved"}})
    assert webhook.handle(tickets, SECRET, headers, raw, clock=lambda: NOW + 60)[1] == 404
    headers, raw = signed({"ticket": {"external_id": "t1", "status": "open"}})
    body, status = webhook.handle(tickets, SECRET, headers, raw, clock=lambda: NOW + 60)
    assert status == 200 and "ignored" in body
    headers, raw = signed({"no": "ticket"})
    assert webhook.handle(tickets, SECRET, headers, raw, clock=lambda: NOW + 60)[1] == 400
    assert tickets.updates == []


def test_odd_but_signed_values_are_refused_or_dropped_never_a_crash():
    tickets = Tickets()
    for payload in ({"ticket": ["external_id", "status"]}, {"ticket": {"external_id": "t1", "status": ["solved"]}},
                    {"ticket": "t1"}, [1, 2]):
        headers, raw = signed(payload)
        body, status = webhook.handle(tickets, SECRET, headers, raw, clock=lambda: NOW + 60)
        assert status in (200, 400) and "ok" not in body, (payload, body)
    assert tickets.updates == []
    headers, raw = signed({"ticket": {"id": 7, "external_id": "t1", "status": "solved", "priority": ["urgent"],
                                      "solved_at": "1e400", "closed_at": 1e300}})
    body, status = webhook.handle(tickets, SECRET, headers, raw, clock=lambda: NOW + 60)
    assert status == 200, body
    resolution = tickets.updates[0][1]["resolution"]
    assert "final_priority" not in resolution and "solved_at" not in resolution and "closed_at" not in resolution


def test_a_timestamp_that_is_not_a_finite_time_is_refused():
    for timestamp in ("nan", "inf", "-inf"):
        headers, raw = signed({"ticket": {"external_id": "t1", "status": "solved"}}, timestamp=timestamp)
        body, status = webhook.handle(Tickets(), SECRET, headers, raw, clock=lambda: NOW)
        assert status == 401 and timestamp in body["error"], body
