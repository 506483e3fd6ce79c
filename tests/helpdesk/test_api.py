"""The Zendesk-shaped ticket API through Flask's test client: shapes, idempotency, errors."""

from __future__ import annotations

import re

import pytest

from helpdesk.auth import BEARER_AGENT_EMAIL, basic_header
from tests.helpdesk.conftest import AUTH, TOKEN, new_ticket

ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def test_create_returns_201_and_zendesk_ticket_shape(client):
    body = {"ticket": {"subject": "Login broken", "comment": {"body": "I cannot log in.\nHelp."},
                       "priority": "high", "type": "incident", "tags": ["Login", "web app"],
                       "custom_fields": [{"id": 7, "value": "P2"}], "external_id": "-Nabc",
                       "requester": {"name": "Ada", "email": "Ada@Example.com"}}}
    response = client.post("/api/v2/tickets.json", json=body, headers=AUTH)
    assert response.status_code == 201
    ticket = response.get_json()["ticket"]
    assert isinstance(ticket["id"], int)
    assert ticket["url"] == f"http://localhost/api/v2/tickets/{ticket['id']}.json"
    assert response.headers["Location"] == ticket["url"]
    assert ticket["description"] == "I cannot log in.\nHelp."
    assert (ticket["subject"], ticket["raw_subject"]) == ("Login broken", "Login broken")
    assert (ticket["status"], ticket["priority"], ticket["type"]) == ("new", "high", "incident")
    assert ticket["tags"] == ["login", "web", "app"]
    assert ticket["custom_fields"] == [{"id": 7, "value": "P2"}]
    assert ticket["external_id"] == "-Nabc"
    assert ISO_Z.match(ticket["created_at"]) and ISO_Z.match(ticket["updated_at"])
    user = client.get(f"/api/v2/users/{ticket['requester_id']}.json", headers=AUTH).get_json()["user"]
    assert (user["name"], user["email"]) == ("Ada", "ada@example.com")


def test_create_answers_the_audit_of_the_creation_beside_the_ticket(client):
    body = {"ticket": {"subject": "Login broken", "comment": {"body": "Help."}, "priority": "high",
                       "external_id": "-Nabc", "custom_fields": [{"id": 7, "value": "P2"}]}}
    response = client.post("/api/v2/tickets.json", json=body, headers=AUTH)
    assert set(response.get_json()) == {"ticket", "audit"}
    ticket, audit = response.get_json()["ticket"], response.get_json()["audit"]
    me = client.get("/api/v2/users/me.json", headers=AUTH).get_json()["user"]
    assert (audit["ticket_id"], audit["author_id"], audit["via"]["channel"]) == (ticket["id"], me["id"], "api")
    assert isinstance(audit["id"], int) and ISO_Z.match(audit["created_at"])
    events = audit["events"]
    assert len({e["id"] for e in events}) == len(events)
    assert events[0] == {"id": events[0]["id"], "type": "Comment", "author_id": None, "body": "Help.",
                         "plain_body": "Help.", "public": True, "attachments": []}
    assert [(e["type"], e["field_name"], e["value"]) for e in events[1:]] == [
        ("Create", "subject", "Login broken"), ("Create", "status", "new"), ("Create", "priority", "high"),
        ("Create", "external_id", "-Nabc"), ("Create", "7", "P2")]


def test_update_answers_its_audit_with_each_change(client):
    ticket = new_ticket(client, priority="low", tags=["a"], custom_fields=[{"id": 1, "value": "x"}])
    body = {"ticket": {"status": "open", "priority": "low", "tags": ["a", "b"], "comment": {"body": "On it"},
                       "custom_fields": [{"id": 1, "value": "y"}, {"id": 2, "value": True}]}}
    audit = client.put(f"/api/v2/tickets/{ticket['id']}.json", json=body, headers=AUTH).get_json()["audit"]
    assert [(e["type"], e.get("field_name"), e.get("previous_value"), e.get("value")) for e in audit["events"]] == [
        ("Comment", None, None, None), ("Change", "status", "new", "open"), ("Change", "tags", ["a"], ["a", "b"]),
        ("Change", "1", "x", "y"), ("Change", "2", None, True)]
    unchanged = client.put(f"/api/v2/tickets/{ticket['id']}.json", json={"ticket": {"status": "open"}},
                           headers=AUTH).get_json()["audit"]
    assert unchanged["events"] == [] and unchanged["id"] > audit["id"]


def test_an_idempotent_replay_answers_the_first_audit(client):
    headers = {**AUTH, "Idempotency-Key": "key-audit"}
    body = {"ticket": {"comment": {"body": "once"}}}
    first = client.post("/api/v2/tickets", json=body, headers=headers).get_json()
    again = client.post("/api/v2/tickets", json=body, headers=headers).get_json()
    assert again == first


def test_the_agent_is_who_the_credentials_name(client):
    me = client.get("/api/v2/users/me", headers=AUTH).get_json()["user"]
    assert (me["email"], me["role"]) == ("agent@example.com", "agent")
    assert client.get(f"/api/v2/users/{me['id']}.json", headers=AUTH).get_json()["user"] == me
    other = client.get("/api/v2/users/me.json", headers={"Authorization": basic_header("Lead@Example.com", TOKEN)})
    assert other.get_json()["user"]["email"] == "lead@example.com"
    bearer = client.get("/api/v2/users/me.json", headers={"Authorization": f"Bearer {TOKEN}"}).get_json()["user"]
    assert bearer["email"] == BEARER_AGENT_EMAIL
    assert len({me["id"], other.get_json()["user"]["id"], bearer["id"]}) == 3


def test_a_requester_who_authenticates_becomes_an_agent(client):
    ticket = new_ticket(client, requester={"name": "Ada", "email": "ada@example.com"})
    me = client.get("/api/v2/users/me.json", headers={"Authorization": basic_header("ada@example.com", TOKEN)})
    assert (me.get_json()["user"]["id"], me.get_json()["user"]["role"]) == (ticket["requester_id"], "agent")


def test_same_requester_email_maps_to_the_same_user(client):
    first = new_ticket(client, requester={"name": "Ada", "email": "ada@example.com"})
    second = new_ticket(client, requester={"name": "Ada L.", "email": "ada@example.com"})
    assert first["requester_id"] == second["requester_id"]


def test_description_alone_creates_the_first_comment_and_subject(client):
    response = client.post("/api/v2/tickets", json={"ticket": {"description": "Slow dashboard\nsince Monday"}},
                           headers=AUTH)
    assert response.status_code == 201
    ticket = response.get_json()["ticket"]
    assert ticket["subject"] == "Slow dashboard"
    comments = client.get(f"/api/v2/tickets/{ticket['id']}/comments", headers=AUTH).get_json()
    assert [c["body"] for c in comments["comments"]] == ["Slow dashboard\nsince Monday"]


def test_show_with_and_without_json_suffix(client):
    ticket = new_ticket(client)
    for path in (f"/api/v2/tickets/{ticket['id']}", f"/api/v2/tickets/{ticket['id']}.json"):
        response = client.get(path, headers=AUTH)
        assert response.status_code == 200
        assert response.get_json() == {"ticket": ticket}


def test_update_is_partial_and_appends_comment(client):
    ticket = new_ticket(client, priority="low", tags=["a"], custom_fields=[{"id": 1, "value": "x"}])
    body = {"ticket": {"status": "open", "comment": {"body": "Looking into it", "public": False},
                       "custom_fields": [{"id": 2, "value": True}]}}
    response = client.put(f"/api/v2/tickets/{ticket['id']}.json", json=body, headers=AUTH)
    assert response.status_code == 200
    updated = response.get_json()["ticket"]
    assert (updated["status"], updated["priority"], updated["tags"]) == ("open", "low", ["a"])
    assert updated["custom_fields"] == [{"id": 1, "value": "x"}, {"id": 2, "value": True}]
    assert updated["description"] == ticket["description"]
    comments = client.get(f"/api/v2/tickets/{ticket['id']}/comments.json", headers=AUTH).get_json()
    assert [(c["body"], c["public"]) for c in comments["comments"]] == [
        ("It is really on fire.", True), ("Looking into it", False)]


def test_closed_ticket_cannot_be_updated(client):
    ticket = new_ticket(client)
    client.put(f"/api/v2/tickets/{ticket['id']}", json={"ticket": {"status": "closed"}}, headers=AUTH)
    response = client.put(f"/api/v2/tickets/{ticket['id']}", json={"ticket": {"priority": "low"}}, headers=AUTH)
    assert response.status_code == 422
    assert "closed" in response.get_json()["details"]["status"][0]["description"]


def test_list_paginates_with_zendesk_offset_links(client):
    ids = [new_ticket(client, subject=f"t{i}")["id"] for i in range(5)]
    first = client.get("/api/v2/tickets.json?per_page=2", headers=AUTH).get_json()
    assert [t["id"] for t in first["tickets"]] == ids[:2]
    assert first["count"] == 5 and first["previous_page"] is None
    assert first["next_page"] == "http://localhost/api/v2/tickets.json?page=2&per_page=2"
    last = client.get("/api/v2/tickets?page=3&per_page=2", headers=AUTH).get_json()
    assert [t["id"] for t in last["tickets"]] == ids[4:]
    assert last["next_page"] is None
    assert last["previous_page"] == "http://localhost/api/v2/tickets.json?page=2&per_page=2"
    desc = client.get("/api/v2/tickets?sort_by=id&sort_order=desc", headers=AUTH).get_json()
    assert [t["id"] for t in desc["tickets"]] == ids[::-1]


def test_list_pages_by_cursor_with_page_size(client):
    ids = [new_ticket(client)["id"] for _ in range(5)]
    first = client.get("/api/v2/tickets.json?page[size]=2", headers=AUTH).get_json()
    assert set(first) == {"tickets", "meta", "links"}
    assert [t["id"] for t in first["tickets"]] == ids[:2] and first["meta"]["has_more"] is True
    seen, page = [], first
    while True:
        seen += [t["id"] for t in page["tickets"]]
        if not page["meta"]["has_more"]:
            break
        assert "page%5Bsize%5D=2" in page["links"]["next"]
        page = client.get(page["links"]["next"], headers=AUTH).get_json()
    assert seen == ids
    back = client.get(page["links"]["prev"], headers=AUTH).get_json()
    assert [t["id"] for t in back["tickets"]] == ids[2:4] and back["meta"]["has_more"] is True
    newest = client.get("/api/v2/tickets.json?page[size]=3&sort=-id", headers=AUTH).get_json()
    assert [t["id"] for t in newest["tickets"]] == ids[:1:-1]
    older = client.get(newest["links"]["next"], headers=AUTH).get_json()
    assert [t["id"] for t in older["tickets"]] == ids[1::-1] and older["meta"]["has_more"] is False


def test_cursor_pages_keep_the_external_id_filter_and_end_empty(client):
    wanted = [new_ticket(client, external_id="k")["id"] for _ in range(3)]
    new_ticket(client, external_id="other")
    first = client.get("/api/v2/tickets.json?page[size]=2&external_id=k", headers=AUTH).get_json()
    second = client.get(first["links"]["next"], headers=AUTH).get_json()
    assert [t["id"] for t in first["tickets"] + second["tickets"]] == wanted
    assert second["meta"]["has_more"] is False
    empty = client.get("/api/v2/tickets.json?page[size]=2&external_id=none-such", headers=AUTH).get_json()
    assert empty == {"tickets": [], "meta": {"has_more": False, "after_cursor": None, "before_cursor": None},
                     "links": {"next": None, "prev": None}}


def test_comments_page_by_cursor(client):
    ticket = new_ticket(client)
    for n in range(3):
        client.put(f"/api/v2/tickets/{ticket['id']}", json={"ticket": {"comment": {"body": f"c{n}"}}}, headers=AUTH)
    first = client.get(f"/api/v2/tickets/{ticket['id']}/comments.json?page[size]=3", headers=AUTH).get_json()
    rest = client.get(first["links"]["next"], headers=AUTH).get_json()
    assert [c["body"] for c in first["comments"] + rest["comments"]] == ["It is really on fire.", "c0", "c1", "c2"]
    assert (first["meta"]["has_more"], rest["meta"]["has_more"]) == (True, False)


@pytest.mark.parametrize("query, named", [
    ("page[size]=0", "page[size]"), ("page[size]=101", "page[size]"), ("page[size]=x", "page[size]"),
    ("page[after]=bm9wZQ", "page[after]"), ("page[before]=!!", "page[before]"),
    ("page[size]=2&page=2", '"page"'), ("page[size]=2&sort_by=id", '"sort_by"'), ("page[size]=2&sort=status", "sort"),
    ("page[after]=aWQ6Mg&page[before]=aWQ6Mg", "together"),
])
def test_bad_cursor_parameters_are_400_naming_them(client, query, named):
    for path in ("/api/v2/tickets.json", f"/api/v2/tickets/{new_ticket(client)['id']}/comments.json"):
        response = client.get(f"{path}?{query}", headers=AUTH)
        assert response.status_code == 400
        body = response.get_json()
        assert body["error"] == "InvalidPaginationParameter" and named in body["description"]


def test_per_page_is_capped_at_100(client):
    response = client.get("/api/v2/tickets?per_page=500", headers=AUTH)
    assert response.status_code == 200


def test_lookup_by_external_id(client):
    new_ticket(client, external_id="other")
    ticket = new_ticket(client, external_id="rtdb-key-1")
    found = client.get("/api/v2/tickets?external_id=rtdb-key-1", headers=AUTH).get_json()
    assert found["count"] == 1 and found["tickets"][0]["id"] == ticket["id"]
    none = client.get("/api/v2/tickets.json?external_id=missing", headers=AUTH).get_json()
    assert none == {"tickets": [], "next_page": None, "previous_page": None, "count": 0}


def test_external_id_is_not_unique_as_in_zendesk(client):
    body = {"ticket": {"comment": {"body": "first"}, "external_id": "dup"}}
    first = client.post("/api/v2/tickets", json=body, headers=AUTH)
    body["ticket"]["comment"]["body"] = "second delivery of the same event"
    second = client.post("/api/v2/tickets", json=body, headers=AUTH)
    assert (first.status_code, second.status_code) == (201, 201)
    assert second.get_json()["ticket"]["id"] != first.get_json()["ticket"]["id"]
    found = client.get("/api/v2/tickets?external_id=dup", headers=AUTH).get_json()
    assert found["count"] == 2


def test_idempotency_key_replays_same_ticket(client):
    headers = {**AUTH, "Idempotency-Key": "key-1"}
    body = {"ticket": {"comment": {"body": "once"}}}
    first = client.post("/api/v2/tickets", json=body, headers=headers)
    again = client.post("/api/v2/tickets", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert first.headers["x-idempotency-lookup"] == "miss"
    assert again.headers["x-idempotency-lookup"] == "hit"
    assert again.get_json()["ticket"]["id"] == first.get_json()["ticket"]["id"]
    assert client.get("/api/v2/tickets", headers=AUTH).get_json()["count"] == 1


def test_idempotency_key_with_different_body_is_400(client):
    headers = {**AUTH, "Idempotency-Key": "key-2"}
    client.post("/api/v2/tickets", json={"ticket": {"comment": {"body": "one"}}}, headers=headers)
    response = client.post("/api/v2/tickets", json={"ticket": {"comment": {"body": "two"}}}, headers=headers)
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "IdempotentRequestError"
    assert body["description"].startswith('Invalid Idempotency-Key: "key-2".')


@pytest.mark.parametrize("header", [
    None, "Bearer wrong", f"Basic {basic_header('a@b.c', 'wrong')[6:]}", "Basic !!!notbase64",
    basic_header("a@b.c", TOKEN).replace("Basic", "Digest"),
    "Basic " + __import__("base64").b64encode(f"a@b.c:{TOKEN}".encode()).decode(),  # password, not token
])
def test_bad_credentials_are_401(client, header):
    headers = {"Authorization": header} if header else {}
    response = client.get("/api/v2/tickets", headers=headers)
    assert response.status_code == 401
    assert response.get_json() == {"error": "Couldn't authenticate you"}


def test_bearer_token_is_accepted(client):
    assert client.get("/api/v2/tickets", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


@pytest.mark.parametrize("path", ["/api/v2/tickets/999", "/api/v2/tickets/abc", "/api/v2/tickets/0.json",
                                  "/api/v2/tickets/99999999999999999999999", "/api/v2/users/5"])
def test_missing_records_are_zendesk_404(client, path):
    response = client.get(path, headers=AUTH)
    assert response.status_code == 404
    assert response.get_json() == {"error": "RecordNotFound", "description": "Not found"}


@pytest.mark.parametrize("method, path", [("GET", "/api/v2/nothing-here"), ("GET", "/api/v2/search/export.json"),
                                          ("GET", "/api/v2/tickets/1/audits.json")])
def test_endpoints_the_stub_lacks_are_404_naming_them(client, method, path):
    response = client.open(path, method=method, headers=AUTH)
    assert response.status_code == 404
    body = response.get_json()
    assert body["error"] == "InvalidEndpoint"
    assert f"does not serve {method} {path} " in body["description"]


@pytest.mark.parametrize("ticket, field, message", [
    ({"comment": {"body": "x"}, "priority": "p1"}, "priority",
     'Invalid priority: "p1". Must be one of urgent, high, normal, low or null.'),
    ({"comment": {"body": "x"}, "status": "done"}, "status",
     'Invalid status: "done". Must be one of new, open, pending, hold, solved, closed.'),
    ({"comment": {"body": "x"}, "type": "bug"}, "type",
     'Invalid type: "bug". Must be one of problem, incident, question, task or null.'),
    ({"subject": "no body"}, "comment", None),
    ({"comment": {"body": "   "}}, "comment", None),
    ({"comment": "just text"}, "comment", None),
    ({"comment": {"body": "x"}, "tags": "a,b"}, "tags", 'Invalid tags: "a,b". Must be a list of strings.'),
    ({"comment": {"body": "x"}, "subject": 5}, "subject", None),
    ({"comment": {"body": "x"}, "custom_fields": [{"id": "7", "value": 1}]}, "custom_fields", None),
    ({"comment": {"body": "x"}, "requester_id": 424242}, "requester_id",
     'Invalid requester_id: "424242". No user has this id.'),
    ({"comment": {"body": "x"}, "requester": {"email": "not-an-email"}}, "requester", None),
    ("not an object", "ticket", None),
])
def test_invalid_fields_are_zendesk_422(client, ticket, field, message):
    response = client.post("/api/v2/tickets", json={"ticket": ticket}, headers=AUTH)
    assert response.status_code == 422
    body = response.get_json()
    assert (body["error"], body["description"]) == ("RecordInvalid", "Record validation errors")
    description = body["details"][field][0]["description"]
    assert description.startswith(f"Invalid {field}: ")
    if message:
        assert description == message


@pytest.mark.parametrize("data", [b"{not json", b"", b'{"ticket": NaN}', b"\xff\xfe", b"[1, 2]",
                                  b'{"tiket": {}}', b"[" * 100_000])
def test_malformed_bodies_are_400(client, data):
    response = client.post("/api/v2/tickets", data=data, headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == 400
    assert set(response.get_json()) == {"error", "description"}


@pytest.mark.parametrize("query", ["page=0", "page=x", "per_page=-1", "sort_by=evil", "sort_order=up"])
def test_bad_list_parameters_are_400(client, query):
    assert client.get(f"/api/v2/tickets?{query}", headers=AUTH).status_code == 400


def test_public_url_setting_is_used_for_urls(make_app):
    client = make_app(HELPDESK_PUBLIC_URL="https://acme.zendesk.example/").test_client()
    ticket = new_ticket(client)
    assert ticket["url"] == f"https://acme.zendesk.example/api/v2/tickets/{ticket['id']}.json"


def test_wrong_method_is_json_405_naming_it(client):
    response = client.delete("/api/v2/tickets", headers=AUTH)
    assert response.status_code == 405
    assert response.get_json()["description"].startswith('Invalid method: "DELETE". /api/v2/tickets allows ')
