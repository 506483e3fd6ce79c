"""Fixtures for the helpdesk stub: in-process apps, a real server subprocess, a webhook receiver."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest
import requests

from helpdesk.app import create_app
from helpdesk.auth import basic_header

TOKEN = "test-token"
WEBHOOK_SECRET = "test-webhook-secret"
AUTH = {"Authorization": basic_header("agent@example.com", TOKEN)}
READY = re.compile(r"^Helpdesk stub listening on (http://\S+:(\d+))$")
START_TIMEOUT = 15.0


def wait_for(predicate, timeout: float = 5.0, interval: float = 0.02):
    """Polls ``predicate`` until it returns something truthy, or fails the test."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    pytest.fail(f"condition not met within {timeout}s")


@dataclass
class Receiver:
    """A tiny threaded HTTP server that records webhook POSTs and answers scripted statuses."""

    url: str = ""
    requests: list[dict] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # answered in order, then 200
    lock: threading.Lock = field(default_factory=threading.Lock)

    def clear(self, statuses: list[int] | None = None) -> None:
        with self.lock:
            self.requests.clear()
            self.statuses[:] = statuses or []

    def received(self, count: int = 1, timeout: float = 5.0) -> list[dict]:
        """Waits until at least ``count`` requests arrived and returns them all."""
        return wait_for(lambda: list(self.requests) if len(self.requests) >= count else None, timeout)


@pytest.fixture(scope="session")
def receiver() -> Iterator[Receiver]:
    """Starts a webhook receiver on a free port for the whole session."""
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with state.lock:
                status = state.statuses.pop(0) if state.statuses else 200
                state.requests.append({"headers": dict(self.headers), "body": body, "status": status})
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/helpdesk"
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def make_app(tmp_path: Path):
    """Returns a factory of in-process apps on a temporary database; closes them afterwards."""
    apps = []

    def factory(**overrides):
        config = {"TESTING": True, "HELPDESK_DB": str(tmp_path / "helpdesk.sqlite3"),
                  "HELPDESK_API_TOKEN": TOKEN, "HELPDESK_WEBHOOK_URL": "",
                  "HELPDESK_WEBHOOK_SECRET": WEBHOOK_SECRET, "HELPDESK_PUBLIC_URL": "",
                  "HELPDESK_WEBHOOK_BACKOFF_SECONDS": 0.02, **overrides}
        app = create_app(config)
        apps.append(app)
        return app

    yield factory
    for app in apps:
        app.extensions["helpdesk"].close()


@pytest.fixture
def app(make_app):
    """An in-process app with webhooks off."""
    return make_app()


@pytest.fixture
def client(app):
    """A Flask test client of ``app``."""
    return app.test_client()


def new_ticket(client, headers=None, **fields) -> dict:
    """Creates a ticket through the test client and returns the response JSON."""
    body = {"ticket": {"subject": "Printer on fire", "comment": {"body": "It is really on fire."}, **fields}}
    response = client.post("/api/v2/tickets", json=body, headers={**AUTH, **(headers or {})})
    assert response.status_code in (200, 201), response.get_data(as_text=True)
    return response.get_json()["ticket"]


class ServerProcess:
    """``python -m helpdesk --port 0`` in a subprocess, with its parsed URL."""

    def __init__(self, db: Path, log: Path, env: dict[str, str]) -> None:
        self.db, self.log, self.env = db, log, env
        self.proc: subprocess.Popen | None = None
        self.url = ""
        self.session = requests.Session()
        self.session.headers.update(AUTH)

    def start(self) -> "ServerProcess":
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "helpdesk", "--port", "0", "--db", str(self.db)],
                                         stdout=subprocess.PIPE, stderr=log, env=self.env, text=True)
        line = _read_line(self.proc, START_TIMEOUT)
        match = READY.match(line.strip())
        assert match, f"unexpected first line {line!r}; log: {self.log.read_text()[-2000:]}"
        self.url = match.group(1)
        return self

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=10)
        self.proc.stdout.close()
        return code

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        return self.session.request(method, self.url + path, timeout=10, **kwargs)


def _read_line(proc: subprocess.Popen, timeout: float) -> str:
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if not lines:
        proc.kill()
        pytest.fail(f"server printed nothing within {timeout}s")
    return lines[0]


def server_env(**extra: str) -> dict[str, str]:
    """The environment for a server subprocess: this one, minus HELPDESK_*, plus test settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
    env.update(HELPDESK_API_TOKEN=TOKEN, HELPDESK_WEBHOOK_SECRET=WEBHOOK_SECRET,
               HELPDESK_WEBHOOK_BACKOFF_SECONDS="0.05", PYTHONUNBUFFERED="1", **extra)
    return env


@pytest.fixture(scope="module")
def server(tmp_path_factory, receiver) -> Iterator[ServerProcess]:
    """A real stub server for the module, webhooks pointed at ``receiver``; data reset per test."""
    folder = tmp_path_factory.mktemp("helpdesk-server")
    proc = ServerProcess(folder / "helpdesk.sqlite3", folder / "server.log",
                         server_env(HELPDESK_WEBHOOK_URL=receiver.url)).start()
    yield proc
    if proc.proc.poll() is None:
        assert proc.stop() == 0
    assert "Traceback" not in proc.log.read_text(), proc.log.read_text()[-3000:]


@pytest.fixture
def live(server, receiver) -> ServerProcess:
    """The module's server with data, faults and received webhooks cleared."""
    assert requests.post(server.url + "/_stub/reset", timeout=5).status_code == 200
    receiver.clear()
    return server


def dumps(value) -> bytes:
    """Compact JSON bytes, for hand-built request bodies."""
    return json.dumps(value).encode()
