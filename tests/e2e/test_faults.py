"""Nothing is lost when the helpdesk or the function is down: delivery waits, retries, dead-letters, replays."""

import subprocess
import time

import pytest

from bench.report import metric
from stack.procs import PYTHON, ROOT, wait_for
from tests.e2e.conftest import Client, start_stack, valid_ticket

HELPDESK_DOWN_S = 20


def forwarded(t):
    return "helpdesk" in t and t["helpdesk"]["input_hash"] == t.get("enrichment", {}).get("input_hash")


def test_helpdesk_down_for_20s_every_ticket_arrives_exactly_once(tmp_path, model_dir):
    stack = start_stack(tmp_path, model_dir, max_attempts=100, min_backoff_s=0.2, max_backoff_s=2.0)
    client = Client(stack)
    try:
        desk = stack.procs["helpdesk"]
        desk.stop()
        started = time.monotonic()
        ids = []
        while time.monotonic() - started < HELPDESK_DOWN_S:
            ids.append(client.submit(valid_ticket(subject=f"Ticket {len(ids)} while the helpdesk is down")))
            time.sleep(1.0)
        enriched = [client.ticket(i) for i in ids]
        assert all("enrichment" in t and "helpdesk" not in t for t in enriched)  # enriched, waiting to forward
        stack.restart("helpdesk")
        for ticket_id in ids:
            client.wait_ticket(ticket_id, forwarded, timeout=30, what=f"{ticket_id} forwarded after recovery")
        for ticket_id in ids:
            assert len(client.desk_tickets(ticket_id)) == 1, ticket_id
        assert client.desk_count() == len(ids)
        logs = _json_lines(stack.procs["enrich"].output)
        retried = [e for e in logs if e.get("outcome") == "transient_failure" and e.get("ticket_id") in ids]
        assert retried and all(e["severity"] == "WARNING" and "helpdesk" in e["error"].lower() for e in retried)
        done = [e for e in logs if e.get("outcome") == "forwarded" and e.get("ticket_id") in ids]
        assert {e["ticket_id"] for e in done} == set(ids)
        assert all(e["severity"] == "INFO" and e["model_version"] and "helpdesk" in e["timings_ms"] for e in done)
    finally:
        stack.stop()


def test_function_down_events_wait_then_dead_letter_then_replay(tmp_path, model_dir):
    stack = start_stack(tmp_path, model_dir, max_attempts=100, min_backoff_s=0.2, max_backoff_s=0.5)
    client = Client(stack)
    try:
        stack.procs["enrich"].stop()
        waiting = client.submit(valid_ticket(subject="Submitted while the function is down"))
        wait_for(lambda: _metric(stack, "rtdb_events_retried_total") >= 3, timeout=20, what="retries while down")
        assert "enrichment" not in client.ticket(waiting)
        stack.restart("enrich")
        client.wait_ticket(waiting, forwarded, what="delivery after the function came back")
        # The helpdesk link's own write-back event must be delivered too, or it dead-letters below.
        wait_for(lambda: _outbox_pending(stack) == 0, timeout=20, what="an empty outbox")

        stack.max_attempts = 4  # now let attempts run out quickly
        stack.register_trigger()
        stack.procs["enrich"].stop()
        lost = [client.submit(valid_ticket(subject=f"Dead letter {i}")) for i in range(3)]
        letters = wait_for(lambda: _dead_letters(stack), timeout=20, what="dead letters")
        wait_for(lambda: len(_dead_letters(stack)) == 3, timeout=20, what="three dead letters")
        listing = _cli(stack, "list")
        assert all(f"refs/tickets/{t}" in listing for t in lost) and "unreachable" in listing
        assert all("enrichment" not in client.ticket(t) for t in lost)

        stack.restart("enrich")
        time.sleep(1.0)
        assert all("enrichment" not in client.ticket(t) for t in lost)  # dead letters wait for a replay
        assert '"replayed": 3' in _cli(stack, "replay")
        for ticket_id in lost:
            client.wait_ticket(ticket_id, forwarded, what="forwarded after replay")
        assert _dead_letters(stack) == []
        assert all(len(client.desk_tickets(t)) == 1 for t in lost + [waiting])
        assert letters
    finally:
        stack.stop()


def _json_lines(output: str) -> list[dict]:
    """The function's structured log entries (Cloud Logging's JSON lines) in a process's output."""
    import json
    entries = []
    for line in output.splitlines():
        try:
            entry = json.loads(line[line.index("{"):]) if "{" in line else None
        except ValueError:
            continue
        if isinstance(entry, dict) and "severity" in entry:
            entries.append(entry)
    return entries


def _dead_letters(stack):
    import requests
    return requests.get(f"{stack.urls['database']}/.settings/deadLetters.json",
                        headers={"Authorization": "Bearer owner"}).json()


def _metric(stack, name):
    import requests
    return metric(requests.get(f"{stack.urls['database']}/metrics", timeout=5).text, name)


def _outbox_pending(stack):
    return _metric(stack, "rtdb_outbox_pending")


def _cli(stack, action):
    result = subprocess.run([PYTHON, "-m", "emulator", "dead-letters", action, "--url", stack.urls["database"]],
                            cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return result.stdout
