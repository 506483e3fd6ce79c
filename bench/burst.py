"""A burst of customers on the running stack, the faults to inject into it, and the exactly-once check.

Shared by the fault tests (`tests/e2e/test_crashes.py`, the short version) and the fault benchmark
(`bench/faults.py`, the long one):

- `Burst`: customers submitting tickets concurrently, each failed submission retried until acknowledged;
- `kill_and_restart`, `helpdesk_faults`: kill -9 one process of the stack and bring it back; switch the
  helpdesk stub's faults (errors, latency);
- `wait_forwarded`, `helpdesk_tickets`, `exactly_once`, `diagnosis`: wait until every ticket carries its
  helpdesk link, then compare the database with the helpdesk: nothing lost, nothing forwarded twice;
- `emulator_counts`: the emulator's delivery counters from its Prometheus `/metrics`.
"""

import threading
import time
from collections import Counter

import requests

from bench.pipeline import ADMIN, ticket
from bench.report import metric
from stack import Stack
from stack.procs import wait_for
from stack.tokens import user_token

SUBMITTERS = 6
SUBMIT_PATIENCE_S = 90  # a customer gives up on a ticket after this long without an acknowledgement
HELPDESK_AUTH = {"Authorization": "Bearer dev-helpdesk-token"}


class Burst:
    """Customers submitting `total` tickets concurrently; a failed submission is retried until acknowledged.

    Args:
      db_url: the database emulator's URL.
      total: tickets to submit (`bench.pipeline.ticket(n)`, n < total), spread over SUBMITTERS threads,
        each signed in as its own customer.
      rate: tickets a second the customers submit at in all (ticket n is not sent before n / rate seconds
        after the start), or None: as fast as they are acknowledged. A short burst at full speed can end
        before a fault set off at its middle takes effect.

    Attributes:
      acked: the acknowledged tickets' ids (push ids), in acknowledgement order.
      failed_at: `time.time()` of every failed submission (an error status, a refused connection, a
        timeout); each was retried.
      gave_up: numbers of the tickets not acknowledged within SUBMIT_PATIENCE_S.
    """

    def __init__(self, db_url: str, total: int, rate: float | None = None):
        if rate is not None and not rate > 0:
            raise ValueError(f"Invalid rate: {rate!r}. It must be a number of tickets a second above 0, or None.")
        self.db_url, self.total, self.rate = db_url, total, rate
        self._started = 0.0
        self.acked: list[str] = []
        self.failed_at: list[float] = []
        self.gave_up: list[int] = []
        self.lock = threading.Lock()
        self._stopped = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(w,), daemon=True) for w in range(SUBMITTERS)]

    def start(self) -> "Burst":
        self._started = time.monotonic()
        for t in self.threads:
            t.start()
        return self

    def _run(self, worker: int) -> None:
        uid = f"burst-{worker}"
        token = user_token(uid)
        with requests.Session() as http:
            for n in range(worker, self.total, SUBMITTERS):
                if self.rate is not None:
                    due = self._started + n / self.rate - time.monotonic()
                    if due > 0 and self._stopped.wait(due):
                        return
                if self._stopped.is_set():
                    return
                deadline = time.monotonic() + SUBMIT_PATIENCE_S
                while True:
                    try:
                        r = http.post(f"{self.db_url}/tickets.json", params={"auth": token}, timeout=10,
                                      json={**ticket(n), "uid": uid})
                        if r.status_code == 200:
                            with self.lock:
                                self.acked.append(r.json()["name"])
                            break
                    except requests.RequestException:
                        pass
                    with self.lock:
                        self.failed_at.append(time.time())
                    if time.monotonic() > deadline:
                        with self.lock:
                            self.gave_up.append(n)
                        break
                    if self._stopped.wait(0.2):
                        return

    def wait_for(self, count: int, timeout: float = 60) -> None:
        wait_for(lambda: len(self.acked) >= count, timeout=timeout, what=f"{count} acknowledged tickets")

    def join(self) -> None:
        for t in self.threads:
            t.join()

    def stop(self) -> None:
        """Stop submitting (the ticket in flight is still sent) and wait for the customers to leave."""
        self._stopped.set()
        self.join()


def kill_and_restart(stack: Stack, name: str, down_s: float = 1.0) -> tuple[float, float]:
    """kill -9 one process of the stack (its workers too), wait `down_s`, start it again on its port.

    Returns:
      `time.time()` of the kill and of the restarted process serving again.
    """
    killed_at = time.time()
    stack.stop_one(name, kill=True)
    time.sleep(down_s)
    stack.start_again(name)
    return killed_at, time.time()


def helpdesk_faults(stack: Stack, **switches) -> None:
    """Replace the helpdesk stub's fault switches (see helpdesk/faults.py); none given turns faults off."""
    requests.put(f"{stack.urls['helpdesk'].rstrip('/')}/_stub/faults", json=switches, timeout=10).raise_for_status()


def database_tickets(stack: Stack) -> dict:
    """Every ticket in the database, by id (read as the admin)."""
    return requests.get(f"{stack.urls['database']}/tickets.json", headers=ADMIN, timeout=30).json() or {}


def wait_forwarded(stack: Stack, timeout: float = 120, interval: float = 0.5) -> dict | None:
    """Wait until every ticket in the database has its helpdesk link.

    An acknowledged ticket missing from the database is not waited for: its write was durable before it was
    acknowledged, so it is lost, and `exactly_once` says so.

    Returns:
      The database's tickets then, or None if that did not happen within `timeout` seconds.
    """
    def done():
        tickets = database_tickets(stack)
        return tickets if all("helpdesk" in t for t in tickets.values()) else None

    try:
        return wait_for(done, timeout=timeout, interval=interval, what="every ticket forwarded")
    except AssertionError:
        return None


def helpdesk_tickets(stack: Stack) -> list[dict]:
    """Every ticket in the helpdesk stub, page by page (its API is faulted too: switch faults off first)."""
    desk, page = [], 1
    while page:
        r = requests.get(f"{stack.urls['helpdesk'].rstrip('/')}/api/v2/tickets.json", headers=HELPDESK_AUTH,
                         params={"page": page, "per_page": 100}, timeout=30)
        r.raise_for_status()
        body = r.json()
        desk += body["tickets"]
        page = page + 1 if body["next_page"] else None
    return desk


def exactly_once(acked: list[str], tickets: dict, desk: list[dict]) -> dict:
    """Compare what the customers were told (acked), the database (tickets) and the helpdesk (desk).

    Returns:
      Counts: `acknowledged`, `in_database`, `enriched`, `forwarded` (database tickets with a helpdesk
      link), `in_helpdesk`, `duplicates` (database tickets with more than one helpdesk ticket), `lost`
      (acknowledged tickets missing from the database, or from the helpdesk); and `problems`, a list of
      what is wrong (empty: every ticket enriched and forwarded exactly once).
    """
    per_ticket = Counter(t["external_id"] for t in desk)
    duplicates = {k: v for k, v in per_ticket.items() if v > 1}
    missing = [t for t in acked if t not in tickets]
    not_forwarded = [k for k, t in tickets.items() if "helpdesk" not in t]
    stale = [k for k, t in tickets.items()
             if (t.get("enrichment") or {}).get("input_hash") != (t.get("helpdesk") or {}).get("input_hash")]
    problems = []
    if missing:
        problems.append(f"{len(missing)} acknowledged tickets were lost: {missing[:5]}")
    if not_forwarded:
        problems.append(f"{len(not_forwarded)} tickets were not forwarded: {not_forwarded[:5]}")
    if duplicates:
        problems.append(f"forwarded more than once: {list(duplicates.items())[:5]}")
    if set(per_ticket) != set(tickets):
        problems.append("a database ticket has no helpdesk ticket, or the reverse: "
                        f"{sorted(set(per_ticket) ^ set(tickets))[:5]}")
    if stale:
        problems.append(f"enrichment and helpdesk link disagree on the inputs (input_hash): {stale[:5]}")
    return {"acknowledged": len(acked), "in_database": len(tickets),
            "enriched": sum(1 for t in tickets.values() if "enrichment" in t),
            "forwarded": len(tickets) - len(not_forwarded), "in_helpdesk": len(desk),
            "duplicates": len(duplicates), "lost": len(set(acked) - (set(tickets) & set(per_ticket))),
            "problems": problems}


def emulator_counts(stack: Stack) -> dict[str, float]:
    """The emulator's event counters since it started (`recorded`, `delivered`, `retried`, `dead_lettered`).

    Read from its Prometheus `/metrics`; empty if the emulator does not answer.
    """
    names = {"rtdb_events_recorded_total": "recorded", "rtdb_events_delivered_total": "delivered",
             "rtdb_events_retried_total": "retried", "rtdb_events_dead_lettered_total": "dead_lettered"}
    try:
        text = requests.get(f"{stack.urls['database']}/metrics", timeout=5).text
    except requests.RequestException:
        return {}
    counts = {}
    for sample, key in names.items():
        try:
            counts[key] = metric(text, sample)
        except KeyError:
            pass
    return counts


def diagnosis(stack: Stack, acked: list[str]) -> str:
    """What a stuck burst looks like: the tickets not forwarded, the delivery backlog, the function's last words."""
    tickets = database_tickets(stack)
    stuck = {k: v for k, v in tickets.items() if "helpdesk" not in v}
    lost = [t for t in acked if t not in tickets]
    sample = {k: {f: v.get(f) for f in ("enrichment_error", "helpdesk_error") if f in v} | {"enriched": "enrichment" in v}
              for k, v in list(stuck.items())[:5]}
    metrics = [l for l in requests.get(f"{stack.urls['database']}/metrics", timeout=10).text.splitlines()
               if l.startswith(("rtdb_events_", "rtdb_outbox")) and "_bucket" not in l]
    dead = requests.get(f"{stack.urls['database']}/.settings/deadLetters.json", headers=ADMIN, timeout=10).text[:1000]
    lines = stack.procs["enrich"].lines
    function = "".join([l for l in lines if any(t in l for t in list(stuck)[:5])] or lines[-40:])
    return (f"{len(stuck)} not forwarded, {len(lost)} lost; sample {sample}\nemulator: {metrics}\n"
            f"dead letters: {dead}\nfunction (exit {stack.procs['enrich'].proc.poll()}):\n{function}")
