"""The project's database.rules.json enforced over HTTP: who may do what, and nothing changes on a denial."""

import json
import time

import pytest
import requests

from tests.support.procs import ROOT, start_emulator, user_token, wait_for

ADMIN = {"Authorization": "Bearer owner"}
ALICE, BOB, CAROL = "alice-uid", "bob-uid", "carol-agent"
OWNED = "-Nowned0000000000001"   # alice's ticket
OTHER = "-Nother0000000000002"   # bob's ticket
NEW_ID = "-Nnew00000000000000X"
# The agent queue's queries (web/js/queue.js): open tickets live, done ones a page at a time, newest first.
OPEN_QUERY = '/tickets?orderBy="status"&equalTo="new"'
DONE_PAGE_QUERY = '/tickets?orderBy="done_at"&startAt=0&limitToLast=50'
DONE_NEXT_PAGE_QUERY = '/tickets?orderBy="done_at"&startAt=0&endAt=1764547200000&limitToLast=51'
WHO = {
    "anonymous": {},
    "owner": {"auth": user_token(ALICE)},
    "other": {"auth": user_token(BOB)},
    "agent": {"auth": user_token(CAROL, agent=True)},
    "signed-in": {"auth": user_token("dave-uid", provider="password", email="dave@example.com")},
}


def ticket(owner, **changes):
    t = {"subject": "Cannot log in", "description": "Every login fails since this morning.",
         "contact": {"name": "Alice", "email": "alice@example.com"}, "category": "authentication",
         "type": "issue", "impact": 3, "experience": "experienced", "seniority": 2,
         "created_at": {".sv": "timestamp"}, "status": "new", "uid": owner}
    t.update(changes)
    return {k: v for k, v in t.items() if v is not None}


@pytest.fixture(scope="module")
def emu():
    proc = start_emulator(config=ROOT / "firebase.json")  # the project's rules file
    yield proc
    proc.stop()


@pytest.fixture
def seeded(emu):
    stored = {OWNED: {**ticket(ALICE), "created_at": 1, "enrichment": {"priority": "P2"}},
              OTHER: {**ticket(BOB), "created_at": 2}}
    requests.put(f"{emu.url}/tickets.json", json=stored, headers=ADMIN).raise_for_status()
    requests.put(f"{emu.url}/config.json", json={"x": 1}, headers=ADMIN).raise_for_status()
    return emu


def snapshot(emu):
    return requests.get(f"{emu.url}/.json?format=export", headers=ADMIN).json()


# (who, method, path, body, allowed)
CASES = [
    # create
    ("anonymous", "POST", "/tickets", ticket("nobody"), False),
    ("owner", "POST", "/tickets", ticket(ALICE), True),
    ("other", "POST", "/tickets", ticket(BOB), True),
    ("agent", "POST", "/tickets", ticket(CAROL), True),
    ("signed-in", "POST", "/tickets", ticket("dave-uid"), True),
    ("owner", "PUT", f"/tickets/{NEW_ID}", ticket(ALICE), True),
    ("owner", "POST", "/tickets", ticket(BOB), False),                        # someone else's uid
    ("owner", "POST", "/tickets", ticket(ALICE, uid=None), False),            # no uid
    ("owner", "POST", "/tickets", ticket(ALICE, impact=9), False),
    ("owner", "POST", "/tickets", ticket(ALICE, impact=2.5), False),
    ("owner", "POST", "/tickets", ticket(ALICE, category="sales"), False),
    ("owner", "POST", "/tickets", ticket(ALICE, type="complaint"), False),
    ("owner", "POST", "/tickets", ticket(ALICE, experience="guru"), False),
    ("owner", "POST", "/tickets", ticket(ALICE, seniority=-1), False),
    ("owner", "POST", "/tickets", ticket(ALICE, status="closed"), False),
    ("owner", "POST", "/tickets", ticket(ALICE, created_at=123), False),      # not the server's now
    ("owner", "POST", "/tickets", ticket(ALICE, subject=""), False),
    ("owner", "POST", "/tickets", ticket(ALICE, subject=None), False),        # missing field
    ("owner", "POST", "/tickets", ticket(ALICE, description="x" * 5001), False),
    ("owner", "POST", "/tickets", ticket(ALICE, contact={"name": "A", "email": "not-an-address"}), False),
    ("owner", "POST", "/tickets", ticket(ALICE, contact={"name": "A", "email": "a@b.co", "phone": "1"}), False),
    ("owner", "POST", "/tickets", ticket(ALICE, enrichment={"priority": "P1"}), False),
    ("owner", "POST", "/tickets", ticket(ALICE, helpdesk={"id": 1}), False),
    ("owner", "POST", "/tickets", ticket(ALICE, resolution={"status": "solved"}), False),
    ("owner", "PUT", "/tickets/not-a-push-id", ticket(ALICE), False),
    ("admin", "POST", "/tickets", {"anything": "goes"}, True),
    # update / delete an existing ticket
    ("owner", "PATCH", f"/tickets/{OWNED}", {"subject": "changed"}, False),
    ("owner", "PUT", f"/tickets/{OWNED}/subject", "changed", False),
    ("agent", "PATCH", f"/tickets/{OWNED}", {"status": "closed"}, False),
    ("owner", "PUT", f"/tickets/{OWNED}", ticket(ALICE), False),               # overwrite
    ("owner", "DELETE", f"/tickets/{OWNED}", None, False),
    ("anonymous", "DELETE", f"/tickets/{OTHER}", None, False),
    ("admin", "PATCH", f"/tickets/{OWNED}", {"status": "solved"}, True),
    ("admin", "DELETE", f"/tickets/{OTHER}", None, True),
    # fields only the function (the admin) writes
    ("owner", "PUT", f"/tickets/{OWNED}/enrichment", {"priority": "P1"}, False),
    ("agent", "PUT", f"/tickets/{OWNED}/enrichment/priority", "P1", False),
    ("owner", "PUT", f"/tickets/{OWNED}/enrichment_error", {"message": "x"}, False),
    ("other", "PUT", f"/tickets/{OWNED}/helpdesk", {"id": 9}, False),
    ("owner", "PUT", f"/tickets/{OWNED}/resolution", {"status": "solved"}, False),
    ("owner", "PUT", f"/tickets/{OWNED}/done_at", 1, False),
    ("agent", "PATCH", f"/tickets/{OWNED}", {"status": "closed", "done_at": 1}, False),
    ("owner", "POST", "/tickets", ticket(ALICE, done_at=1), False),
    ("admin", "PATCH", f"/tickets/{OWNED}", {"status": "closed", "done_at": 1, "resolution/status": "closed"}, True),
    ("admin", "PUT", f"/tickets/{OWNED}/enrichment", {"priority": "P1"}, True),
    # multi-path updates are all or nothing
    ("owner", "PATCH", "/tickets", {NEW_ID: ticket(ALICE), f"{OWNED}/subject": "x"}, False),
    ("owner", "PATCH", "/", {f"tickets/{NEW_ID}": ticket(ALICE), "config/x": 2}, False),
    # read one
    ("owner", "GET", f"/tickets/{OWNED}", None, True),
    ("owner", "GET", f"/tickets/{OWNED}/enrichment", None, True),
    ("other", "GET", f"/tickets/{OWNED}", None, False),
    ("anonymous", "GET", f"/tickets/{OWNED}", None, False),
    ("agent", "GET", f"/tickets/{OWNED}", None, True),
    ("admin", "GET", f"/tickets/{OWNED}", None, True),
    ("owner", "GET", f"/tickets/{OTHER}/subject", None, False),
    # list
    ("agent", "GET", "/tickets", None, True),
    ("owner", "GET", "/tickets", None, False),
    ("other", "GET", "/tickets", None, False),
    ("anonymous", "GET", "/tickets", None, False),
    ("owner", "GET", '/tickets?orderBy="uid"&equalTo="alice-uid"', None, False),  # rules are not filters
    ("agent", "GET", '/tickets?orderBy="created_at"&limitToLast=1', None, True),
    # the agent queue's queries (web/js/queue.js): open tickets, and a page of done ones, newest first
    *[(who, "GET", query, None, who == "agent")
      for query in (OPEN_QUERY, DONE_PAGE_QUERY, DONE_NEXT_PAGE_QUERY)
      for who in ("agent", "owner", "other", "anonymous", "signed-in")],
    # anything else
    ("agent", "GET", "/", None, False),
    ("owner", "GET", "/config", None, False),
    ("owner", "PUT", "/config/x", 2, False),
    ("anonymous", "PUT", "/elsewhere", 1, False),
    ("admin", "GET", "/", None, True),
]


def _call(emu, who, method, path, body):
    base, _, query = path.partition("?")
    url = f"{emu.url}{base.rstrip('/') or '/'}.json" + (f"?{query}" if query else "")
    headers = ADMIN if who == "admin" else {}
    params = WHO.get(who, {})
    data = None if body is None else json.dumps(body)
    return requests.request(method, url, params=params, data=data, headers=headers)


def test_matrix_has_enough_cases():
    assert len(CASES) >= 40
    assert {c[0] for c in CASES} >= {"anonymous", "owner", "other", "agent", "admin"}


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}-{c[1]}-{c[2]}-{i}" for i, c in enumerate(CASES)])
def test_rules(seeded, case):
    who, method, path, body, allowed = case
    before = snapshot(seeded)
    r = _call(seeded, who, method, path, body)
    if allowed:
        assert r.status_code == 200, r.text
    else:
        assert r.status_code == 401, r.text
        assert r.json() == {"error": "Permission denied"}
        assert snapshot(seeded) == before


def test_created_ticket_is_readable_by_its_creator_only(seeded):
    name = _call(seeded, "owner", "POST", "/tickets", ticket(ALICE)).json()["name"]
    assert _call(seeded, "owner", "GET", f"/tickets/{name}", None).json()["uid"] == ALICE
    assert _call(seeded, "other", "GET", f"/tickets/{name}", None).status_code == 401
    created = requests.get(f"{seeded.url}/tickets/{name}/created_at.json", headers=ADMIN).json()
    assert abs(created - time.time() * 1000) < 60_000


def test_streams_are_checked_and_cancelled_when_access_is_lost(seeded):
    denied = requests.get(f"{seeded.url}/tickets/{OTHER}.json", params=WHO["owner"],
                          headers={"Accept": "text/event-stream"}, stream=True)
    assert denied.status_code == 401
    agent_list = requests.get(f"{seeded.url}/tickets.json", params=WHO["agent"],
                              headers={"Accept": "text/event-stream"}, stream=True)
    assert agent_list.status_code == 200
    agent_list.close()
    with requests.get(f"{seeded.url}/tickets/{OWNED}.json", params=WHO["owner"],
                      headers={"Accept": "text/event-stream"}, stream=True) as stream:
        assert stream.status_code == 200
        lines = stream.iter_lines()
        assert next(lines) == b"event: put"
        requests.put(f"{seeded.url}/tickets/{OWNED}/uid.json", json=BOB, headers=ADMIN)  # no longer alice's
        seen = []
        deadline = time.monotonic() + 5
        for line in lines:
            seen.append(line)
            if line == b"event: cancel" or time.monotonic() > deadline:
                break
        assert b"event: cancel" in seen


def test_rules_reload_live_and_invalid_rules_are_refused(seeded):
    url = f"{seeded.url}/.settings/rules.json"
    original = requests.get(url, headers=ADMIN).text
    try:
        r = requests.put(url, data='{"rules": {\n  ".read": "auth != null &&"\n}}', headers=ADMIN)
        assert r.status_code == 400 and "line 2" in r.json()["error"]
        assert _call(seeded, "owner", "GET", "/config", None).status_code == 401
        requests.put(url, data='{"rules": {".read": "auth != null"}}', headers=ADMIN).raise_for_status()
        assert _call(seeded, "owner", "GET", "/config", None).status_code == 200
    finally:
        requests.put(url, data=original, headers=ADMIN).raise_for_status()


def test_auth_variable_override(seeded):
    override = json.dumps({"uid": ALICE})
    r = requests.get(f"{seeded.url}/tickets/{OWNED}.json", params={"auth_variable_override": override}, headers=ADMIN)
    assert r.status_code == 200
    r = requests.get(f"{seeded.url}/tickets/{OTHER}.json", params={"auth_variable_override": override}, headers=ADMIN)
    assert r.status_code == 401
    r = requests.get(f"{seeded.url}/tickets/{OWNED}.json", params={"auth_variable_override": "null"}, headers=ADMIN)
    assert r.status_code == 401


def test_rules_file_edits_reload(tmp_path):
    rules = tmp_path / "database.rules.json"
    rules.write_text('{"rules": {".read": false, ".write": false}}')
    (tmp_path / "firebase.json").write_text(json.dumps({"database": {"rules": "database.rules.json"}}))
    emu = start_emulator(config=tmp_path / "firebase.json")
    try:
        assert requests.get(f"{emu.url}/x.json").status_code == 401
        time.sleep(0.05)
        rules.write_text('{"rules": {".read": true, ".write": false}}')
        wait_for(lambda: requests.get(f"{emu.url}/x.json").status_code == 200, timeout=10, what="reloaded rules")
        rules.write_text('{"rules": {".read": "auth.uid ==="}}')  # broken edit: kept the previous rules
        wait_for(lambda: "Kept the previous rules" in emu.output, timeout=10, what="refusal of the broken file")
        assert requests.get(f"{emu.url}/x.json").status_code == 200
    finally:
        emu.stop()


@pytest.mark.parametrize("who,method,path,body", [
    ("anonymous", "PUT", "/", {"x": 1}),
    ("anonymous", "DELETE", f"/tickets/{OTHER}", None),
    ("other", "PUT", f"/tickets/{OWNED}", ticket(BOB)),
    ("owner", "PATCH", f"/tickets/{OTHER}", {"subject": "x"}),
    ("agent", "PUT", f"/tickets/{OWNED}/enrichment", {"priority": "P1"}),
])
def test_a_refused_conditional_write_is_denied_and_reveals_nothing(seeded, who, method, path, body):
    """An if-match write is judged by the rules before its ETag: a 412 would carry the current value."""
    before = snapshot(seeded)
    base = path.rstrip("/") or "/"
    r = requests.request(method, f"{seeded.url}{base}.json", params=WHO.get(who, {}),
                         data=None if body is None else json.dumps(body), headers={"if-match": "bogus-etag"})
    assert r.status_code == 401, r.text
    assert r.json() == {"error": "Permission denied"}
    assert "Cannot log in" not in r.text and "ETag" not in r.headers
    assert snapshot(seeded) == before


def test_a_conditional_write_the_rules_allow_but_cannot_read_gets_412_without_the_value(seeded):
    """alice may create the ticket but not read someone else's: a stale ETag says "changed" and no more."""
    requests.put(f"{seeded.url}/tickets/{NEW_ID}.json", json={**ticket(BOB), "created_at": 3},
                 headers=ADMIN).raise_for_status()
    requests.put(f"{seeded.url}/.settings/rules.json", headers=ADMIN,
                 data='{"rules": {"tickets": {"$id": {".write": "auth != null"}}}}').raise_for_status()
    try:
        before = snapshot(seeded)
        r = requests.put(f"{seeded.url}/tickets/{NEW_ID}.json", params=WHO["owner"], data=json.dumps({"a": 1}),
                         headers={"if-match": "bogus-etag"})
        assert r.status_code == 412
        assert "ETag mismatch" in r.json()["error"] and "Cannot log in" not in r.text
        assert r.headers["ETag"]
        assert snapshot(seeded) == before
        admin = requests.put(f"{seeded.url}/tickets/{NEW_ID}.json", data=json.dumps({"a": 1}),
                             headers={**ADMIN, "if-match": "bogus-etag"})
        assert admin.status_code == 412 and admin.json()["subject"] == "Cannot log in"  # a reader sees the value
    finally:
        requests.put(f"{seeded.url}/.settings/rules.json", headers=ADMIN,
                     data=(ROOT / "database.rules.json").read_text()).raise_for_status()
        requests.delete(f"{seeded.url}/tickets/{NEW_ID}.json", headers=ADMIN).raise_for_status()


def _query(emu, who, query):
    base, _, params = query.partition("?")
    return requests.get(f"{emu.url}{base}.json?{params}", params=WHO[who], timeout=10)


def test_the_queue_queries_return_the_open_tickets_and_done_ones_newest_first_without_an_index_warning(seeded):
    done = {f"-Ndone{i:015d}": {**ticket(ALICE), "created_at": i, "status": "closed", "done_at": 1000 + i}
            for i in range(3)}
    requests.patch(f"{seeded.url}/tickets.json", json=done, headers=ADMIN).raise_for_status()  # seeded resets it
    assert set(_query(seeded, "agent", OPEN_QUERY).json()) == {OWNED, OTHER}
    page = _query(seeded, "agent", '/tickets?orderBy="done_at"&startAt=0&limitToLast=2').json()
    assert set(page) == {"-Ndone000000000000002", "-Ndone000000000000001"}  # open tickets (no done_at) never
    older = _query(seeded, "agent", '/tickets?orderBy="done_at"&startAt=0&endAt=1001&limitToLast=3').json()
    assert set(older) == {"-Ndone000000000000001", "-Ndone000000000000000"}
    assert "Using an unspecified index" not in seeded.output  # .indexOn covers both orderings


def test_the_open_query_streams_to_an_agent_only_and_a_closed_ticket_leaves_it_live(seeded):
    base, _, params = OPEN_QUERY.partition("?")
    url = f"{seeded.url}{base}.json?{params}"
    for who in ("owner", "other", "anonymous", "signed-in"):
        with requests.get(url, params=WHO[who], headers={"Accept": "text/event-stream"}, stream=True) as refused:
            assert refused.status_code == 401, who
    with requests.get(url, params=WHO["agent"], headers={"Accept": "text/event-stream"}, stream=True,
                      timeout=10) as stream:
        assert stream.status_code == 200
        events = _sse(stream.iter_lines())
        assert set(next(events)["data"]) == {OWNED, OTHER}
        requests.patch(f"{seeded.url}/tickets/{OTHER}.json", json={"status": "closed", "done_at": 5},
                       headers=ADMIN).raise_for_status()
        event = next(events)
        # The whole window again (path "/") or the child that left (its path, null): either says OTHER is gone.
        if event["path"] == "/":
            assert set(event["data"]) == {OWNED}
        else:
            assert event == {"path": f"/{OTHER}", "data": None}


def _sse(lines):
    """The put/patch payloads of an SSE stream, in order (keep-alives skipped)."""
    name = None
    for line in lines:
        if line.startswith(b"event: "):
            name = line[7:].decode()
        elif line.startswith(b"data: ") and name in ("put", "patch"):
            yield json.loads(line[6:])
