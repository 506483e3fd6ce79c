"""A ticket goes in; an enriched ticket and exactly one helpdesk ticket come out."""

import json
import time

import pytest
import requests

from stack.procs import wait_for
from stack.tokens import user_token
from tests.e2e.conftest import ADMIN, HELPDESK_AUTH, Client, start_stack, valid_ticket

ZENDESK = {"P1": "urgent", "P2": "high", "P3": "normal", "P4": "low"}


@pytest.fixture(scope="module")
def client(tmp_path_factory, model_dir):
    stack = start_stack(tmp_path_factory.mktemp("stack"), model_dir)
    yield Client(stack)
    stack.stop()


def forwarded(t):
    return "helpdesk" in t and t["helpdesk"]["input_hash"] == t.get("enrichment", {}).get("input_hash")


def test_valid_ticket_is_enriched_and_forwarded_once(client):
    ticket_id = client.submit(valid_ticket())
    t = client.wait_ticket(ticket_id, forwarded, what="enrichment and helpdesk link")
    e = t["enrichment"]
    assert e["priority"] in ("P1", "P2", "P3", "P4")
    assert abs(sum(e["priority_scores"].values()) - 1) < 1e-3
    assert e["sentiment"]["label"] in ("negative", "neutral", "positive") and -1 <= e["sentiment"]["score"] <= 1
    assert 0 < e["resolution_hours"]["p50"] <= e["resolution_hours"]["p90"]
    assert isinstance(e["needs_review"], bool) and e["model_version"]
    assert "enrichment_error" not in t
    desk = client.desk_tickets(ticket_id)
    assert len(desk) == 1
    assert desk[0]["id"] == t["helpdesk"]["id"] and desk[0]["priority"] == ZENDESK[e["priority"]]
    assert t["helpdesk"]["system"] == "zendesk" and t["helpdesk"]["url"].endswith(f"/agent/tickets/{desk[0]['id']}")
    page = requests.get(t["helpdesk"]["url"], timeout=10)  # the link an agent clicks in the queue
    assert page.status_code == 200 and t["subject"] in page.text
    assert "ada@example.com" not in desk[0]["description"]  # text is masked before forwarding


def test_contact_details_in_text_are_masked_in_the_helpdesk(client):
    ticket_id = client.submit(valid_ticket(description="Reach me at bob@example.org or +44 20 7946 0958, it is urgent."))
    client.wait_ticket(ticket_id, forwarded)
    description = client.desk_tickets(ticket_id)[0]["description"]
    assert "bob@example.org" not in description and "7946" not in description


def test_editing_the_text_re_enriches_and_updates_the_same_helpdesk_ticket(client):
    ticket_id = client.submit(valid_ticket(description="Small question about the dashboard colours, no rush at all."))
    first = client.wait_ticket(ticket_id, forwarded)
    client.http.patch(f"{client.db}/tickets/{ticket_id}.json",
                      json={"description": "Production is down, all users blocked, we are losing money every minute!"})
    second = client.wait_ticket(ticket_id, lambda t: forwarded(t) and t["enrichment"]["input_hash"] != first["enrichment"]["input_hash"],
                                what="re-enrichment")
    assert second["helpdesk"]["id"] == first["helpdesk"]["id"]
    assert second["enrichment"]["priority_scores"]["P1"] > first["enrichment"]["priority_scores"]["P1"]
    desk = client.desk_tickets(ticket_id)
    assert len(desk) == 1 and desk[0]["priority"] == ZENDESK[second["enrichment"]["priority"]]


def test_the_same_event_delivered_twice_creates_nothing_new(client):
    ticket_id = client.submit(valid_ticket())
    t = client.wait_ticket(ticket_id, forwarded)
    before_count = client.desk_count()
    event_headers = {
        "ce-id": "replayed-event-1", "ce-source": "//firebasedatabase.googleapis.com/projects/_/locations/us-central1/instances/demo-tickets-default-rtdb",
        "ce-type": "google.firebase.database.ref.v1.written", "ce-specversion": "1.0",
        "ce-subject": f"refs/tickets/{ticket_id}", "ce-time": "2026-11-21T10:00:00.000Z",
        "ce-instance": "demo-tickets-default-rtdb", "ce-ref": f"tickets/{ticket_id}",
        "ce-firebasedatabasehost": "firebaseio.com", "ce-location": "us-central1", "ce-authtype": "unauthenticated",
        "Content-Type": "application/json",
    }
    body = {"@type": "type.googleapis.com/google.events.firebase.database.v1.ReferenceEventData",
            "data": None, "delta": {k: v for k, v in t.items() if k not in ("enrichment", "helpdesk")}}
    for _ in range(2):
        r = requests.post(client.stack.urls["enrich"], data=json.dumps(body), headers=event_headers)
        assert r.status_code == 200, r.text
    assert client.desk_count() == before_count
    assert client.ticket(ticket_id)["helpdesk"] == t["helpdesk"]


def test_deleting_a_ticket_forwards_nothing(client):
    ticket_id = client.submit(valid_ticket())
    client.wait_ticket(ticket_id, forwarded)
    count = client.desk_count()
    client.http.delete(f"{client.db}/tickets/{ticket_id}.json")
    time.sleep(1.0)
    assert client.ticket(ticket_id) is None  # not resurrected by a write-back
    assert client.desk_count() == count
    assert "skipped_delete" in client.stack.procs["enrich"].output


@pytest.mark.parametrize("value", ["just a string", [1, 2], 42], ids=["string", "array", "number"])
def test_an_admin_written_ticket_that_is_not_an_object_is_left_alone(client, value):
    # The rules only let the admin write this; the function must neither crash on it (redelivered forever)
    # nor overwrite it with an error record.
    ticket_id = f"not-an-object-{type(value).__name__}"
    count = client.desk_count()
    client.http.put(f"{client.db}/tickets/{ticket_id}.json", json=value).raise_for_status()
    wait_for(lambda: f"ticket {ticket_id}: ignored_not_an_object" in client.stack.procs["enrich"].output,
             what="the function to ignore the value")
    assert client.ticket(ticket_id) == value
    assert client.desk_count() == count
    dead = client.http.get(f"{client.db}/.settings/deadLetters.json").json()
    assert not [d for d in dead or [] if ticket_id in json.dumps(d)]


@pytest.mark.parametrize("change,expected", [
    ({"description": None}, "Description is missing"),
    ({"impact": 9}, "Impact is 9"),
    ({"description": "x" * (2 * 1024 * 1024)}, "Description is 2,097,152 characters long"),
    ({"impact": "high", "seniority": "ten", "category": 7}, "Category is 7"),
    ({"contact": {"name": "", "email": "not-an-address"}}, "Contact e-mail is 'not-an-address'"),
], ids=["no-description", "impact-9", "2mb-description", "wrong-types", "bad-contact"])
def test_invalid_tickets_get_an_error_and_no_helpdesk_ticket(client, change, expected):
    ticket = {k: v for k, v in valid_ticket(**change).items() if v is not None}
    # A customer cannot even store it: the security rules refuse it.
    refused = requests.post(f"{client.db}/tickets.json", params={"auth": user_token("customer-1")},
                            json={**ticket, "uid": "customer-1"})
    assert refused.status_code == 401
    # Written by other tooling (an import, support scripts: the admin bypasses rules), the function
    # still validates it, records why, and forwards nothing.
    r = client.http.post(f"{client.db}/tickets.json", json=ticket)
    r.raise_for_status()
    ticket_id = r.json()["name"]
    t = client.wait_ticket(ticket_id, lambda t: "enrichment_error" in t, what="enrichment_error")
    assert expected in t["enrichment_error"]["message"]
    assert "enrichment" not in t and "helpdesk" not in t
    time.sleep(0.3)
    assert client.desk_tickets(ticket_id) == []


def test_solving_in_the_helpdesk_writes_the_resolution(client):
    ticket_id = client.submit(valid_ticket())
    t = client.wait_ticket(ticket_id, forwarded)
    desk_id = t["helpdesk"]["id"]
    r = client.http.put(f"{client.desk}/api/v2/tickets/{desk_id}.json", headers=HELPDESK_AUTH,
                        json={"ticket": {"status": "solved", "priority": "high"}})
    r.raise_for_status()
    t = client.wait_ticket(ticket_id, lambda t: "resolution" in t, what="resolution")
    assert t["resolution"]["status"] == "solved" and t["resolution"]["final_priority"] == "P2"
    assert t["resolution"]["solved_at"] >= t["created_at"] - 1000
    assert t["status"] == "solved"
    assert t["done_at"] == t["resolution"]["recorded_at"]  # the queue's Done list order, in the same update
    assert len(client.desk_tickets(ticket_id)) == 1  # the write-back did not forward again


def test_webhook_refuses_a_bad_signature(client):
    r = requests.post(client.stack.urls["webhook"], data=b'{"ticket": {"external_id": "x", "status": "solved"}}',
                      headers={"X-Zendesk-Webhook-Signature": "forged", "X-Zendesk-Webhook-Signature-Timestamp": "1"})
    assert r.status_code == 401 and "Invalid signature" in r.json()["error"]


def test_admin_write_carries_authtype(client):
    r = requests.get(f"{client.db}/.settings/functionTriggers.json", headers=ADMIN)
    assert r.json()[0]["url"] == client.stack.urls["enrich"]


def test_metrics_of_the_emulator_and_the_function(client):
    ticket_id = client.submit(valid_ticket())
    client.wait_ticket(ticket_id, forwarded)
    function = requests.get(client.stack.metrics_url("enrich")).text
    assert 'enrich_events_total{outcome="forwarded"}' in function
    assert "enrich_prediction_seconds_bucket" in function and 'enrich_helpdesk_calls_total{result="created"}' in function
    def ages():
        text = requests.get(client.stack.metrics_url("enrich")).text
        found = {l.split()[0]: float(l.split()[1]) for l in text.splitlines() if l.startswith("enrich_event_age_seconds_")}
        return found if found["enrich_event_age_seconds_count"] >= 2 else None  # the creation and its write-back

    ages = wait_for(ages, what="the two events of the ticket")
    assert ages["enrich_event_age_seconds_sum"] > 0  # (another test replays an event stamped hours ago)
    line = next(l for l in client.stack.procs["enrich"].lines if f'"ticket_id": "{ticket_id}"' in l)
    assert 0 < json.loads(line)["event_age_ms"] < 5000
    emulator = requests.get(f"{client.db}/metrics").text
    delivered = [l for l in emulator.splitlines() if l.startswith("rtdb_events_delivered_total")]
    assert delivered and float(delivered[0].split()[-1]) >= 1
