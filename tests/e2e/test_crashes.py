"""Crashes and a misbehaving helpdesk in the middle of a burst: every ticket enriched and forwarded exactly once.

The burst size is FAULT_TICKETS (default 300 in `make test`; `FAULT_TICKETS=1000` is the long variant).
The burst, the fault injection and the exactly-once check live in bench/burst.py, shared with the fault
benchmark (`python -m bench.faults`), which runs the same scenarios with 1,000 tickets and reports figures.
"""

import os
import time

import pytest
import requests

from bench.burst import (Burst, diagnosis, emulator_counts, exactly_once, helpdesk_faults, helpdesk_tickets,
                         kill_and_restart, wait_forwarded)
from stack.procs import wait_for
from tests.e2e.conftest import Client, start_stack, valid_ticket

TICKETS = int(os.environ.get("FAULT_TICKETS", "300"))


def assert_all_forwarded_exactly_once(stack, acked: list[str], timeout: float = 120) -> None:
    tickets = wait_forwarded(stack, timeout=timeout)
    assert tickets is not None, f"timed out after {timeout}s waiting for every ticket forwarded\n{diagnosis(stack, acked)}"
    problems = exactly_once(acked, tickets, helpdesk_tickets(stack))["problems"]
    assert not problems, problems


@pytest.mark.parametrize("victim", ["database", "enrich"])
def test_kill_9_mid_burst_loses_nothing_and_duplicates_nothing(tmp_path, model_dir, victim):
    stack = start_stack(tmp_path, model_dir, max_attempts=1000, min_backoff_s=0.1, max_backoff_s=1.0)
    try:
        burst = Burst(stack.urls["database"], TICKETS).start()
        burst.wait_for(TICKETS // 2)
        kill_and_restart(stack, victim, down_s=1.0)
        burst.join()
        assert len(burst.acked) == TICKETS and not burst.gave_up
        assert_all_forwarded_exactly_once(stack, burst.acked)
    finally:
        stack.stop()


def test_helpdesk_failing_or_timing_out_on_half_its_calls(tmp_path, model_dir):
    stack = start_stack(tmp_path, model_dir, max_attempts=1000, min_backoff_s=0.1, max_backoff_s=1.0,
                        env={"HELPDESK_TIMEOUT_S": "1"})
    try:
        # A quarter of the calls answer 500; every fourth is delayed past the function's 1 s timeout
        # (the stub still performs it afterwards: a create can succeed although the caller gave up).
        helpdesk_faults(stack, error_rate=0.25, latency_ms=1500, slow_every=4, seed=7)
        burst = Burst(stack.urls["database"], TICKETS // 3).start()
        burst.join()
        time.sleep(5)
        helpdesk_faults(stack)
        assert len(burst.acked) == TICKETS // 3 and not burst.gave_up
        assert_all_forwarded_exactly_once(stack, burst.acked)
        assert emulator_counts(stack)["retried"] > 0  # the faults really happened
    finally:
        stack.stop()


def test_a_slow_helpdesk_call_does_not_hold_up_other_tickets(tmp_path, model_dir):
    stack = start_stack(tmp_path, model_dir)
    client = Client(stack)
    try:
        helpdesk_faults(stack, latency_ms=5000, slow_every=1)
        slow = client.submit(valid_ticket(subject="The slow one"))
        wait_for(lambda: "enrich_predictions_total 1.0" in requests.get(stack.metrics_url("enrich")).text,
                 timeout=10, what="slow ticket predicted")
        time.sleep(0.3)  # its helpdesk call is now hanging for 5 s; the write-back waits for it
        helpdesk_faults(stack)
        started = time.monotonic()
        others = [client.submit(valid_ticket(subject=f"Fast {i}")) for i in range(10)]
        for ticket_id in others:
            client.wait_ticket(ticket_id, lambda t: "helpdesk" in t, timeout=10, what="fast ticket forwarded")
        assert time.monotonic() - started < 4.5, "other tickets waited for the slow helpdesk call"
        assert "enrichment" not in client.ticket(slow)  # still waiting on its own call
        client.wait_ticket(slow, lambda t: "helpdesk" in t, timeout=30, what="slow ticket forwarded at last")
    finally:
        stack.stop()
