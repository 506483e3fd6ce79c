"""The agent's HTML view: a ticket table with Solve/Close buttons and a ticket detail page.

Rendered by Jinja with autoescaping; no authentication (local-only, like the /_stub routes).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, redirect, render_template, request
from werkzeug.wrappers import Response

from helpdesk.errors import NotFound, RecordInvalid
from helpdesk.tickets import parse_id

bp = Blueprint("pages", __name__)

PAGE_SIZE = 200
_ACTIONS = {"solve": "solved", "close": "closed"}


@bp.get("/")
def index() -> str:
    """Shows the newest tickets, newest first."""
    rows, total = _stub().store.list_tickets(0, PAGE_SIZE, sort_by="id", descending=True)
    return render_template("index.html", tickets=rows, total=total)


@bp.get("/tickets/<ticket_id>")
@bp.get("/agent/tickets/<ticket_id>")  # Zendesk's agent URL, the link the function writes onto the ticket
def detail(ticket_id: str) -> str:
    """Shows one ticket with its comments and webhook deliveries."""
    number = _id_or_404(ticket_id)
    store = _stub().store
    return render_template("ticket.html", ticket=store.get_ticket(number), comments=store.list_comments(number),
                           deliveries=store.list_deliveries(number))


@bp.post("/tickets/<ticket_id>/<action>")
def change_status(ticket_id: str, action: str) -> Response:
    """Solves or closes a ticket (which fires the webhook), then redirects back."""
    if action not in _ACTIONS:
        abort(404, f'Invalid action: "{action}". Must be solve or close.')
    number = _id_or_404(ticket_id)
    try:
        _stub().update_ticket(number, {"status": _ACTIONS[action]}, channel="web")
    except RecordInvalid:
        pass  # Already closed: Zendesk refuses the change, the page simply shows the current state.
    return redirect(_safe_next(request.form.get("next")), code=303)


def _id_or_404(raw: str) -> int:
    try:
        number = parse_id(raw)
        _stub().store.get_ticket(number)
    except NotFound:
        abort(404, f'Ticket "{raw}" does not exist.')
    return number


def _safe_next(target: str | None) -> str:
    # Only same-site paths: "//host" or "/\\host" would redirect off-site.
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/"


def _stub() -> Any:
    return current_app.extensions["helpdesk"]
