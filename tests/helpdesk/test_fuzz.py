"""No input makes the API answer 5xx: arbitrary JSON bodies, headers and ids."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpdesk.conftest import AUTH

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
                    | st.text(), lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
FIELDS = st.sampled_from(["subject", "raw_subject", "description", "comment", "status", "priority", "type",
                          "tags", "custom_fields", "fields", "external_id", "requester", "requester_id",
                          "satisfaction_rating"])
TICKET = st.dictionaries(FIELDS, JSON, max_size=6)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(ticket=TICKET | JSON)
def test_create_never_500(client, ticket):
    response = client.post("/api/v2/tickets", json={"ticket": ticket}, headers=AUTH)
    assert response.status_code in (200, 201, 422), response.get_data(as_text=True)


@FUZZ
@given(ticket=TICKET, raw_id=st.text(min_size=1, max_size=25).filter(lambda s: "/" not in s))
def test_update_never_500(client, ticket, raw_id):
    client.post("/api/v2/tickets", json={"ticket": {"comment": {"body": "seed"}}}, headers=AUTH)
    for path in ("/api/v2/tickets/1", f"/api/v2/tickets/{raw_id}"):
        response = client.put(path, json={"ticket": ticket}, headers=AUTH)
        assert response.status_code in (200, 404, 422), response.get_data(as_text=True)


@FUZZ
@given(data=st.binary(max_size=200),
       key=st.text(st.characters(min_codepoint=32, max_codepoint=255, exclude_characters="\x7f"), max_size=300))
def test_raw_bytes_and_odd_idempotency_keys_never_500(client, data, key):
    headers = {**AUTH, "Content-Type": "application/json", "Idempotency-Key": key}
    response = client.post("/api/v2/tickets", data=data, headers=headers)
    assert response.status_code < 500


def test_lone_surrogates_are_rejected_not_crashing(client):
    body = b'{"ticket": {"comment": {"body": "\\ud800 broken"}}}'
    response = client.post("/api/v2/tickets", data=body, headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == 400


@FUZZ
@given(params=st.dictionaries(st.sampled_from(["page", "per_page", "external_id", "sort_by", "sort_order"]),
                              st.text(max_size=30), max_size=5))
def test_list_never_500(client, params):
    response = client.get("/api/v2/tickets", query_string=params, headers=AUTH)
    assert response.status_code in (200, 400)
    if response.status_code == 200:
        json.dumps(response.get_json())


QUERY_PIECES = st.sampled_from(["type:ticket", "status", "priority", "created", "solved", "tags", "requester",
                                "external_id", "subject", "order_by", "sort", ":", "<", ">", "<=", ">=", "-", '"',
                                "*", " ", "none", "open", "urgent", "2024-05-01", "T12:00:00Z", "+02:00", ".5",
                                "9999-12-31", "0001-01-01", "99999999999999999999", "é", "\x00", "ß"])


@FUZZ
@given(query=st.lists(QUERY_PIECES | st.text(max_size=6), max_size=12).map("".join),
       params=st.dictionaries(st.sampled_from(["page", "per_page", "sort_by", "sort_order"]), st.text(max_size=12),
                              max_size=3))
def test_search_never_500(client, query, params):
    client.post("/api/v2/tickets", json={"ticket": {"comment": {"body": "seed"}, "tags": ["a"]}}, headers=AUTH)
    for path in ("/api/v2/search.json", "/api/v2/search/count.json"):
        response = client.get(path, query_string={"query": query, **params}, headers=AUTH)
        assert response.status_code in (200, 400, 422), response.get_data(as_text=True)


@FUZZ
@given(params=st.dictionaries(st.sampled_from(["page[size]", "page[after]", "page[before]", "sort", "external_id"]),
                              st.text(max_size=16), max_size=4))
def test_cursor_pages_never_500(client, params):
    client.post("/api/v2/tickets", json={"ticket": {"comment": {"body": "seed"}}}, headers=AUTH)
    for path in ("/api/v2/tickets.json", "/api/v2/tickets/1/comments.json"):
        response = client.get(path, query_string=params, headers=AUTH)
        assert response.status_code in (200, 400), response.get_data(as_text=True)
