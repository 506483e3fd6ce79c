"""The helpdesk's solved/closed webhook: verify its signature, then record the outcome on the ticket.

Zendesk signs webhooks with base64(HMAC-SHA256(secret, timestamp + body)) in
`X-Zendesk-Webhook-Signature`, the timestamp in `X-Zendesk-Webhook-Signature-Timestamp`.
The outcome goes to `tickets/{external_id}/resolution`, in the same update as the ticket's new `status` and
`done_at` (when the outcome was recorded: the agent queue pages its Done list newest first by it, through the
rules' `.indexOn`); closed tickets are training data.
"""

import base64
import hashlib
import hmac
import json
import time
from datetime import datetime

from enrichment.helpdesk import OUR_PRIORITY

SIGNATURE_HEADER = "X-Zendesk-Webhook-Signature"
TIMESTAMP_HEADER = "X-Zendesk-Webhook-Signature-Timestamp"
MAX_AGE_S = 300  # refuse replays of old signed requests
FINAL_STATUSES = ("solved", "closed")
_LAST_SECOND = 253_402_300_799  # 9999-12-31T23:59:59Z: later "times" are garbage


def verify(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    """True if `signature` is Zendesk's signature of `timestamp + body` under `secret`."""
    expected = base64.b64encode(hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest())
    return hmac.compare_digest(expected, signature.encode())


def handle(tickets, secret: str, headers, body: bytes, clock=time.time) -> tuple[dict, int]:
    """Process one webhook request. Returns (JSON body, status)."""
    signature, timestamp = headers.get(SIGNATURE_HEADER), headers.get(TIMESTAMP_HEADER)
    if not signature or not timestamp or not verify(secret, timestamp, body, signature):
        return {"error": f"Invalid signature. Sign timestamp + body with HMAC-SHA256 in {SIGNATURE_HEADER}."}, 401
    sent = _epoch_s(timestamp)
    if sent is None or abs(clock() - sent) > MAX_AGE_S:
        return {"error": f'Invalid {TIMESTAMP_HEADER}: "{timestamp}". It must be a time within {MAX_AGE_S} s of now.'}, 401
    try:
        payload = json.loads(body)
        ticket = payload["ticket"]
        ticket_id, status = ticket["external_id"], ticket["status"]
        if not isinstance(ticket, dict):
            raise TypeError(ticket)
    except (ValueError, KeyError, TypeError, RecursionError):  # RecursionError: JSON nested too deep to parse
        return {"error": 'Invalid body. Expected {"ticket": {"external_id", "status", ...}}.'}, 400
    if not isinstance(status, str) or status not in FINAL_STATUSES:
        return {"ignored": f'status "{status}" is not final'}, 200
    if not isinstance(ticket_id, str) or tickets.get(ticket_id) is None:
        return {"error": f'Unknown ticket: "{ticket_id}". No database ticket has this id.'}, 404
    resolution = {
        "status": status,
        "final_priority": OUR_PRIORITY.get(ticket.get("priority")) if isinstance(ticket.get("priority"), str) else None,
        "solved_at": _epoch_ms(ticket.get("solved_at")),
        "closed_at": _epoch_ms(ticket.get("closed_at")),
        "satisfaction": (ticket.get("satisfaction_rating") or {}).get("score")
        if isinstance(ticket.get("satisfaction_rating"), dict) else ticket.get("satisfaction_rating"),
        "helpdesk_id": ticket.get("id"),
        "recorded_at": int(clock() * 1000),
    }
    resolution = {k: v for k, v in resolution.items() if v is not None}
    # One update: the ticket leaves the queue's open list (status) and enters its Done list (done_at) at once.
    tickets.update(ticket_id, {"resolution": resolution, "status": status, "done_at": resolution["recorded_at"]})
    return {"ok": True, "ticket_id": ticket_id, "resolution": resolution}, 200


def _epoch_s(text: str):
    """Seconds since the epoch from a number or an ISO 8601 time; None if unreadable or out of range."""
    try:
        seconds = float(text)
    except ValueError:
        try:
            seconds = datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return seconds if 0 <= seconds <= _LAST_SECOND else None  # also refuses nan and inf


def _epoch_ms(text):
    if not text:
        return None
    seconds = _epoch_s(str(text))
    return int(seconds * 1000) if seconds is not None else None
