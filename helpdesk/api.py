"""The Zendesk Tickets API subset the enrichment function and zenpy use, under ``/api/v2``.

Create and update answer ``{"ticket", "audit"}`` as Zendesk does; lists page by offset or, given ``page[size]``,
by cursor (``paging.py``); ``/search`` reads Zendesk's query syntax (``search.py``).

Idempotent creation as Zendesk does it, with an ``Idempotency-Key`` header: the same key with the
same body returns the ticket created the first time, with the first status and header
``x-idempotency-lookup: hit`` (``miss`` on first use); the same key with another body is a 400
``IdempotentRequestError``. Keys are kept two hours, like Zendesk. ``external_id`` is not unique, as in
Zendesk: a second create with one makes a second ticket, so the tests of exactly-once forwarding can fail.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, jsonify, request
from werkzeug.sansio.utils import get_current_url

from helpdesk import search
from helpdesk.auth import agent_email, is_authorized
from helpdesk.errors import BadRequest, SearchLimitExceeded, UnsupportedQuery
from helpdesk.jsonhttp import read_json
from helpdesk.paging import CURSOR_PARAMS, cursor_body, cursor_request
from helpdesk.store import SORT_COLUMNS, Write
from helpdesk.tickets import parse_id, render_ticket, validate_create, validate_update

bp = Blueprint("api", __name__, url_prefix="/api/v2")

MAX_PER_PAGE = 100
MAX_PAGE = 10**7
MAX_IDEMPOTENCY_KEY = 255
_PUBLIC_ENDPOINTS = ("api.openapi",)
_OPENAPI_PATH = Path(__file__).with_name("openapi.json")


@bp.before_request
def _authenticate() -> Response | None:
    if request.endpoint in _PUBLIC_ENDPOINTS:
        return None
    if is_authorized(request.headers.get("Authorization"), _stub().settings.api_token):
        return None
    response = jsonify(error="Couldn't authenticate you")
    response.status_code = 401
    response.headers["WWW-Authenticate"] = 'Basic realm="Web Password"'
    return response


@bp.post("/tickets")
@bp.post("/tickets.json")
def create_ticket() -> tuple[Response, int]:
    """Creates a ticket from ``{"ticket": {...}}``; see the module docstring for idempotency."""
    body = read_json()
    fields = validate_create(_unwrap(body, "ticket"))
    key = request.headers.get("Idempotency-Key")
    idempotency = None
    if key is not None:
        if not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY:
            raise BadRequest(f'Invalid Idempotency-Key: "{key[:40]}". Must be 1-{MAX_IDEMPOTENCY_KEY} characters.')
        digest = hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
        idempotency = (key, digest)
    write = _stub().create_ticket(fields, idempotency, _agent())
    response = _written(write)
    response.headers["Location"] = f"{_base_url()}/api/v2/tickets/{write.ticket['id']}.json"
    if key is not None:
        response.headers["x-idempotency-lookup"] = "hit" if write.replayed else "miss"
    return response, write.status


@bp.get("/tickets/<ticket_id>")
def show_ticket(ticket_id: str) -> Response:
    """Returns ``{"ticket": {...}}`` (``/tickets/{id}`` and ``/tickets/{id}.json``)."""
    return jsonify(ticket=render_ticket(_stub().store.get_ticket(parse_id(ticket_id)), _base_url()))


@bp.put("/tickets/<ticket_id>")
def update_ticket(ticket_id: str) -> Response:
    """Applies a partial ``{"ticket": {...}}`` update; a ``comment`` is appended. Answers ticket and audit."""
    number = parse_id(ticket_id)
    changes = validate_update(_unwrap(read_json(), "ticket"))
    return _written(_stub().update_ticket(number, changes, _agent()))


@bp.get("/tickets")
@bp.get("/tickets.json")
def list_tickets() -> Response:
    """Lists tickets; ``external_id`` filters. Offset pages sort by ``sort_by``/``sort_order``, cursor pages by id."""
    external_id = request.args.get("external_id")
    base = _base_url()
    cursor = cursor_request(request.args)
    if cursor is not None:
        rows, more = _stub().store.page_tickets(cursor.size, cursor.after, cursor.before, cursor.descending,
                                                external_id)
        kept = {"external_id": external_id} if external_id is not None else {}
        return jsonify(cursor_body("tickets", [render_ticket(row, base) for row in rows], more, cursor,
                                   lambda params: f"{base}/api/v2/tickets.json?" + urlencode({**kept, **params})))
    page, per_page = _int_param("page", 1, MAX_PAGE), min(_int_param("per_page", MAX_PER_PAGE, 10**6), MAX_PER_PAGE)
    sort_by, sort_order = request.args.get("sort_by", "id"), request.args.get("sort_order", "asc")
    if sort_by not in SORT_COLUMNS:
        raise BadRequest(f'Invalid sort_by: "{sort_by[:40]}". Must be one of {", ".join(SORT_COLUMNS)}.')
    if sort_order not in ("asc", "desc"):
        raise BadRequest(f'Invalid sort_order: "{sort_order[:40]}". Must be asc or desc.')
    rows, total = _stub().store.list_tickets((page - 1) * per_page, per_page, external_id, sort_by,
                                            sort_order == "desc")
    extra = {k: request.args[k] for k in ("external_id", "sort_by", "sort_order") if k in request.args}

    def link(number: int) -> str:
        return f"{base}/api/v2/tickets.json?" + urlencode({"page": number, "per_page": per_page, **extra})

    return jsonify(tickets=[render_ticket(row, base) for row in rows],
                   next_page=link(page + 1) if page * per_page < total else None,
                   previous_page=link(page - 1) if page > 1 else None,
                   count=total)


@bp.get("/tickets/<ticket_id>/comments")
@bp.get("/tickets/<ticket_id>/comments.json")
def list_comments(ticket_id: str) -> Response:
    """Lists a ticket's comments, oldest first (the first is the description); all at once, or by cursor."""
    number = parse_id(ticket_id)
    store = _stub().store
    store.get_ticket(number)
    cursor = cursor_request(request.args)
    if cursor is not None:
        rows, more = store.page_comments(number, cursor.size, cursor.after, cursor.before, cursor.descending)
        url = f"{_base_url()}/api/v2/tickets/{number}/comments.json?"
        return jsonify(cursor_body("comments", [_render_comment(c) for c in rows], more, cursor,
                                   lambda params: url + urlencode(params)))
    comments = [_render_comment(c) for c in store.list_comments(number)]
    return jsonify(comments=comments, next_page=None, previous_page=None, count=len(comments))


@bp.get("/users/me")
@bp.get("/users/me.json")
def show_me() -> Response:
    """Returns ``{"user": {...}}`` for the agent the credentials name (see auth.py)."""
    return jsonify(user=_render_user(_stub().store.agent(_agent())))


@bp.get("/users/<user_id>")
def show_user(user_id: str) -> Response:
    """Returns ``{"user": {...}}``: a requester (made from ``requester: {name, email}``) or an agent."""
    return jsonify(user=_render_user(_stub().store.get_user(parse_id(user_id))))


@bp.get("/search")
@bp.get("/search.json")
def search_tickets() -> Response:
    """Searches tickets with Zendesk's query syntax; offset pages of at most 100, the first 1,000 results."""
    query, page, per_page = _search_request()
    parsed = search.parse(query, request.args.get("sort_by"), request.args.get("sort_order"))
    offset = (page - 1) * per_page
    if offset >= search.MAX_RESULTS:
        raise SearchLimitExceeded(search.MAX_RESULTS)
    rows, total = _stub().store.search_tickets(parsed, offset, min(per_page, search.MAX_RESULTS - offset))
    base = _base_url()
    kept = {k: request.args[k] for k in ("sort_by", "sort_order") if k in request.args}

    def link(number: int) -> str:
        return f"{base}/api/v2/search.json?" + urlencode({"query": query, "page": number, "per_page": per_page,
                                                          **kept})

    return jsonify(results=[{**render_ticket(row, base), "result_type": "ticket"} for row in rows],
                   facets=None,
                   next_page=link(page + 1) if page * per_page < total else None,
                   previous_page=link(page - 1) if page > 1 else None,
                   count=total)


@bp.get("/search/count")
@bp.get("/search/count.json")
def count_search() -> Response:
    """Counts the tickets a query matches: ``{"count": n}``."""
    query, _, _ = _search_request()
    parsed = search.parse(query, request.args.get("sort_by"), request.args.get("sort_order"))
    return jsonify(count=_stub().store.search_tickets(parsed, 0, 0)[1])


@bp.get("/openapi.json")
def openapi() -> Response:
    """Serves the OpenAPI 3 description of this API (no authentication)."""
    return Response(_OPENAPI_PATH.read_bytes(), mimetype="application/json")


def _stub() -> Any:
    return current_app.extensions["helpdesk"]


def _base_url() -> str:
    return _stub().settings.public_url.rstrip("/") or _host_url(request.scheme, request.host)


@functools.lru_cache(maxsize=64)
def _host_url(scheme: str, host: str) -> str:
    """`request.host_url` without its trailing slash, kept for the few hosts a stub is called by.

    Werkzeug builds it per request through an IRI conversion: a tenth of the stub's CPU a create.
    """
    return get_current_url(scheme, host).rstrip("/")


def _agent() -> str:
    return agent_email(request.headers.get("Authorization"))


def _written(write: Write) -> Response:
    body = {"ticket": render_ticket(write.ticket, _base_url())}
    if write.audit is not None:
        body["audit"] = write.audit
    return jsonify(body)


def _render_comment(comment: dict[str, Any]) -> dict[str, Any]:
    return {"id": comment["id"], "type": "Comment", "author_id": comment["author_id"], "body": comment["body"],
            "plain_body": comment["body"], "public": comment["public"], "created_at": comment["created_at"]}


def _render_user(user: dict[str, Any]) -> dict[str, Any]:
    return {"id": user["id"], "url": f"{_base_url()}/api/v2/users/{user['id']}.json", "name": user["name"],
            "email": user["email"], "role": user["role"], "created_at": user["created_at"],
            "updated_at": user["created_at"]}


def _search_request() -> tuple[str, int, int]:
    query = request.args.get("query")
    if query is None or not query.strip():
        raise BadRequest('Invalid query: "". The query parameter is required, e.g. query=type:ticket status:open.',
                         error="InvalidSearchQuery")
    refused = [name for name in ("include", *CURSOR_PARAMS) if name in request.args]
    if refused:
        raise UnsupportedQuery(f'Unsupported parameter: "{refused[0]}". The helpdesk stub\'s search pages by '
                               "page and per_page and side-loads nothing.")
    page = _int_param("page", 1, MAX_PAGE)
    return query, page, min(_int_param("per_page", MAX_PER_PAGE, 10**6), MAX_PER_PAGE)


def _unwrap(body: Any, key: str) -> Any:
    if not isinstance(body, dict) or key not in body:
        raise BadRequest(f'Invalid request body: "{json.dumps(body)[:60]}". Must be a JSON object {{"{key}": {{...}}}}.')
    return body[key]


def _int_param(name: str, default: int, maximum: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 12 or not 1 <= int(raw) <= maximum:
        raise BadRequest(f'Invalid {name}: "{raw[:40]}". Must be an integer from 1 to {maximum}.',
                         error="InvalidPaginationParameter")
    return int(raw)
