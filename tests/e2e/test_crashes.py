"""Crashes and a misbehaving helpdesk in the middle of a burst: every ticket enriched and forwarded exactly once.

The burst size is FAULT_TICKETS (default 300 in `make test`; `FAULT_TICKETS=1000` is the long variant).
"""

import os
import threading
import time
from collections import Counter

import pytest
import requests

from stack.procs import wait_for
from stack.tokens import user_token
from tests.e2e.conftest import HELPDESK_AUTH, Client, start_stack, valid_ticket

TICKETS = int(os.environ.get("FAULT_TICKETS", "300"))
SUBMITTERS = 6


class Burst:
    """Customers submitting tickets concurrently; a failed submission is retried until acknowledged."""

    def __init__(self, db_url: str, total: int):
        self.db_url, self.total = db_url, total
        self.acked: list[str] = []
        self.failures = 0
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(w,)) for w in range(SUBMITTERS)]

    def start(self) -> "Burst":
        for t in self.threads:
            t.start()
        return self

    def _run(self, worker: int) -> None:
        token = user_token(f"burst-{worker}")
        with requests.Session() as http:
            for n in range(worker, self.total, SUBMITTERS):
                deadline = time.monotonic() + 90
                while True:
                    try:
                        r = http.post(f"{self.db_url}/tickets.json", params={"auth": token}, timeout=10,
                                      json={**valid_ticket(subject=f"Burst ticket {n}"), "uid": f"burst-{worker}"})
                        if r.status_code == 200:
                            with self.lock:
                                self.acked.append(r.json()["name"])
                            break
                    except requests.RequestException:
                        pass
                    with self.lock:
                        self.failures += 1
                    if time.monotonic() > deadline:
                        raise AssertionError(f"ticket {n} could not be submitted for 90 s")
                    time.sleep(0.2)

    def wait_for(self, count: int) -> None:
        wait_for(lambda: len(self.acked) >= count, timeout=60, what=f"{count} acknowledged tickets")

    def join(self) -> None:
        for t in self.threads:
            t.join()


def assert_all_forwarded_exactly_once(client: Client, acked: list[str], timeout: float = 120) -> None:
    def done():
        tickets = client.http.get(f"{client.db}/tickets.json").json() or {}
        ok = all("helpdesk" in tickets.get(t, {}) for t in acked)
        return tickets if ok and all("helpdesk" in t for t in tickets.values()) else None

    try:
        tickets = wait_for(done, timeout=timeout, interval=0.5, what="every ticket forwarded")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{_diagnosis(client, acked)}") from None
    assert set(acked) <= set(tickets), "an acknowledged ticket was lost"
    desk, page = [], 1
    while page:
        body = client.http.get(f"{client.desk}/api/v2/tickets.json", params={"page": page, "per_page": 100},
                               headers=HELPDESK_AUTH).json()
        desk += body["tickets"]
        page = page + 1 if body["next_page"] else None
    per_ticket = Counter(t["external_id"] for t in desk)
    duplicates = {k: v for k, v in per_ticket.items() if v > 1}
    assert not duplicates, f"forwarded more than once: {list(duplicates.items())[:5]}"
    assert set(per_ticket) == set(tickets), "a database ticket has no helpdesk ticket, or the reverse"
    for ticket_id, t in tickets.items():
        assert t["enrichment"]["input_hash"] == t["helpdesk"]["input_hash"], ticket_id


def _diagnosis(client: Client, acked: list[str]) -> str:
    """What a stuck burst looks like: the tickets not forwarded, the delivery backlog, the function's last words."""
    tickets = client.http.get(f"{client.db}/tickets.json").json() or {}
    stuck = {k: v for k, v in tickets.items() if "helpdesk" not in v}
    lost = [t for t in acked if t not in tickets]
    sample = {k: {f: v.get(f) for f in ("enrichment_error", "helpdesk_error") if f in v} | {"enriched": "enrichment" in v}
              for k, v in list(stuck.items())[:5]}
    metrics = [l for l in client.http.get(f"{client.db}/metrics").text.splitlines()
               if l.startswith(("rtdb_events_", "rtdb_outbox")) and "_bucket" not in l]
    dead = client.http.get(f"{client.db}/.settings/deadLetters.json").text[:1000]
    lines = client.stack.procs["enrich"].lines
    function = "".join([l for l in lines if any(t in l for t in list(stuck)[:5])] or lines[-40:])
    return (f"{len(stuck)} not forwarded, {len(lost)} lost; sample {sample}\nemulator: {metrics}\n"
            f"dead letters: {dead}\nfunction (exit {client.stack.procs['enrich'].proc.poll()}):\n{function}")


@pytest.mark.parametrize("victim", ["database", "enrich"])
def test_kill_9_mid_burst_loses_nothing_and_duplicates_nothing(tmp_path, model_dir, victim):
    stack = start_stack(tmp_path, model_dir, max_attempts=1000, min_backoff_s=0.1, max_backoff_s=1.0)
    client = Client(stack)
    try:
        burst = Burst(stack.urls["database"], TICKETS).start()
        burst.wait_for(TICKETS // 2)
        stack.stop_one(victim, kill=True)
        time.sleep(1.0)
        stack.start_again(victim)
        burst.join()
        assert len(burst.acked) == TICKETS
        assert_all_forwarded_exactly_once(client, burst.acked)
    finally:
        stack.stop()


def test_helpdesk_failing_or_timing_out_on_half_its_calls(tmp_path, model_dir):
    stack = start_stack(tmp_path, model_dir, max_attempts=1000, min_backoff_s=0.1, max_backoff_s=1.0,
                        env={"HELPDESK_TIMEOUT_S": "1"})
    client = Client(stack)
    try:
        # A quarter of the calls answer 500; every fourth is delayed past the function's 1 s timeout
        # (the stub still performs it afterwards: a create can succeed although the caller gave up).
        requests.put(f"{client.desk}/_stub/faults", json={"error_rate": 0.25, "latency_ms": 1500, "slow_every": 4,
                                                           "seed": 7}).raise_for_status()
        burst = Burst(stack.urls["database"], TICKETS // 3).start()
        burst.join()
        time.sleep(5)
        requests.put(f"{client.desk}/_stub/faults", json={}).raise_for_status()
        assert_all_forwarded_exactly_once(client, burst.acked)
        metrics = requests.get(f"{client.db}/metrics").text
        retried = [l for l in metrics.splitlines() if l.startswith("rtdb_events_retried_total")]
        assert float(retried[0].split()[-1]) > 0  # the faults really happened
    finally:
        stack.stop()


def test_a_slow_helpdesk_call_does_not_hold_up_other_tickets(tmp_path, model_dir):
    stack = start_stack(tmp_path, model_dir)
    client = Client(stack)
    try:
        requests.put(f"{client.desk}/_stub/faults", json={"latency_ms": 5000, "slow_every": 1}).raise_for_status()
        slow = client.submit(valid_ticket(subject="The slow one"))
        wait_for(lambda: "enrichment" in client.ticket(slow), timeout=10, what="slow ticket enriched")
        time.sleep(0.3)  # its helpdesk call is now hanging for 5 s
        requests.put(f"{client.desk}/_stub/faults", json={}).raise_for_status()
        started = time.monotonic()
        others = [client.submit(valid_ticket(subject=f"Fast {i}")) for i in range(10)]
        for ticket_id in others:
            client.wait_ticket(ticket_id, lambda t: "helpdesk" in t, timeout=10, what="fast ticket forwarded")
        assert time.monotonic() - started < 4.5, "other tickets waited for the slow helpdesk call"
        assert "helpdesk" not in client.ticket(slow)  # still waiting on its own call
        client.wait_ticket(slow, lambda t: "helpdesk" in t, timeout=30, what="slow ticket forwarded at last")
    finally:
        stack.stop()
