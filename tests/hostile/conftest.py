"""Fixtures: the project's servers as real processes on free ports, for hostile-input tests.

`HOSTILE_LONG=1` turns the property tests' example counts up (a benchmark-length run, not for CI).
"""

import os

import pytest
import requests

from stack import FUNCTIONS_FRAMEWORK
from stack.procs import GUNICORN_READY, PYTHON, ROOT, ManagedProcess, answers_http
from tests.hostile.wire import children_of
from tests.support.procs import start_emulator

LONG = os.environ.get("HOSTILE_LONG") == "1"
HELPDESK_TOKEN = "dev-helpdesk-token"
HELPDESK_AUTH = {"Authorization": f"Bearer {HELPDESK_TOKEN}"}
WEBHOOK_SECRET = "dev-webhook-secret"
_HELPDESK_READY = r"listening on (http://[\d.]+:(\d+))"
_STACK_VARIABLES = ("HELPDESK_", "FIREBASE_DATABASE_EMULATOR_HOST", "METRICS_PORT", "MODEL_DIR", "DATABASE_URL")


def _started(proc: ManagedProcess, env: dict) -> ManagedProcess:
    """Start `proc` with this environment minus the stack's own settings, plus `env`."""
    proc.env = {k: v for k, v in proc.env.items() if not k.startswith(_STACK_VARIABLES)}
    proc.env.update(env)
    proc.start()
    proc.url = proc.match.group(1)
    proc.port = int(proc.match.group(2))
    return proc


@pytest.fixture(scope="module")
def emulator():
    """An in-memory emulator for the module, with the test config (no rules file: everything allowed)."""
    proc = start_emulator()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def helpdesk(tmp_path_factory):
    """`python -m helpdesk --port 0` on a temporary database, webhooks off, the default token."""
    folder = tmp_path_factory.mktemp("helpdesk")
    proc = _started(ManagedProcess([PYTHON, "-m", "helpdesk", "--port", "0", "--db", str(folder / "desk.sqlite3")],
                                   ready=_HELPDESK_READY), {"HELPDESK_API_TOKEN": HELPDESK_TOKEN})
    yield proc
    proc.stop()


def _function(target: str, signature: str, env: dict) -> ManagedProcess:
    args = [FUNCTIONS_FRAMEWORK, "--source", str(ROOT / "functions" / "main.py"), "--target", target,
            "--signature-type", signature, "--host", "127.0.0.1", "--port", "0"]
    return _started(ManagedProcess(args, ready=GUNICORN_READY, timeout=60, probe=answers_http), env)


@pytest.fixture(scope="module")
def functions(emulator, helpdesk):
    """The enrich (CloudEvent) and webhook (HTTP) functions under functions-framework, as stack/ runs them."""
    model_dir = ROOT / "model"
    if not (model_dir / "current.json").exists():
        pytest.skip("no model bundle in model/ (run `make train`)")
    env = {"GCLOUD_PROJECT": "demo-tickets", "FIREBASE_DATABASE_EMULATOR_HOST": emulator.url.removeprefix("http://"),
           "MODEL_DIR": str(model_dir), "HELPDESK_URL": helpdesk.url, "HELPDESK_API_TOKEN": HELPDESK_TOKEN,
           "HELPDESK_WEBHOOK_SECRET": WEBHOOK_SECRET, "GUNICORN_LOG_LEVEL": "info"}
    procs = {}
    try:
        procs["enrich"] = _function("enrich_ticket", "cloudevent", env)
        procs["webhook"] = _function("helpdesk_webhook", "http", env)
        yield procs
    finally:
        for proc in procs.values():
            proc.stop()


@pytest.fixture
def http():
    """A requests session that cleans up after itself."""
    with requests.Session() as session:
        yield session


def worker_pid(proc: ManagedProcess) -> int:
    """The process that serves requests: gunicorn's worker under its arbiter, else the process itself."""
    kids = children_of(proc.proc.pid)
    return kids[0] if kids else proc.proc.pid


def alive(proc: ManagedProcess) -> bool:
    """True while the process runs."""
    return proc.proc is not None and proc.proc.poll() is None

