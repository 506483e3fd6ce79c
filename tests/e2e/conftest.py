"""Fixtures: the whole stack (emulator, functions, helpdesk stub) as real processes on free ports."""

import subprocess

import pytest
import requests

from stack import Ports, Stack
from stack.procs import PYTHON, ROOT, wait_for
from tests.support.procs import user_token

ADMIN = {"Authorization": "Bearer owner"}
HELPDESK_AUTH = {"Authorization": "Bearer dev-helpdesk-token"}


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    """The shipped bundle; or, on a checkout without one, a small bundle trained the same way."""
    if (ROOT / "model" / "current.json").exists():
        return ROOT / "model"
    out = tmp_path_factory.mktemp("model")
    data = out / "demo.jsonl"
    subprocess.run([PYTHON, "-m", "training", "demo-data", "--n", "2000", "--seed", "7", "--out", str(data)],
                   cwd=ROOT, check=True, capture_output=True)
    subprocess.run([PYTHON, "-m", "training", "train", "--data", str(data), "--out", str(out / "bundle"),
                    "--seed", "7"], cwd=ROOT, check=True, capture_output=True)
    return out / "bundle"


def start_stack(tmp_path, model_dir, **kwargs) -> Stack:
    kwargs.setdefault("min_backoff_s", 0.1)
    kwargs.setdefault("max_backoff_s", 1.0)
    return Stack(ports=Ports.free(), data_dir=tmp_path, model_dir=model_dir, **kwargs).start()


class Client:
    """Small helpers over the running stack's HTTP APIs."""

    def __init__(self, stack: Stack):
        self.stack = stack
        self.db = stack.urls["database"]
        self.desk = stack.urls["helpdesk"].rstrip("/")
        self.http = requests.Session()  # support tooling: reads, edits and deletes as the admin
        self.http.headers.update(ADMIN)

    def submit(self, ticket: dict, uid: str = "customer-1") -> str:
        """Create a ticket as a signed-in customer would: their token, their uid on the ticket."""
        r = requests.post(f"{self.db}/tickets.json", params={"auth": user_token(uid)}, json={**ticket, "uid": uid})
        r.raise_for_status()
        return r.json()["name"]

    def ticket(self, ticket_id: str):
        return self.http.get(f"{self.db}/tickets/{ticket_id}.json").json()

    def wait_ticket(self, ticket_id: str, predicate, timeout=20.0, what="ticket state"):
        return wait_for(lambda: (lambda t: t if t is not None and predicate(t) else None)(self.ticket(ticket_id)),
                        timeout=timeout, what=what)

    def desk_tickets(self, ticket_id: str) -> list:
        r = self.http.get(f"{self.desk}/api/v2/tickets.json", params={"external_id": ticket_id}, headers=HELPDESK_AUTH)
        r.raise_for_status()
        return r.json()["tickets"]

    def desk_count(self) -> int:
        return self.http.get(f"{self.desk}/api/v2/tickets.json", headers=HELPDESK_AUTH).json()["count"]


def valid_ticket(**changes) -> dict:
    ticket = {
        "subject": "Cannot log in to the dashboard",
        "description": "Since this morning every login fails with an error. Production is down for my team.",
        "contact": {"name": "Ada Lovelace", "email": "ada@example.com"},
        "category": "authentication", "type": "issue", "impact": 3, "experience": "experienced",
        "seniority": 2.5, "created_at": {".sv": "timestamp"}, "status": "new",
    }
    ticket.update(changes)
    return ticket
