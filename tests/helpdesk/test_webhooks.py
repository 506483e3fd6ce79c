"""Solve/close webhooks: signed like Zendesk, sent in the background, retried, logged in SQLite."""

from __future__ import annotations

import json

from helpdesk.signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from tests.helpdesk.conftest import AUTH, WEBHOOK_SECRET, new_ticket, wait_for


def _deliveries(client, ticket_id=None):
    query = f"?ticket_id={ticket_id}" if ticket_id else ""
    return client.get(f"/_stub/webhooks{query}").get_json()["deliveries"]


def _mine(receiver, ticket_id):
    return [r for r in receiver.requests if json.loads(r["body"])["ticket"]["id"] == ticket_id]


def test_solving_posts_a_signed_webhook(make_app, receiver):
    receiver.clear()
    client = make_app(HELPDESK_WEBHOOK_URL=receiver.url).test_client()
    ticket = new_ticket(client, external_id="rtdb-1", priority="high")
    client.put(f"/api/v2/tickets/{ticket['id']}", json={"ticket": {"status": "solved"}}, headers=AUTH)
    hook = wait_for(lambda: _mine(receiver, ticket["id"]))[0]
    headers = hook["headers"]
    assert verify_signature(WEBHOOK_SECRET, headers[TIMESTAMP_HEADER], hook["body"], headers[SIGNATURE_HEADER])
    payload = json.loads(hook["body"])
    assert payload["event"] == "ticket.solved"
    assert set(payload["ticket"]) == {"id", "external_id", "status", "priority", "solved_at", "closed_at",
                                      "updated_at", "satisfaction_rating"}
    assert (payload["ticket"]["external_id"], payload["ticket"]["status"]) == ("rtdb-1", "solved")
    assert payload["ticket"]["solved_at"] and payload["ticket"]["closed_at"] is None
    delivery = wait_for(lambda: [d for d in _deliveries(client, ticket["id"]) if d["state"] == "delivered"])[0]
    assert delivery["attempts"] == 1 and delivery["last_status_code"] == 200


def test_close_after_solve_sends_both_events_in_order(make_app, receiver):
    receiver.clear()
    client = make_app(HELPDESK_WEBHOOK_URL=receiver.url).test_client()
    ticket = new_ticket(client)
    for status in ("solved", "closed"):
        client.put(f"/api/v2/tickets/{ticket['id']}", json={"ticket": {"status": status}}, headers=AUTH)
    hooks = wait_for(lambda: (lambda m: m if len(m) == 2 else None)(_mine(receiver, ticket["id"])))
    assert [json.loads(h["body"])["event"] for h in hooks] == ["ticket.solved", "ticket.closed"]


def test_unchanged_or_non_final_status_sends_nothing(make_app, receiver):
    receiver.clear()
    client = make_app(HELPDESK_WEBHOOK_URL=receiver.url).test_client()
    ticket = new_ticket(client)
    client.put(f"/api/v2/tickets/{ticket['id']}", json={"ticket": {"status": "pending"}}, headers=AUTH)
    client.put(f"/api/v2/tickets/{ticket['id']}", json={"ticket": {"priority": "low"}}, headers=AUTH)
    assert _deliveries(client, ticket["id"]) == []


def test_failed_attempts_are_retried_and_recorded(make_app, receiver):
    receiver.clear(statuses=[500, 500])
    client = make_app(HELPDESK_WEBHOOK_URL=receiver.url).test_client()
    ticket = new_ticket(client)
    client.put(f"/api/v2/tickets/{ticket['id']}", json={"ticket": {"status": "closed"}}, headers=AUTH)
    delivery = wait_for(lambda: [d for d in _deliveries(client, ticket["id"]) if d["state"] == "delivered"])[0]
    assert delivery["attempts"] == 3
    assert [a["status_code"] for a in delivery["history"]] == [500, 500, 200]
    assert [r["status"] for r in _mine(receiver, ticket["id"])] == [500, 500, 200]


def test_gives_up_after_max_attempts_and_says_why(make_app):
    client = make_app(HELPDESK_WEBHOOK_URL="http://127.0.0.1:9/unreachable",
                      HELPDESK_WEBHOOK_MAX_ATTEMPTS=2).test_client()
    ticket = new_ticket(client)
    client.put(f"/api/v2/tickets/{ticket['id']}", json={"ticket": {"status": "solved"}}, headers=AUTH)
    delivery = wait_for(lambda: [d for d in _deliveries(client) if d["state"] == "failed"])[0]
    assert delivery["attempts"] == 2 and "ConnectionError" in delivery["last_error"]


def test_pending_deliveries_resume_after_restart(make_app, receiver):
    receiver.clear()
    down = make_app(HELPDESK_WEBHOOK_URL=receiver.url, HELPDESK_WEBHOOK_BACKOFF_SECONDS=30)
    receiver.clear(statuses=[503])
    client = down.test_client()
    ticket = new_ticket(client)
    client.put(f"/api/v2/tickets/{ticket['id']}", json={"ticket": {"status": "solved"}}, headers=AUTH)
    wait_for(lambda: _mine(receiver, ticket["id"]))
    down.extensions["helpdesk"].close()  # stops while the 30 s backoff is pending
    restarted = make_app(HELPDESK_WEBHOOK_URL=receiver.url).test_client()
    delivery = wait_for(lambda: [d for d in _deliveries(restarted, ticket["id"]) if d["state"] == "delivered"])[0]
    assert delivery["attempts"] == 2
