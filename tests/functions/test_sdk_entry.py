"""Firebase's functions SDK (`firebase_functions`) against the real emulator, served as the SDK is served.

A function decorated with `db_fn.on_value_written` runs under functions-framework (`--signature-type cloudevent`),
as in Cloud Functions and Firebase's own emulator, behind a trigger registered with the emulator. The SDK entry
point `on_ticket_written` must enrich and forward a ticket exactly as `enrich_ticket` does, redelivery included,
and `firebase deploy` must find the SDK entry points, and only those, in `functions/main.py`.
"""

import base64
import hashlib
import hmac
import json
import os
import socket
import subprocess
import textwrap
import time
from datetime import datetime
from pathlib import Path

import pytest
import requests
import yaml

from enrichment import webhook
from stack import FUNCTIONS_FRAMEWORK
from stack.procs import GUNICORN_READY, PYTHON, ROOT, ManagedProcess, answers_http, wait_for
from tests.support.procs import start_emulator

ADMIN = {"Authorization": "Bearer owner"}
HELPDESK_AUTH = {"Authorization": "Bearer dev-helpdesk-token"}
MAIN = ROOT / "functions" / "main.py"
MODEL_DIR = ROOT / "model"
SDK_NAMESPACE, FRAMEWORK_NAMESPACE = "sdk-tickets", "framework-tickets"
# What the stack's processes read; a test's processes get only the values it gives them.
_STACK_VARIABLES = ("HELPDESK_", "FIREBASE_", "METRICS_PORT", "MODEL_DIR", "DATABASE_URL", "GCLOUD_PROJECT")

PROBE = '''
import json
import os

from firebase_functions import db_fn


@db_fn.on_value_written(reference="/tickets/{ticketId}")
def probe(event: db_fn.Event[db_fn.Change]) -> None:
    """Record what the SDK hands a function."""
    record = {"params": event.params, "before": event.data.before, "after": event.data.after,
              "reference": event.reference, "instance": event.instance, "location": event.location,
              "host": event.firebase_database_host, "time": event.time.isoformat(), "id": event.id,
              "type": event.type, "subject": event.subject, "auth_type": event.auth_type}
    with open(os.environ["PROBE_OUT"], "a") as out:
        out.write(json.dumps(record) + "\\n")
'''

TICKET = {
    "subject": "Cannot log in to the dashboard",
    "description": "Since this morning every login fails with an error. Production is down for my team.",
    "contact": {"name": "Ada Lovelace", "email": "ada@example.com"},
    "category": "authentication", "type": "issue", "impact": 3, "experience": "experienced",
    "seniority": 2.5, "created_at": {".sv": "timestamp"}, "status": "new",
}


def _process(args: list, ready: str, env: dict, **kwargs) -> ManagedProcess:
    proc = ManagedProcess(args, ready=ready, timeout=60, **kwargs)
    proc.env = {k: v for k, v in proc.env.items() if not k.startswith(_STACK_VARIABLES)}
    proc.env.update(env)
    proc.start()
    proc.url = proc.match.group(1)
    return proc


def serve_function(source: Path, target: str, env: dict, signature: str = "cloudevent") -> ManagedProcess:
    """`target` in `source`, served by functions-framework on a free port, as the SDK's functions are served."""
    args = [FUNCTIONS_FRAMEWORK, "--source", str(source), "--target", target, "--signature-type", signature,
            "--host", "127.0.0.1", "--port", "0"]
    return _process(args, GUNICORN_READY, {"GUNICORN_LOG_LEVEL": "info", **env}, probe=answers_http)


def start_helpdesk(folder: Path, port: int = 0) -> ManagedProcess:
    return _process([PYTHON, "-m", "helpdesk", "--port", str(port), "--db", str(folder / "desk.sqlite3")],
                    r"listening on (http://[\d.]+:(\d+))", {})


def register(emu, *triggers: dict) -> None:
    """Replace the emulator's triggers: each a `(name, url, instance)` on `tickets/{ticketId}`, retried quickly."""
    body = {"triggers": [{"ref": "tickets/{ticketId}", "event_type": "written", "max_attempts": 20,
                          "min_backoff_s": 0.1, "max_backoff_s": 0.5, **t} for t in triggers]}
    requests.put(f"{emu.url}/.settings/functionTriggers.json", json=body, headers=ADMIN, timeout=10).raise_for_status()


def function_env(emu, namespace: str, helpdesk_url: str) -> dict:
    """The enrichment function's environment: the emulator's namespace, the helpdesk, the shipped model."""
    return {"FIREBASE_DATABASE_EMULATOR_HOST": emu.url.removeprefix("http://"), "GCLOUD_PROJECT": "demo-tickets",
            "DATABASE_URL": f"https://{namespace}.firebaseio.com", "HELPDESK_URL": helpdesk_url,
            "MODEL_DIR": str(MODEL_DIR), "LOG_LEVEL": "DEBUG"}  # DEBUG: the skipped write-backs are logged too


def ticket_at(emu, namespace: str, ticket_id: str):
    r = requests.get(f"{emu.url}/tickets/{ticket_id}.json", params={"ns": namespace}, headers=ADMIN, timeout=10)
    r.raise_for_status()
    return r.json()


def put_ticket(emu, namespace: str, ticket_id: str, value) -> None:
    requests.put(f"{emu.url}/tickets/{ticket_id}.json", params={"ns": namespace}, json=value, headers=ADMIN,
                 timeout=10).raise_for_status()


def desk_tickets(desk, **params) -> list:
    r = requests.get(f"{desk.url}/api/v2/tickets.json", params=params, headers=HELPDESK_AUTH, timeout=10)
    r.raise_for_status()
    return r.json()["tickets"]


def forwarded(emu, namespace: str, ticket_id: str, timeout: float = 60.0) -> dict:
    """The ticket once its helpdesk link is written."""
    return wait_for(lambda: (lambda t: t if isinstance(t, dict) and "helpdesk" in t else None)(
        ticket_at(emu, namespace, ticket_id)), timeout=timeout, what=f"{ticket_id} enriched and forwarded")


def dead_letters(emu) -> list:
    return requests.get(f"{emu.url}/.settings/deadLetters.json", headers=ADMIN, timeout=10).json() or []


def outcomes(proc: ManagedProcess, ticket_id: str) -> list:
    """The Enricher's outcomes for `ticket_id`, in order, from a function's JSON log lines."""
    found = []
    for line in proc.lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("ticket_id") == ticket_id and "outcome" in entry:
            found.append(entry["outcome"])
    return found


@pytest.fixture
def emu():
    proc = start_emulator()
    yield proc
    proc.stop()


@pytest.fixture
def started():
    """Start processes through this list; each is stopped after the test."""
    procs = []
    yield procs
    for proc in reversed(procs):
        proc.stop()


def test_a_db_fn_function_gets_params_before_and_after_of_each_write(emu, started, tmp_path):
    (tmp_path / "main.py").write_text(textwrap.dedent(PROBE))
    out = tmp_path / "events.jsonl"
    started.append(probe := serve_function(tmp_path / "main.py", "probe", {"PROBE_OUT": str(out)}))
    register(emu, {"name": "probe", "url": probe.url + "/"})
    base, ns = f"{emu.url}/tickets/t1.json", {"ns": "probe-tickets"}
    requests.put(base, params=ns, json={"subject": "a", "n": 1}, headers=ADMIN).raise_for_status()  # create
    requests.patch(base, params=ns, json={"n": 2, "subject": None, "extra": {"x": True}},
                   headers=ADMIN).raise_for_status()
    requests.put(f"{emu.url}/tickets/t1/extra/y.json", params=ns, json="deep",
                 headers=ADMIN).raise_for_status()  # below the trigger's node
    requests.delete(base, params=ns, headers=ADMIN).raise_for_status()
    records = wait_for(lambda: (lambda r: r if len(r) == 4 else None)(
        [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []), what="4 events")
    assert [(r["before"], r["after"]) for r in records] == [
        (None, {"subject": "a", "n": 1}),
        ({"subject": "a", "n": 1}, {"n": 2, "extra": {"x": True}}),
        ({"n": 2, "extra": {"x": True}}, {"n": 2, "extra": {"x": True, "y": "deep"}}),
        ({"n": 2, "extra": {"x": True, "y": "deep"}}, None),
    ]
    for record in records:
        assert record["params"] == {"ticketId": "t1"}
        assert (record["reference"], record["subject"]) == ("tickets/t1", "refs/tickets/t1")
        assert (record["instance"], record["location"], record["host"]) == (
            "probe-tickets", "us-central1", "firebaseio.com")
        assert record["type"] == "google.firebase.database.ref.v1.written" and record["auth_type"] == "admin"
        assert abs(datetime.fromisoformat(record["time"]).timestamp() - time.time()) < 60  # timezone-aware
    assert len({r["id"] for r in records}) == 4


def test_a_ticket_is_enriched_and_forwarded_through_the_sdk_entry_point_as_through_enrich_ticket(
        emu, started, tmp_path):
    started.append(desk := start_helpdesk(tmp_path))
    started.append(sdk := serve_function(MAIN, "on_ticket_written", function_env(emu, SDK_NAMESPACE, desk.url)))
    started.append(framework := serve_function(MAIN, "enrich_ticket",
                                               function_env(emu, FRAMEWORK_NAMESPACE, desk.url)))
    register(emu, {"name": "sdk", "url": sdk.url + "/", "instance": SDK_NAMESPACE},
             {"name": "framework", "url": framework.url + "/", "instance": FRAMEWORK_NAMESPACE})
    put_ticket(emu, SDK_NAMESPACE, "via-sdk", TICKET)
    put_ticket(emu, FRAMEWORK_NAMESPACE, "via-framework", TICKET)
    through_sdk, through_framework = forwarded(emu, SDK_NAMESPACE, "via-sdk"), \
        forwarded(emu, FRAMEWORK_NAMESPACE, "via-framework")

    def without_times(fields: dict) -> dict:
        return {k: v for k, v in fields.items() if k not in ("enriched_at", "synced_at", "id", "url")}

    assert without_times(through_sdk["enrichment"]) == without_times(through_framework["enrichment"])
    assert through_sdk["enrichment"]["priority"] in ("P1", "P2", "P3", "P4")
    assert without_times(through_sdk["helpdesk"]) == without_times(through_framework["helpdesk"]) == {
        "system": "zendesk", "input_hash": through_sdk["enrichment"]["input_hash"]}
    assert not {"enrichment_error", "helpdesk_error"} & (through_sdk.keys() | through_framework.keys())

    [sdk_desk] = desk_tickets(desk, external_id="via-sdk")
    [framework_desk] = desk_tickets(desk, external_id="via-framework")
    assert len(desk_tickets(desk)) == 2
    assert through_sdk["helpdesk"]["id"] == sdk_desk["id"]
    compared = ("subject", "description", "priority", "type", "status", "tags", "custom_fields", "requester_id")
    assert {k: sdk_desk[k] for k in compared} == {k: framework_desk[k] for k in compared}

    # Each function served its own ticket, and skipped its own write-back the same way.
    wait_for(lambda: len(outcomes(sdk, "via-sdk")) == 2 and len(outcomes(framework, "via-framework")) == 2,
             what="both write-backs handled")
    assert outcomes(sdk, "via-sdk") == outcomes(framework, "via-framework") == [
        "forwarded", "skipped_inputs_unchanged"]
    assert not outcomes(sdk, "via-framework") and not outcomes(framework, "via-sdk")
    assert not dead_letters(emu)


def test_through_the_sdk_entry_point_a_helpdesk_outage_is_retried_until_the_ticket_is_forwarded_once(
        emu, started, tmp_path):
    with socket.socket() as s:  # a free port, where the helpdesk will start only later
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started.append(sdk := serve_function(MAIN, "on_ticket_written",
                                         function_env(emu, SDK_NAMESPACE, f"http://127.0.0.1:{port}")))
    register(emu, {"name": "sdk", "url": sdk.url + "/", "instance": SDK_NAMESPACE})
    put_ticket(emu, SDK_NAMESPACE, "outage", TICKET)
    wait_for(lambda: outcomes(sdk, "outage").count("transient_failure") >= 2, timeout=30,
             what="the event to fail and be delivered again")
    assert "enrichment" in ticket_at(emu, SDK_NAMESPACE, "outage")  # written though the helpdesk call failed

    started.append(desk := start_helpdesk(tmp_path, port))
    ticket = forwarded(emu, SDK_NAMESPACE, "outage")
    [desk_ticket] = desk_tickets(desk)
    assert (desk_ticket["external_id"], desk_ticket["id"]) == ("outage", ticket["helpdesk"]["id"])
    assert "forwarded" in outcomes(sdk, "outage")
    assert not dead_letters(emu)


def test_the_sdk_webhook_records_an_outcome_as_helpdesk_webhook_does(emu, started):
    env = {**function_env(emu, SDK_NAMESPACE, "http://127.0.0.1:9"), "HELPDESK_WEBHOOK_SECRET": "s3cret"}
    started.append(hook := serve_function(MAIN, "on_helpdesk_webhook", env, signature="http"))
    put_ticket(emu, SDK_NAMESPACE, "t1", {"subject": "x", "status": "new"})
    body = json.dumps({"ticket": {"id": 5, "external_id": "t1", "status": "solved", "priority": "high",
                                  "solved_at": "2027-01-15T08:00:00Z"}}).encode()
    timestamp = str(int(time.time()))
    signature = base64.b64encode(hmac.new(b"s3cret", timestamp.encode() + body, hashlib.sha256).digest()).decode()
    headers = {webhook.TIMESTAMP_HEADER: timestamp, "Content-Type": "application/json"}
    refused = requests.post(hook.url + "/", data=body, headers={**headers, webhook.SIGNATURE_HEADER: "x" + signature})
    assert refused.status_code == 401 and "Invalid signature" in refused.json()["error"]
    r = requests.post(hook.url + "/", data=body, headers={**headers, webhook.SIGNATURE_HEADER: signature})
    assert r.status_code == 200, r.text
    ticket = ticket_at(emu, SDK_NAMESPACE, "t1")
    assert ticket["status"] == "solved" and ticket["done_at"] == ticket["resolution"]["recorded_at"]
    assert {k: ticket["resolution"][k] for k in ("status", "final_priority", "solved_at", "helpdesk_id")} == {
        "status": "solved", "final_priority": "P2", "solved_at": 1_800_000_000_000, "helpdesk_id": 5}


@pytest.mark.parametrize("headers, body, problem", [
    ({}, {"@type": "x", "data": None, "delta": {"a": 1}}, "instance, ref, firebasedatabasehost, location missing"),
    ({"ce-instance": "ns", "ce-ref": "tickets/t1", "ce-firebasedatabasehost": "firebaseio.com",
      "ce-location": "us-central1"}, [1, 2], "Invalid event data: a list."),
], ids=["no-extensions", "data-not-an-object"])
def test_the_sdk_entry_point_answers_400_to_an_event_it_cannot_read(started, headers, body, problem):
    env = {"FIREBASE_DATABASE_EMULATOR_HOST": "127.0.0.1:9", "MODEL_DIR": str(MODEL_DIR)}
    started.append(sdk := serve_function(MAIN, "on_ticket_written", env))
    r = requests.post(sdk.url + "/", json=body, timeout=10, headers={
        "ce-id": "e1", "ce-source": "//firebasedatabase.googleapis.com/projects/_/locations/us-central1/instances/ns",
        "ce-type": "google.firebase.database.ref.v1.written", "ce-specversion": "1.0",
        "ce-subject": "refs/tickets/t1", "ce-time": "2027-01-15T08:00:00.000000Z", **headers})
    assert r.status_code == 400, r.text
    assert problem in r.json()["error"]


def test_firebase_deploy_finds_the_sdk_entry_points_only_with_retries(tmp_path):
    # As the Firebase CLI discovers Python functions: it runs the SDK's admin server in functions/ and reads
    # /__/functions.yaml. Without any project setting in the environment: main.py must import without them.
    import firebase_functions

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    serving = Path(firebase_functions.__file__).parent / "private" / "serving.py"
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "ADMIN_PORT": str(port), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([PYTHON, str(serving)], cwd=ROOT / "functions", env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        manifest = yaml.safe_load(wait_for(lambda: _get(f"http://127.0.0.1:{port}/__/functions.yaml"), timeout=60,
                                           what=f"the SDK's admin server (exit {proc.poll()})"))
    finally:
        proc.kill()
        output = proc.communicate()[0]
    endpoints = manifest["endpoints"]
    assert sorted(endpoints) == ["on_helpdesk_webhook", "on_ticket_written"], output
    trigger = endpoints["on_ticket_written"]["eventTrigger"]
    assert trigger == {"eventType": "google.firebase.database.ref.v1.written", "eventFilters": {},
                       "eventFilterPathPatterns": {"ref": "tickets/{ticketId}", "instance": "*"}, "retry": True}
    assert endpoints["on_ticket_written"]["secretEnvironmentVariables"] == [{"key": "HELPDESK_API_TOKEN"}]
    assert endpoints["on_helpdesk_webhook"]["httpsTrigger"] == {}
    assert endpoints["on_helpdesk_webhook"]["secretEnvironmentVariables"] == [{"key": "HELPDESK_WEBHOOK_SECRET"}]
    assert {e["entryPoint"] for e in endpoints.values()} == set(endpoints)


def _get(url: str):
    try:
        r = requests.get(url, timeout=2)
    except requests.RequestException:
        return None
    return r.text if r.ok else None
