"""GET /api/v2/search: Zendesk's query syntax over tickets, its result shape and pagination, clear refusals."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from tests.helpdesk.conftest import AUTH, new_ticket

MAY_1 = ("2024-04-30T23:59:59Z", "2024-05-01T00:00:00Z", "2024-05-01T12:00:00Z", "2024-05-01T23:59:59Z",
         "2024-05-02T00:00:00Z")


def _search(client, query, **params):
    response = client.get("/api/v2/search.json", query_string={"query": query, **params}, headers=AUTH)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def _ids(client, query, **params):
    return [result["id"] for result in _search(client, query, sort_order="asc", **params)["results"]]


@pytest.fixture
def dated(client, monkeypatch):
    """Five tickets created around 2024-05-01 (UTC): their ids in creation order."""
    ids = []
    for moment in MAY_1:
        monkeypatch.setattr("helpdesk.store.utc_now", lambda moment=moment: moment)
        ids.append(new_ticket(client)["id"])
    return ids


def test_results_have_zendesks_shape(client):
    ticket = new_ticket(client, external_id="push-1")
    body = _search(client, "type:ticket external_id:push-1")
    assert set(body) == {"results", "facets", "next_page", "previous_page", "count"}
    assert (body["facets"], body["next_page"], body["previous_page"], body["count"]) == (None, None, None, 1)
    assert body["results"] == [{**ticket, "result_type": "ticket"}]


@pytest.mark.parametrize("query, expected", [
    ("created:2024-05-01", [1, 2, 3]),
    ("created>2024-05-01", [4]),  # after the whole day
    ("created>=2024-05-01", [1, 2, 3, 4]),
    ("created<2024-05-01", [0]),
    ("created<=2024-05-01", [0, 1, 2, 3]),
    ("created>2024-05-01 created<2024-05-02", []),
    ("created>2024-04-30 created<2024-05-02", [1, 2, 3]),
    ("created>2024-05-01T12:00:00Z", [3, 4]),
    ("created>=2024-05-01T12:00:00Z", [2, 3, 4]),
    ("created<2024-05-01T12:00:00Z", [0, 1]),
    ("created<=2024-05-01T12:00:00Z", [0, 1, 2]),
    ("created:2024-05-01T12:00:00Z", [2]),
    ("created<2024-05-01T12:00:00.5Z", [0, 1, 2]),
    ("created>2024-05-01T11:59:59.5Z", [2, 3, 4]),
    ("created:2024-05-01T12:00:00.5Z", []),
    ("created>2024-05-01T14:00:00+02:00", [3, 4]),  # 12:00 UTC
    ("created>2024-05-01T12:00:00", [3, 4]),  # no offset: UTC
    ("created:2024-05-01 created:2024-05-02", [1, 2, 3, 4]),  # one property twice: either
    ("-created:2024-05-01", [0, 4]),
    ("updated<2024-05-01", [0]),
    ("solved:none", [0, 1, 2, 3, 4]),
])
def test_dates_and_times_as_zendesk_reads_them(client, dated, query, expected):
    assert _ids(client, "type:ticket " + query) == [dated[i] for i in expected]


def test_free_text_matches_words_and_word_starts_in_subject_description_comments_and_requester(client):
    fire = new_ticket(client, subject="Printer on fire", comment={"body": "Top floor, since Monday."})["id"]
    desk = new_ticket(client, subject="Desktop Solutions", comment={"body": "One-Stop Publishing"})["id"]
    noted = new_ticket(client, subject="Other", comment={"body": "x"},
                       requester={"name": "Zoë Ærøskøbing", "email": "zoe@example.com"})["id"]
    client.put(f"/api/v2/tickets/{noted}.json", json={"ticket": {"comment": {"body": "Topology review", "public": False}}},
               headers=AUTH)
    assert _ids(client, "type:ticket top") == [fire, noted]  # "Top", "Topology"; not "Desktop", "One-Stop"
    assert _ids(client, "type:ticket TOP floor") == [fire]
    assert _ids(client, 'type:ticket "top"') == [fire]  # a quoted word is whole
    assert _ids(client, 'type:ticket "on fire"') == [fire]
    assert _ids(client, 'type:ticket "fire on"') == []
    assert _ids(client, "type:ticket stop") == [desk]  # "One-Stop": words split at punctuation
    assert _ids(client, "type:ticket zoë") == [noted]
    assert _ids(client, "type:ticket zoe@example.com") == [noted]
    assert _ids(client, "type:ticket topo -fire") == [noted]
    assert _ids(client, f"type:ticket {desk}") == [desk]  # a number also finds the ticket with that id
    assert _ids(client, "type:ticket subject:top") == []
    assert _ids(client, "type:ticket description:top") == [fire]
    assert _ids(client, 'type:ticket subject:"printer on"') == [fire]


def test_properties_negation_and_either_values(client):
    urgent = new_ticket(client, priority="urgent", status="open", type="incident", tags=["vip", "billing"])["id"]
    normal = new_ticket(client, priority="normal", status="pending", requester={"name": "Bo", "email": "bo@x.io"})["id"]
    plain = new_ticket(client, status="solved", external_id="X-1")["id"]
    requester = client.get(f"/api/v2/tickets/{normal}.json", headers=AUTH).get_json()["ticket"]["requester_id"]
    cases = {
        "status:open": [urgent], "status:open status:pending": [urgent, normal], "status<solved": [urgent, normal],
        "status>=pending": [normal, plain], "-status:open": [normal, plain],
        "priority:urgent": [urgent], "priority>normal": [urgent], "priority<=normal": [normal],
        "priority:none": [plain], "-priority:urgent": [normal, plain],  # a ticket without priority is not urgent
        "ticket_type:incident": [urgent], "ticket_type:none": [normal, plain],
        "tags:vip": [urgent], "tag:billing": [urgent], "tags:none": [normal, plain], "-tags:vip": [normal, plain],
        "external_id:X-1": [plain], "external_id:x-1": [], "external_id:none": [urgent, normal],
        "requester:bo@x.io": [normal], f"requester:{requester}": [normal], "requester:none": [urgent, plain],
        "status:open priority:normal": [], "STATUS:OPEN": [urgent],
    }
    for query, expected in cases.items():
        assert _ids(client, "type:ticket " + query) == expected, query
    assert _ids(client, "status:open") == [urgent]  # a ticket property: no type needed


def test_sorting(client):
    ids = [new_ticket(client, status=status, priority=priority)["id"]
           for status, priority in (("pending", "low"), ("new", "urgent"), ("solved", None))]
    by = lambda **params: [r["id"] for r in _search(client, "type:ticket", **params)["results"]]  # noqa: E731
    assert by() == ids[::-1]  # no sort_by: by id, sort_order desc
    assert by(sort_by="status", sort_order="asc") == [ids[1], ids[0], ids[2]]  # new < pending < solved
    assert by(sort_by="priority") == [ids[1], ids[0], ids[2]]  # urgent first, none last
    assert by(sort_by="created_at", sort_order="asc") == ids
    assert [r["id"] for r in _search(client, "type:ticket order_by:status sort:asc")["results"]] == [
        ids[1], ids[0], ids[2]]


def test_offset_pages_with_next_and_previous_links(client):
    ids = [new_ticket(client)["id"] for _ in range(5)]
    first = _search(client, "type:ticket", per_page=2, sort_order="asc")
    assert ([r["id"] for r in first["results"]], first["count"], first["previous_page"]) == (ids[:2], 5, None)
    link = urlsplit(first["next_page"])
    assert link.path == "/api/v2/search.json"
    assert parse_qs(link.query) == {"query": ["type:ticket"], "page": ["2"], "per_page": ["2"], "sort_order": ["asc"]}
    last = _search(client, "type:ticket", per_page=2, sort_order="asc", page=3)
    assert ([r["id"] for r in last["results"]], last["next_page"]) == (ids[4:], None)
    assert parse_qs(urlsplit(last["previous_page"]).query)["page"] == ["2"]


def test_per_page_is_capped_at_100_and_results_at_1000(client):
    new_ticket(client)
    assert parse_qs(urlsplit(_search(client, "type:ticket", per_page=500, page=2)["previous_page"]).query)[
        "per_page"] == ["100"]
    assert _search(client, "type:ticket", page=10)["results"] == []  # results 901-1000: still allowed
    response = client.get("/api/v2/search.json", query_string={"query": "type:ticket", "page": 11}, headers=AUTH)
    assert response.status_code == 422
    assert response.get_json()["error"] == "invalid"  # as Zendesk answers it; zenpy stops paging on it


def test_count(client):
    for status in ("open", "open", "new"):
        new_ticket(client, status=status)
    response = client.get("/api/v2/search/count.json", query_string={"query": "type:ticket status:open"},
                          headers=AUTH)
    assert response.get_json() == {"count": 2}


@pytest.mark.parametrize("params, error, named", [
    ({}, "InvalidSearchQuery", "query parameter is required"),
    ({"query": "  "}, "InvalidSearchQuery", "query parameter is required"),
    ({"query": "type:ticket status:done"}, "InvalidSearchQuery", "status must be one of"),
    ({"query": "type:ticket priority<none"}, "InvalidSearchQuery", "priority must be one of"),
    ({"query": 'type:ticket "open'}, "InvalidSearchQuery", "never closed"),
    ({"query": "type:ticket created>2024-02-30"}, "InvalidSearchQuery", "Dates are YYYY-MM-DD"),
    ({"query": "type:ticket tags>vip"}, "InvalidSearchQuery", 'tags takes only ":"'),
    ({"query": "type:ticket status:"}, "InvalidSearchQuery", "without a value"),
    ({"query": "type:ticket !!!"}, "InvalidSearchQuery", "at least one letter or digit"),
    ({"query": "type:ticket", "sort_by": "color"}, "InvalidSearchQuery", 'sort_by: "color"'),
    ({"query": "type:ticket", "sort_order": "up"}, "InvalidSearchQuery", 'sort_order: "up"'),
    ({"query": "type:ticket", "page": "0"}, "InvalidPaginationParameter", "Invalid page"),
    ({"query": "type:bogus"}, "InvalidSearchQuery", "type must be one of"),
    ({"query": "type:user Ada"}, "UnsupportedSearchQuery", "searches tickets only"),
    ({"query": "-type:ticket status:open"}, "UnsupportedSearchQuery", "type takes only"),
    ({"query": "printer"}, "UnsupportedSearchQuery", "add type:ticket"),
    ({"query": "created>2024-01-01"}, "UnsupportedSearchQuery", "add type:ticket"),
    ({"query": "type:ticket assignee:me"}, "UnsupportedSearchQuery", 'keyword: "assignee"'),
    ({"query": "type:ticket created>4hours"}, "UnsupportedSearchQuery", "not relative times"),
    ({"query": "type:ticket *ire"}, "UnsupportedSearchQuery", '"*" only at the end'),
    ({"query": "type:ticket tags:a tags:b"}, "UnsupportedSearchQuery", "one tag per query"),
    ({"query": "type:ticket requester:Ada"}, "UnsupportedSearchQuery", "by e-mail address"),
    ({"query": "type:ticket order_by:commented"}, "UnsupportedSearchQuery", "order_by"),
    ({"query": "type:ticket", "sort_by": "ticket_type"}, "UnsupportedSearchQuery", "ticket_type"),
    ({"query": "type:ticket", "include": "users"}, "UnsupportedSearchQuery", '"include"'),
    ({"query": "type:ticket", "page[size]": "10"}, "UnsupportedSearchQuery", '"page[size]"'),
    ({"query": "type:ticket " + "a " * 100}, "UnsupportedSearchQuery", "at most 100"),
])
def test_what_the_stub_cannot_answer_is_a_400_naming_it(client, params, error, named):
    response = client.get("/api/v2/search.json", query_string=params, headers=AUTH)
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == error and named in body["description"], body


def test_search_needs_credentials(client):
    response = client.get("/api/v2/search.json", query_string={"query": "type:ticket"})
    assert response.status_code == 401
