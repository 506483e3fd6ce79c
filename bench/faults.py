"""Faults in the middle of a burst, at benchmark length: every ticket enriched and forwarded exactly once.

Run: `python -m bench.faults [--tickets 1000] [--rate R] [--only NAME ...] [--out bench/results/faults.json]`.
Each scenario starts its own stack (real processes on free ports, a temp data dir, the shipped model),
submits a burst of `--tickets` tickets from concurrent customers (bench/burst.py, as the fault tests
do), injects its fault, waits until every ticket carries its helpdesk link and checks the helpdesk
against the database. The short versions of the same scenarios are tests/e2e/test_crashes.py.

Scenarios:
  emulator-kill     kill -9 of the database emulator once half the burst is acknowledged; restarted 1 s later
  function-kill     the same for the enrich function
  helpdesk-500      from half the burst acknowledged, for 10 s, the helpdesk answers half its calls with 500
  helpdesk-timeout  the same, but every second call is delayed 1.5 s past the function's 1 s timeout
                    (the stub still performs it: a ticket can be created although the caller gave up)
  slow-call         one helpdesk call hangs for 5 s; the burst is submitted meanwhile

Figures (one clock: `time.time()` here, the database's server timestamps, the function's write-back times):
  fault_s          how long the fault lasted (kill -> restarted process serving; faults on -> off; the slow call)
  resumed_s        from the fault to the first ticket forwarded after it ended ("-": all got through during it)
  recovery_s       from the fault until every ticket written before its end was forwarded (its backlog drained)
  burst_s          from the burst's start to its last ticket forwarded
  duplicates       database tickets with more than one helpdesk ticket (the stub, like Zendesk, does not
                   refuse a second create with the same external_id)
  submit_retries   submissions the customers saw fail and retried; client_outage_s: first to last failure
  events_retried / events_dead_lettered   the emulator's /metrics counters (summed over an emulator restart)
  slow-call only: the enrichment latency (write -> enrichment computed) of the tickets written while the
  slow call was in flight (a burst's backlog is in it too), and the other tickets forwarded per second
  while it was in flight and after it returned: a call that held up the others would show as a stall.
A scenario FAILED when a ticket was lost, forwarded twice or not at all, created twice, a customer gave up,
or its fault did not observably happen; the others still run, and the exit code is then 1.
"""

import argparse
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import requests

from bench.burst import (Burst, database_tickets, diagnosis, emulator_counts, exactly_once,
                         helpdesk_faults, helpdesk_tickets, kill_and_restart, wait_forwarded)
from bench.report import machine, pct, save, table
from stack import Ports, Stack
from stack.procs import ROOT, wait_for

DOWN_S = 1.0  # a killed process stays down this long before it is started again
HELPDESK_FAULT_S = 10.0
SLOW_CALL_MS = 5000
POLICY = {"max_attempts": 1000, "min_backoff_s": 0.1, "max_backoff_s": 1.0}  # delivery retries, as the tests'


@dataclass
class Fault:
    """What a scenario did: its bursts and, as `time.time()`, when the burst started and the fault began and ended."""

    rate: float | None = None  # the customers' pace, tickets a second in all (None: as fast as acknowledged)
    bursts: list[Burst] = field(default_factory=list)
    burst_at: float = 0.0
    fault_at: float | None = None
    cleared_at: float | None = None
    counts_before: dict = field(default_factory=dict)  # the emulator's counters just before it was killed
    slow_ticket: str | None = None

    def burst(self, stack: Stack, total: int) -> Burst:
        """Start a burst of `total` tickets; it is stopped with the scenario's stack, even if the scenario fails."""
        burst = Burst(stack.urls["database"], total, self.rate).start()
        self.bursts.append(burst)
        return burst


def kill(victim: str):
    """Scenario: kill -9 `victim` once half the burst is acknowledged, start it again DOWN_S later."""
    def run(stack: Stack, tickets: int, fault: Fault) -> None:
        fault.burst_at = time.time()
        burst = fault.burst(stack, tickets)
        burst.wait_for(tickets // 2)
        fault.counts_before = emulator_counts(stack) if victim == "database" else {}
        fault.fault_at, fault.cleared_at = kill_and_restart(stack, victim, DOWN_S)
        burst.join()
    return run


def helpdesk_failing(**switches):
    """Scenario: the helpdesk faults `switches` from half the burst acknowledged, for HELPDESK_FAULT_S."""
    def run(stack: Stack, tickets: int, fault: Fault) -> None:
        fault.burst_at = time.time()
        burst = fault.burst(stack, tickets)
        burst.wait_for(tickets // 2)
        fault.fault_at = time.time()
        helpdesk_faults(stack, **switches)
        time.sleep(HELPDESK_FAULT_S)
        helpdesk_faults(stack)
        fault.cleared_at = time.time()
        burst.join()
    return run


def slow_call(stack: Stack, tickets: int, fault: Fault) -> None:
    """Scenario: one ticket's helpdesk call hangs SLOW_CALL_MS; the rest of the burst is submitted meanwhile.

    The fault's window (its enrichment to its helpdesk link) is read from the database afterwards.
    """
    helpdesk_faults(stack, latency_ms=SLOW_CALL_MS, slow_every=1)
    slow = fault.burst(stack, 1)
    slow.join()
    fault.slow_ticket = slow.acked[0]
    # The ticket's enrichment is written with its link, after the call: its prediction is the sign it started.
    wait_for(lambda: predictions(stack) >= 1, timeout=20, what="the slow ticket predicted")
    time.sleep(0.3)  # its helpdesk call is now hanging; the calls of the others must not
    helpdesk_faults(stack)
    fault.burst_at = time.time()
    fault.burst(stack, tickets - 1).join()


def predictions(stack: Stack) -> float:
    """The function's count of predictions, from its /metrics."""
    text = requests.get(stack.metrics_url("enrich"), timeout=10).text
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith("enrich_predictions_total"))


SCENARIOS = {
    "emulator-kill": kill("database"),
    "function-kill": kill("enrich"),
    "helpdesk-500": helpdesk_failing(error_rate=0.5, seed=7),
    "helpdesk-timeout": helpdesk_failing(latency_ms=1500, slow_every=2),
    "slow-call": slow_call,
}
ENV = {"helpdesk-timeout": {"HELPDESK_TIMEOUT_S": "1"}}


def run_scenario(name: str, tickets: int, model_dir: Path, rate: float | None = None) -> dict:
    """Start a stack, run scenario `name` on it, measure and check; a crash of the scenario is a failure too."""
    with tempfile.TemporaryDirectory() as tmp:
        stack, fault = None, Fault(rate=rate)
        try:
            stack = Stack(ports=Ports.free(), data_dir=Path(tmp), model_dir=model_dir, env=ENV.get(name, {}),
                          **POLICY).start()
            SCENARIOS[name](stack, tickets, fault)
            return measure(name, stack, fault, tickets)
        except Exception as exc:
            traceback.print_exc()
            return {"scenario": name, "tickets": tickets, "result": "FAILED",
                    "problems": [f"the scenario crashed: {type(exc).__name__}: {exc}"]}
        finally:
            for burst in fault.bursts:
                burst.stop()
            if stack is not None:
                stack.stop()


def measure(name: str, stack: Stack, fault: Fault, tickets: int) -> dict:
    """Wait for every ticket to be forwarded, then count, time and check (see the module's docstring)."""
    acked = [t for b in fault.bursts for t in b.acked]
    timeout = 120 + 0.3 * tickets
    snapshot = wait_forwarded(stack, timeout=timeout, interval=1.0)
    problems = []
    if snapshot is None:
        problems.append(f"not every ticket was forwarded within {timeout:.0f} s")
        print(diagnosis(stack, acked), file=sys.stderr)
        snapshot = database_tickets(stack)
    counts = exactly_once(acked, snapshot, helpdesk_tickets(stack))
    problems += counts.pop("problems")
    gave_up = sum(len(b.gave_up) for b in fault.bursts)
    if gave_up:
        problems.append(f"customers gave up on {gave_up} tickets (no acknowledgement in 90 s)")
    failed_at = sorted(t for b in fault.bursts for t in b.failed_at)
    after = emulator_counts(stack)
    row = {"scenario": name, "tickets": tickets, **counts,
           "submit_retries": len(failed_at),
           "client_outage_s": round(failed_at[-1] - failed_at[0], 2) if failed_at else 0.0,
           "events_retried": int(fault.counts_before.get("retried", 0) + after.get("retried", 0)),
           "events_dead_lettered": int(fault.counts_before.get("dead_lettered", 0) + after.get("dead_lettered", 0))}
    if fault.slow_ticket:
        fault.fault_at, fault.cleared_at = slow_window(snapshot[fault.slow_ticket])
        row.update(slow_figures(snapshot, fault))
    row.update(timings(snapshot, fault))
    problems += fault_seen(row)
    row["result"] = "FAILED" if problems else "ok"
    row["problems"] = problems
    return row


def timings(snapshot: dict, fault: Fault) -> dict:
    """fault_s, resumed_s, recovery_s, burst_s from the tickets' server timestamps and helpdesk links."""
    created = {k: t["created_at"] / 1000 for k, t in snapshot.items() if isinstance(t.get("created_at"), int)}
    synced = {k: t["helpdesk"]["synced_at"] / 1000 for k, t in snapshot.items() if "helpdesk" in t}
    if not synced:
        return {}
    after = [s for s in synced.values() if s >= fault.cleared_at]
    backlog = [synced[k] for k, c in created.items() if c <= fault.cleared_at and k in synced]
    return {"fault_s": round(fault.cleared_at - fault.fault_at, 2),
            "resumed_s": round(min(after) - fault.fault_at, 2) if after else None,
            "recovery_s": round(max(0.0, max(backlog, default=fault.fault_at) - fault.fault_at), 2),
            "burst_s": round(max(synced.values()) - fault.burst_at, 2)}


def slow_window(slow: dict) -> tuple[float, float]:
    """When the slow ticket's helpdesk call started (its enrichment, written just before) and returned (its link)."""
    return slow["enrichment"]["enriched_at"] / 1000, slow.get("helpdesk", {}).get("synced_at", time.time() * 1000) / 1000


def slow_figures(snapshot: dict, fault: Fault) -> dict:
    """How long the slow call took; the enrichment latency of the tickets written while it was in flight; the
    other tickets' forwarding rate while it was in flight and after it (a call holding up others lowers the first)."""
    start, end = fault.fault_at * 1000, fault.cleared_at * 1000
    others = [t for k, t in snapshot.items() if k != fault.slow_ticket]
    written = [t for t in others if start <= t.get("created_at", 0) <= end]
    latency = [t["enrichment"]["enriched_at"] - t["created_at"] for t in written if "enrichment" in t]
    synced = [t["helpdesk"]["synced_at"] for t in others if "helpdesk" in t]
    during, after = [s for s in synced if start <= s <= end], [s for s in synced if s > end]
    row = {"slow_call_s": round((end - start) / 1000, 2), "written_during_slow_call": len(written),
           "forwarded_during_slow_call": len(during),
           "forwarded_per_s_during": round(len(during) / ((end - start) / 1000), 1)}
    if after:
        row["forwarded_per_s_after"] = round(len(after) / max((max(after) - end) / 1000, 0.001), 1)
    if latency:
        row.update(others_enrich_p50_ms=pct(latency, 50), others_enrich_p99_ms=pct(latency, 99),
                   others_enrich_max_ms=max(latency))
    return row


def fault_seen(row: dict) -> list[str]:
    """A scenario proves nothing if its fault did not happen: each leaves a trace it can be checked by."""
    name = row["scenario"]
    if "slow_call_s" in row:
        problems = [] if row["slow_call_s"] >= SLOW_CALL_MS / 1000 else [f"the slow call took {row['slow_call_s']} s"]
        if not row.get("forwarded_during_slow_call"):
            problems.append("no other ticket was forwarded while the slow call was in flight")
        return problems
    if row["submit_retries"] == 0 and name == "emulator-kill":
        return ["no submission failed while the emulator was down"]
    if row["events_retried"] == 0 and name != "emulator-kill":
        return ["no event delivery was retried: the fault did not happen"]
    return []


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tickets", type=int, default=1000, help="tickets per scenario's burst")
    p.add_argument("--rate", type=_rate, default=None,
                   help="tickets a second the customers submit at (default: as fast as they are acknowledged)")
    p.add_argument("--only", nargs="+", choices=list(SCENARIOS), metavar="NAME",
                   help=f"run only these scenarios, of: {', '.join(SCENARIOS)}")
    p.add_argument("--model-dir", default=str(ROOT / "model"))
    p.add_argument("--out", default="bench/results/faults.json")
    args = p.parse_args(argv)
    rows = []
    for name in args.only or SCENARIOS:
        print(f"{name}: {args.tickets} tickets ...", flush=True)
        rows.append(run_scenario(name, args.tickets, Path(args.model_dir), args.rate))
    table(f"Faults mid-burst, {args.tickets} tickets each: exactly once?",
          [("scenario", "scenario"), ("result", "result"), ("acked", "acknowledged"), ("in db", "in_database"),
           ("enriched", "enriched"), ("forwarded", "forwarded"), ("duplicates", "duplicates"),
           ("lost", "lost"),
           ("submit retries", "submit_retries"), ("events retried", "events_retried"),
           ("dead letters", "events_dead_lettered")], rows)
    table("Timings (s): fault, fault -> forwarding resumed, fault -> backlog forwarded, burst start -> all forwarded",
          [("scenario", "scenario"), ("fault", "fault_s"), ("resumed", "resumed_s"), ("recovery", "recovery_s"),
           ("burst", "burst_s"), ("client outage", "client_outage_s")], rows)
    slow = [r for r in rows if "slow_call_s" in r]
    if slow:
        table("The other tickets while the slow helpdesk call was in flight: written, forwarded, "
              "write -> enrichment computed (ms)",
              [("slow call s", "slow_call_s"), ("written", "written_during_slow_call"),
               ("forwarded meanwhile", "forwarded_during_slow_call"), ("fwd/s meanwhile", "forwarded_per_s_during"),
               ("fwd/s after", "forwarded_per_s_after"), ("enrich p50", "others_enrich_p50_ms"),
               ("p99", "others_enrich_p99_ms"), ("max", "others_enrich_max_ms")], slow)
    failed = [r["scenario"] for r in rows if r["result"] != "ok"]
    for r in rows:
        for problem in r["problems"]:
            print(f"{r['scenario']} FAILED: {problem}")
    save(args.out, {"benchmark": "faults", "machine": machine(), "tickets": args.tickets, "rate": args.rate,
                    "settings": {"down_s": DOWN_S, "helpdesk_fault_s": HELPDESK_FAULT_S,
                                 "slow_call_ms": SLOW_CALL_MS, **POLICY},
                    "scenarios": rows, "failed": failed})
    return 1 if failed else 0


def _rate(text: str) -> float:
    try:
        rate = float(text)
    except ValueError:
        rate = float("nan")
    if not rate > 0 or rate == float("inf"):
        raise argparse.ArgumentTypeError(f"invalid --rate {text!r}: it must be a number of tickets a second above 0")
    return rate


if __name__ == "__main__":
    sys.exit(main())
