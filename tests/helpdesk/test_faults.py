"""Fault switches: deterministic error rate, latency, outage; only on /api/v2, off after reset."""

from __future__ import annotations

import time

import pytest

from tests.helpdesk.conftest import AUTH


def _statuses(client, n):
    return [client.get("/api/v2/tickets", headers=AUTH).status_code for _ in range(n)]


def test_defaults_are_all_off(client):
    assert client.get("/_stub/faults").get_json() == {
        "error_rate": 0.0, "error_status": 500, "latency_ms": 0, "slow_every": 0, "down": False, "seed": 0}


def test_error_rate_is_repeatable_for_a_seed(client):
    client.put("/_stub/faults", json={"error_rate": 0.5, "error_status": 502, "seed": 7})
    first = _statuses(client, 40)
    client.put("/_stub/faults", json={"error_rate": 0.5, "error_status": 502, "seed": 7})
    assert _statuses(client, 40) == first
    assert set(first) == {200, 502} and 10 <= first.count(502) <= 30


def test_injected_errors_have_a_json_body_and_429_retry_after(client):
    client.put("/_stub/faults", json={"error_rate": 1, "error_status": 429})
    response = client.get("/api/v2/tickets", headers=AUTH)
    assert response.status_code == 429 and response.headers["Retry-After"] == "1"
    assert response.get_json()["error"] == "InjectedFault"


def test_down_answers_503_and_closes(client):
    client.put("/_stub/faults", json={"down": True})
    response = client.get("/api/v2/tickets", headers=AUTH)
    assert response.status_code == 503 and response.headers["Connection"] == "close"
    assert client.get("/healthz").status_code == 200
    assert client.get("/api/v2/openapi.json").status_code == 200


def test_latency_and_slow_every(client):
    client.put("/_stub/faults", json={"latency_ms": 150, "slow_every": 2})
    durations = []
    for _ in range(4):
        start = time.monotonic()
        client.get("/api/v2/tickets", headers=AUTH)
        durations.append(time.monotonic() - start)
    assert [d >= 0.14 for d in durations] == [False, True, False, True]


def test_reset_turns_faults_off_and_wipes_data(client):
    client.post("/api/v2/tickets", json={"ticket": {"comment": {"body": "x"}}}, headers=AUTH)
    client.put("/_stub/faults", json={"down": True})
    assert client.post("/_stub/reset").get_json() == {"ok": True}
    response = client.get("/api/v2/tickets", headers=AUTH)
    assert response.status_code == 200 and response.get_json()["count"] == 0


@pytest.mark.parametrize("body", [{"error_rate": 2}, {"error_status": 200}, {"down": "yes"},
                                  {"latency_ms": -1}, {"surprise": 1}, [1], {"error_rate": True}])
def test_invalid_switches_are_400(client, body):
    response = client.put("/_stub/faults", json=body)
    assert response.status_code == 400
    assert response.get_json()["description"].startswith("Invalid ")
