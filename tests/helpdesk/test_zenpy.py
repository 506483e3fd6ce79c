"""zenpy, the most used Python client for Zendesk, works unchanged against a real stub process.

zenpy is pointed at the stub only by its own documented settings, ZENPY_FORCE_SCHEME and ZENPY_FORCE_NETLOC, and
authenticates with an API token (``email`` + ``token``) or as an OAuth client (``oauth_token``, sent as Bearer).
Its object cache is off (``disable_cache=True``) so that every call reaches the stub, and every request it sends
is recorded, so each test can see which endpoint answered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from zenpy import Zenpy
from zenpy.lib.api_objects import Comment, Ticket, TicketAudit, User
from zenpy.lib.exception import APIException, RecordNotFoundException

from helpdesk.auth import BEARER_AGENT_EMAIL
from tests.helpdesk.conftest import TOKEN

AGENT = "agent@example.com"


@dataclass
class Zendesk:
    """A zenpy client of the stub and the requests it sent (``METHOD path?query``)."""

    api: Zenpy
    sent: list[str] = field(default_factory=list)

    def sent_to(self, path: str) -> list[dict[str, list[str]]]:
        """The query parameters of every GET this client sent to ``path``."""
        return [parse_qs(urlsplit(line.split(" ", 1)[1]).query) for line in self.sent
                if line.startswith("GET ") and urlsplit(line.split(" ", 1)[1]).path == path]


@pytest.fixture
def connect(live, monkeypatch):
    """Returns a factory of zenpy clients of the live stub, configured by zenpy's own settings."""
    monkeypatch.setenv("ZENPY_FORCE_SCHEME", "http")
    monkeypatch.setenv("ZENPY_FORCE_NETLOC", urlsplit(live.url).netloc)

    def factory(**credentials) -> Zendesk:
        session = requests.Session()
        client = Zendesk(api=None)
        session.hooks["response"].append(lambda r, *a, **k: client.sent.append(f"{r.request.method} {r.request.url}"))
        client.api = Zenpy(subdomain="stub", session=session, disable_cache=True,
                           **(credentials or {"email": AGENT, "token": TOKEN}))
        return client

    return factory


@pytest.fixture
def zendesk(connect) -> Zendesk:
    """zenpy with the stub's API token, as agent@example.com."""
    return connect()


def _ticket(live, **fields) -> dict:
    """Creates a ticket over plain HTTP (setup, not the call under test)."""
    body = {"ticket": {"subject": "Cannot log in", "comment": {"body": "Password rejected."}, **fields}}
    response = live.api("POST", "/api/v2/tickets.json", json=body)
    assert response.status_code == 201, response.text
    return response.json()["ticket"]


def test_create_with_external_id_returns_a_ticket_audit(zendesk):
    audit = zendesk.api.tickets.create(Ticket(
        subject="Printer on fire", description="It is really on fire.", external_id="-Nx1abcDEF", priority="high",
        tags=["hardware"], requester=User(name="Ada Lovelace", email="ada@example.com")))
    assert isinstance(audit, TicketAudit)
    ticket = audit.ticket
    assert isinstance(ticket.id, int) and ticket.id > 0
    assert (ticket.external_id, ticket.subject, ticket.priority, ticket.status) == (
        "-Nx1abcDEF", "Printer on fire", "high", "new")
    assert audit.audit.ticket_id == ticket.id
    assert audit.audit.author_id == zendesk.api.users.me().id
    events = {(e["type"], e.get("field_name")): e for e in audit.audit.events}
    assert events[("Comment", None)]["body"] == "It is really on fire."
    assert events[("Create", "external_id")]["value"] == "-Nx1abcDEF"
    assert events[("Create", "priority")]["value"] == "high"
    assert events[("Create", "tags")]["value"] == ["hardware"]
    assert zendesk.sent[0].startswith("POST ") and zendesk.sent[0].endswith("/api/v2/tickets.json")


def test_show(zendesk, live):
    created = _ticket(live, external_id="push-1", priority="low", requester={"name": "Bo", "email": "bo@x.io"})
    ticket = zendesk.api.tickets(id=created["id"])
    assert isinstance(ticket, Ticket)
    assert (ticket.id, ticket.external_id, ticket.priority, ticket.subject) == (
        created["id"], "push-1", "low", "Cannot log in")
    assert ticket.requester.email == "bo@x.io"
    assert zendesk.sent[0].split("?")[0].endswith(f"/api/v2/tickets/{created['id']}.json")


def test_update_with_a_comment(zendesk, live):
    ticket = zendesk.api.tickets(id=_ticket(live)["id"])
    ticket.status = "open"
    ticket.comment = Comment(body="Looking into it.", public=False)
    audit = zendesk.api.tickets.update(ticket)
    assert isinstance(audit, TicketAudit)
    assert (audit.ticket.id, audit.ticket.status) == (ticket.id, "open")
    changes = [(e["type"], e.get("field_name"), e.get("previous_value"), e.get("value")) for e in audit.audit.events]
    assert ("Change", "status", "new", "open") in changes
    comment = next(e for e in audit.audit.events if e["type"] == "Comment")
    assert (comment["body"], comment["public"]) == ("Looking into it.", False)
    stored = live.api("GET", f"/api/v2/tickets/{ticket.id}/comments.json").json()["comments"]
    assert [(c["body"], c["public"]) for c in stored][-1] == ("Looking into it.", False)


def test_list_with_cursor_pagination_across_pages(zendesk, live):
    ids = [_ticket(live, subject=f"ticket {n}")["id"] for n in range(7)]
    listed = [ticket.id for ticket in zendesk.api.tickets(cursor_pagination=3)]
    assert listed == ids
    pages = zendesk.sent_to("/api/v2/tickets.json")
    assert len(pages) == 3
    assert all(page["page[size]"] == ["3"] for page in pages)
    assert "page[after]" not in pages[0] and all("page[after]" in page for page in pages[1:])


def test_list_with_zenpys_default_page_size(zendesk, live):
    ids = [_ticket(live)["id"] for _ in range(3)]
    assert [ticket.id for ticket in zendesk.api.tickets()] == ids
    assert zendesk.sent_to("/api/v2/tickets.json") == [{"page[size]": ["100"]}]


def test_search_by_external_id(zendesk, live):
    first, second = _ticket(live, external_id="-Nx1abc"), _ticket(live, external_id="-Nx1abc")
    _ticket(live, external_id="-Nx1ABC")  # differs only by case: another push id
    _ticket(live, external_id="-Nx1abcd")
    by_keyword = [t.id for t in zendesk.api.search(external_id="-Nx1abc", type="ticket")]
    by_query = [t.id for t in zendesk.api.search("external_id:-Nx1abc")]
    assert sorted(by_keyword) == sorted(by_query) == [first["id"], second["id"]]
    assert zendesk.sent_to("/api/v2/search.json")[0]["query"] == ["external_id:-Nx1abc type:ticket"]


def test_search_by_status(zendesk, live):
    new, opened, pending, solved = (_ticket(live, status=s)["id"] for s in ("new", "open", "pending", "solved"))
    assert [t.id for t in zendesk.api.search(type="ticket", status="open")] == [opened]
    assert sorted(t.id for t in zendesk.api.search(type="ticket", status=["open", "pending"])) == [opened, pending]
    assert sorted(t.id for t in zendesk.api.search(type="ticket", status_less_than="solved")) == [new, opened, pending]
    assert [t.id for t in zendesk.api.search(type="ticket", status_greater_than="pending")] == [solved]
    assert sorted(t.id for t in zendesk.api.search("status<=open")) == [new, opened]


def test_search_by_priority_text_phrase_negation_and_order(zendesk, live):
    fire = _ticket(live, subject="Printer on fire", priority="urgent")["id"]
    smoke = _ticket(live, subject="Printer smoking", priority="normal")["id"]
    quiet = _ticket(live, subject="Desktop quiet")["id"]
    assert [t.id for t in zendesk.api.search("printer", type="ticket", sort_by="created_at", sort_order="asc")] == [
        fire, smoke]
    assert [t.id for t in zendesk.api.search('"on fire"', type="ticket")] == [fire]
    assert [t.id for t in zendesk.api.search("top", type="ticket")] == []  # "Desktop": no word starts with "top"
    assert [t.id for t in zendesk.api.search("print*", type="ticket", minus="smoking")] == [fire]
    assert [t.id for t in zendesk.api.search(type="ticket", priority_greater_than="normal")] == [fire]
    assert [t.id for t in zendesk.api.search(type="ticket", priority="none")] == [quiet]
    assert [t.id for t in zendesk.api.search(type="ticket", sort_by="priority", sort_order="desc")] == [
        fire, smoke, quiet]


def test_search_by_created_date_and_time(zendesk, live):
    ticket = _ticket(live)
    created = datetime.strptime(ticket["created_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    second = timedelta(seconds=1)
    found = lambda **terms: [t.id for t in zendesk.api.search(type="ticket", **terms)]  # noqa: E731
    assert found(created_after=created - second) == [ticket["id"]]
    assert found(created_after=created) == []
    assert found(created_before=created + second) == [ticket["id"]]
    assert found(created_between=[created - second, created + second]) == [ticket["id"]]
    assert found(created=created.date()) == [ticket["id"]]
    assert found(created_after=created.date()) == []  # after that day
    assert found(created_before=created.date() + timedelta(days=1)) == [ticket["id"]]


def test_search_follows_next_page(zendesk, live):
    for _ in range(103):
        _ticket(live, subject="Bulk import")
    _ticket(live, subject="Other")
    results = zendesk.api.search("bulk", type="ticket")
    assert len(results) == 103  # zenpy reads "count"
    assert len({t.id for t in results}) == 103
    assert [page.get("page") for page in zendesk.sent_to("/api/v2/search.json")] == [None, ["2"]]


def test_search_count(zendesk, live):
    for status in ("open", "open", "new"):
        _ticket(live, status=status)
    assert zendesk.api.search.count(type="ticket", status="open") == 2


@pytest.mark.parametrize("call, named", [
    (lambda api: list(api.search("Ada", type="user")), "type:user"),
    (lambda api: list(api.search(type="ticket", assignee="me")), '"assignee"'),
    (lambda api: list(api.search(type="ticket", created_after="4hours")), "4hours"),
    (lambda api: list(api.search("fire")), "type:ticket"),
])
def test_search_the_stub_cannot_answer_raises_naming_it(zendesk, call, named):
    with pytest.raises(APIException) as caught:
        call(zendesk.api)
    assert caught.value.response.status_code == 400
    body = caught.value.response.json()
    assert body["error"] == "UnsupportedSearchQuery" and named in body["description"]


def test_comments(zendesk, live):
    ticket = _ticket(live, comment={"body": "First words."})
    live.api("PUT", f"/api/v2/tickets/{ticket['id']}.json",
             json={"ticket": {"comment": {"body": "Internal note.", "public": False}}})
    comments = list(zendesk.api.tickets.comments(ticket=ticket["id"]))
    assert [(c.body, c.public) for c in comments] == [("First words.", True), ("Internal note.", False)]
    assert zendesk.sent_to(f"/api/v2/tickets/{ticket['id']}/comments.json")[0]["page[size]"] == ["100"]


def test_users(zendesk, connect, live):
    me = zendesk.api.users.me()
    assert (me.email, me.role) == (AGENT, "agent")
    ticket = _ticket(live, requester={"name": "Grace Hopper", "email": "grace@example.com"})
    requester = zendesk.api.users(id=ticket["requester_id"])
    assert (requester.id, requester.name, requester.email, requester.role) == (
        ticket["requester_id"], "Grace Hopper", "grace@example.com", "end-user")
    assert zendesk.api.users(id=me.id).email == AGENT
    oauth = connect(oauth_token=TOKEN).api.users.me()
    assert oauth.email == BEARER_AGENT_EMAIL and oauth.id != me.id


def test_a_missing_ticket_raises_record_not_found(zendesk):
    with pytest.raises(RecordNotFoundException):
        zendesk.api.tickets(id=424242)
    with pytest.raises(RecordNotFoundException):
        zendesk.api.tickets.update(Ticket(id=424242, status="open"))
    with pytest.raises(RecordNotFoundException):
        zendesk.api.users(id=424242)


@pytest.mark.parametrize("credentials", [{"email": AGENT, "token": "wrong-token"}, {"oauth_token": "wrong-token"}],
                         ids=["api-token", "oauth"])
def test_a_wrong_token_raises(connect, live, credentials):
    ticket = _ticket(live)
    with pytest.raises(APIException) as caught:
        connect(**credentials).api.tickets(id=ticket["id"])
    assert caught.value.response.status_code == 401
    assert caught.value.response.json() == {"error": "Couldn't authenticate you"}
