"""Local-only test controls: health check, fault switches, data reset and webhook delivery log.

None of these routes needs authentication; never expose the stub beyond localhost.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from helpdesk.jsonhttp import read_json
from helpdesk.tickets import parse_id

bp = Blueprint("control", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    """Answers ``{"ok": true}`` once the app can serve requests."""
    return jsonify(ok=True)


@bp.get("/_stub/faults")
def get_faults() -> Response:
    """Returns the fault switches in force."""
    return jsonify(_stub().faults.get())


@bp.put("/_stub/faults")
def put_faults() -> Response:
    """Replaces the fault switches (omitted keys take their defaults) and returns them."""
    return jsonify(_stub().faults.set(read_json()))


@bp.post("/_stub/reset")
def reset() -> Response:
    """Deletes all tickets, users, comments, idempotency keys and deliveries; turns faults off."""
    _stub().reset()
    return jsonify(ok=True)


@bp.get("/_stub/webhooks")
def webhooks() -> Response:
    """Lists webhook deliveries (``?ticket_id=N`` for one ticket's) with every attempt made."""
    raw = request.args.get("ticket_id")
    deliveries = _stub().store.list_deliveries(parse_id(raw) if raw is not None else None)
    return jsonify(deliveries=deliveries, count=len(deliveries))


def _stub() -> Any:
    return current_app.extensions["helpdesk"]
