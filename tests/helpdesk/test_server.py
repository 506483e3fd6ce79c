"""The real server process (``python -m helpdesk --port 0``) driven over HTTP with requests."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from helpdesk.signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from tests.helpdesk.conftest import TOKEN, WEBHOOK_SECRET, ServerProcess, server_env, wait_for


def _create(live, **fields):
    body = {"ticket": {"subject": "Cannot log in", "comment": {"body": "Password rejected."}, **fields}}
    return live.api("POST", "/api/v2/tickets", json=body)


def _hooks_for(receiver, ticket_id):
    return [r for r in list(receiver.requests) if json.loads(r["body"])["ticket"]["id"] == ticket_id]


def test_ready_line_points_at_a_working_server(live):
    assert requests.get(live.url + "/healthz", timeout=5).json() == {"ok": True}


def test_create_show_update_list_and_lookup(live):
    created = _create(live, external_id="push-1", priority="normal", requester={"name": "Bo", "email": "bo@x.io"})
    assert created.status_code == 201
    ticket = created.json()["ticket"]
    assert ticket["url"] == f"{live.url}/api/v2/tickets/{ticket['id']}.json"
    assert live.api("GET", f"/api/v2/tickets/{ticket['id']}.json").json()["ticket"] == ticket
    updated = live.api("PUT", f"/api/v2/tickets/{ticket['id']}", json={"ticket": {"priority": "urgent"}})
    assert updated.json()["ticket"]["priority"] == "urgent"
    listed = live.api("GET", "/api/v2/tickets.json").json()
    assert listed["count"] == 1 and listed["tickets"][0]["priority"] == "urgent"
    found = live.api("GET", "/api/v2/tickets", params={"external_id": "push-1"}).json()
    assert [t["id"] for t in found["tickets"]] == [ticket["id"]]


def test_idempotent_create_by_key_but_not_by_external_id(live):
    headers = {"Idempotency-Key": "evt-123"}
    first = live.api("POST", "/api/v2/tickets", json={"ticket": {"comment": {"body": "a"}}}, headers=headers)
    assert (first.status_code, first.headers["x-idempotency-lookup"]) == (201, "miss")
    replay = live.api("POST", "/api/v2/tickets", json={"ticket": {"comment": {"body": "a"}}}, headers=headers)
    assert replay.headers["x-idempotency-lookup"] == "hit"
    assert replay.json()["ticket"]["id"] == first.json()["ticket"]["id"]
    conflict = live.api("POST", "/api/v2/tickets", json={"ticket": {"comment": {"body": "b"}}}, headers=headers)
    assert conflict.status_code == 400 and conflict.json()["error"] == "IdempotentRequestError"
    one = _create(live, external_id="push-9")
    two = _create(live, external_id="push-9")
    assert (one.status_code, two.status_code) == (201, 201)  # as in Zendesk: external_id is not unique
    assert one.json()["ticket"]["id"] != two.json()["ticket"]["id"]
    assert live.api("GET", "/api/v2/tickets").json()["count"] == 3


def test_authentication_failures_are_401(live):
    for headers in ({}, {"Authorization": "Bearer nope"}):
        response = requests.get(live.url + "/api/v2/tickets", headers=headers, timeout=5)
        assert response.status_code == 401
        assert response.json() == {"error": "Couldn't authenticate you"}
    assert requests.get(live.url + "/api/v2/tickets", auth=("a@b.c/token", "nope"), timeout=5).status_code == 401
    assert live.api("GET", "/api/v2/tickets").status_code == 200
    assert requests.get(live.url + "/api/v2/tickets", auth=("agent@example.com/token", TOKEN), timeout=5).ok


def test_error_shapes_over_http(live):
    assert live.api("GET", "/api/v2/tickets/424242").json() == {"error": "RecordNotFound", "description": "Not found"}
    invalid = _create(live, priority="p0").json()
    assert invalid["error"] == "RecordInvalid"
    assert invalid["details"]["priority"][0]["description"].startswith('Invalid priority: "p0".')
    bad = live.api("POST", "/api/v2/tickets", data=b"{oops", headers={"Content-Type": "application/json"})
    assert bad.status_code == 400 and bad.json()["error"] == "InvalidJSON"


def test_error_rate_half_makes_about_half_fail(live):
    live.api("PUT", "/_stub/faults", json={"error_rate": 0.5, "error_status": 500})
    statuses = [live.api("GET", "/api/v2/tickets").status_code for _ in range(60)]
    assert set(statuses) == {200, 500}
    assert 18 <= statuses.count(500) <= 42


def test_latency_delays_api_requests_only(live):
    live.api("PUT", "/_stub/faults", json={"latency_ms": 300})
    start = time.monotonic()
    live.api("GET", "/api/v2/tickets")
    assert time.monotonic() - start >= 0.3
    start = time.monotonic()
    requests.get(live.url + "/healthz", timeout=5)
    assert time.monotonic() - start < 0.3


def test_requests_are_served_concurrently(live):
    live.api("PUT", "/_stub/faults", json={"latency_ms": 400})
    start = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda _: requests.get(live.url + "/api/v2/tickets", headers=live.session.headers,
                                                     timeout=10).status_code, range(8)))
    assert codes == [200] * 8
    assert time.monotonic() - start < 8 * 0.4 / 2


def test_down_switch_answers_503(live):
    live.api("PUT", "/_stub/faults", json={"down": True})
    assert live.api("GET", "/api/v2/tickets").status_code == 503
    live.api("PUT", "/_stub/faults", json={})
    assert live.api("GET", "/api/v2/tickets").status_code == 200


def test_webhook_on_api_solve_is_signed(live, receiver):
    ticket = _create(live, external_id="push-2").json()["ticket"]
    live.api("PUT", f"/api/v2/tickets/{ticket['id']}", json={"ticket": {"status": "solved"}})
    hook = wait_for(lambda: _hooks_for(receiver, ticket["id"]))[0]
    assert verify_signature(WEBHOOK_SECRET, hook["headers"][TIMESTAMP_HEADER], hook["body"],
                            hook["headers"][SIGNATURE_HEADER])
    payload = json.loads(hook["body"])
    assert payload["event"] == "ticket.solved" and payload["ticket"]["external_id"] == "push-2"


def test_webhook_on_html_solve_is_signed(live, receiver):
    ticket = _create(live).json()["ticket"]
    page = requests.post(f"{live.url}/tickets/{ticket['id']}/solve", data={"next": "/"}, timeout=5)
    assert page.status_code == 200 and page.url == live.url + "/"
    hook = wait_for(lambda: _hooks_for(receiver, ticket["id"]))[0]
    assert verify_signature(WEBHOOK_SECRET, hook["headers"][TIMESTAMP_HEADER], hook["body"],
                            hook["headers"][SIGNATURE_HEADER])
    assert json.loads(hook["body"])["event"] == "ticket.solved"


def test_webhook_is_retried_when_receiver_fails(live, receiver):
    receiver.clear(statuses=[500])
    ticket = _create(live).json()["ticket"]
    live.api("PUT", f"/api/v2/tickets/{ticket['id']}", json={"ticket": {"status": "closed"}})
    hooks = wait_for(lambda: (lambda h: h if len(h) >= 2 else None)(_hooks_for(receiver, ticket["id"])))
    assert [h["status"] for h in hooks] == [500, 200]
    assert hooks[0]["body"] == hooks[1]["body"]

    def delivered():
        log = requests.get(f"{live.url}/_stub/webhooks", params={"ticket_id": ticket["id"]}, timeout=5).json()
        return log if log["deliveries"][0]["state"] == "delivered" else None

    log = wait_for(delivered)
    assert log["count"] == 1 and log["deliveries"][0]["attempts"] == 2


def test_ticket_survives_restart_and_sigint_exits_cleanly(tmp_path):
    server = ServerProcess(tmp_path / "h.sqlite3", tmp_path / "log.txt", server_env()).start()
    ticket = server.api("POST", "/api/v2/tickets", json={"ticket": {"comment": {"body": "keep me"}}}).json()["ticket"]
    assert server.stop(signal.SIGINT) == 0
    server.start()
    try:
        shown = server.api("GET", f"/api/v2/tickets/{ticket['id']}").json()["ticket"]
        assert shown["description"] == "keep me"
    finally:
        assert server.stop(signal.SIGTERM) == 0


def test_port_in_use_exits_2_with_a_clear_message(live, tmp_path):
    port = live.url.rsplit(":", 1)[1]
    result = subprocess.run([sys.executable, "-m", "helpdesk", "--port", port, "--db", str(tmp_path / "x.db")],
                            capture_output=True, text=True, timeout=30, env=server_env())
    assert result.returncode == 2
    assert f'Invalid port: "{port}"' in result.stderr and "already in use" in result.stderr


def test_a_client_connection_is_kept_alive_between_requests_even_after_an_unread_body(live):
    import http.client

    host, port = live.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    body = json.dumps({"ticket": {"subject": "Kept alive", "comment": {"body": "One connection."}}})
    try:
        # Refused before the app reads the body (no token): the next request must still parse cleanly.
        conn.request("POST", "/api/v2/tickets.json", body=body, headers={"Content-Type": "application/json"})
        refused = conn.getresponse()
        refused.read()
        sock = conn.sock
        assert refused.status == 401 and refused.getheader("Connection", "").lower() != "close"
        conn.request("POST", "/api/v2/tickets.json", body=body,
                     headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"})
        created = conn.getresponse()
        assert created.status == 201 and json.loads(created.read())["ticket"]["subject"] == "Kept alive"
        assert conn.sock is sock  # http.client reconnects (a new socket) only after the server closed
    finally:
        conn.close()


def test_an_answer_on_a_kept_alive_connection_does_not_wait_for_the_clients_delayed_ack(tmp_path):
    # Nagle's algorithm held the body, written after the headers, until the client's delayed ACK: 40 ms a call.
    import statistics

    from stack.procs import ManagedProcess

    server = ManagedProcess([sys.executable, "-m", "helpdesk", "--port", "0", "--db", str(tmp_path / "h.sqlite3")],
                            ready=r"listening on (http://[\d.]+:\d+)", env=server_env()).start()
    try:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {TOKEN}"
        url = server.match.group(1) + "/api/v2/tickets.json"
        session.get(url, timeout=5).raise_for_status()
        times = []
        for _ in range(7):
            started = time.perf_counter()
            session.get(url, params={"external_id": "none"}, timeout=5).raise_for_status()
            times.append(time.perf_counter() - started)
    finally:
        server.stop()
    assert statistics.median(times) < 0.025, times
