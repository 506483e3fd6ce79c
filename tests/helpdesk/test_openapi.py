"""The OpenAPI description covers every API route and matches what the API returns."""

from __future__ import annotations

import json
import re
from pathlib import Path

import helpdesk
from tests.helpdesk.conftest import AUTH, new_ticket

SPEC = json.loads((Path(helpdesk.__file__).parent / "openapi.json").read_text())


def _schema(name):
    return SPEC["components"]["schemas"][name]


def test_spec_is_served_without_auth(client):
    response = client.get("/api/v2/openapi.json")
    assert response.status_code == 200 and response.get_json() == SPEC
    assert SPEC["openapi"].startswith("3.")


def test_every_api_route_is_described(app):
    described = {(path, method) for path, ops in SPEC["paths"].items() for method in ops}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v2/") or rule.endpoint == "api.openapi":
            continue
        path = re.sub(r"<(\w+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (path, method.lower()) in described or (path + ".json", method.lower()) in described, path


def test_every_ref_resolves():
    text = json.dumps(SPEC)
    for ref in set(re.findall(r'"\$ref": "#/components/(\w+)/(\w+)"', text)):
        assert ref[1] in SPEC["components"][ref[0]], ref


def test_ticket_schema_matches_a_real_ticket(client):
    ticket = new_ticket(client, priority="low")
    schema = _schema("Ticket")
    assert set(schema["required"]) <= set(ticket)
    assert set(ticket) <= set(schema["properties"])
    assert schema["properties"]["status"]["enum"] == ["new", "open", "pending", "hold", "solved", "closed"]


def test_list_schema_matches_a_real_list(client):
    body = client.get("/api/v2/tickets", headers=AUTH).get_json()
    assert set(body) == set(_schema("TicketList")["properties"])


def test_audit_and_search_schemas_match_real_answers(client):
    created = client.post("/api/v2/tickets", json={"ticket": {"comment": {"body": "x"}, "external_id": "e"}},
                          headers=AUTH).get_json()
    assert set(created) == set(_schema("TicketAuditResponse")["required"])
    assert set(created["audit"]) == set(_schema("Audit")["properties"])
    for event in created["audit"]["events"]:
        assert set(event) <= set(_schema("AuditEvent")["properties"])
    found = client.get("/api/v2/search.json?query=external_id:e", headers=AUTH).get_json()
    assert set(found) == set(_schema("SearchResults")["properties"])
    cursor = client.get("/api/v2/tickets.json?page[size]=1", headers=AUTH).get_json()
    assert set(cursor) == set(_schema("TicketCursorPage")["properties"])
    assert set(cursor["meta"]) == set(_schema("CursorMeta")["properties"])
