"""The stack registers the triggers declared in triggers.json, pointed at the function it started."""

import json

import requests

from stack import Ports, Stack


def _triggers(stack):
    r = requests.get(f"{stack.urls['database']}/.settings/functionTriggers.json",
                     headers={"Authorization": "Bearer owner"}, timeout=10)
    r.raise_for_status()
    return {t["name"]: t for t in r.json()}  # GET answers the list itself


def test_the_triggers_file_declares_the_policy_and_the_stack_only_sets_the_url(tmp_path, model_dir, monkeypatch):
    monkeypatch.delenv("AUDIT_FUNCTION_URL", raising=False)  # its default is what the emulator must get
    declared = {"triggers": [
        {"name": "enrich_ticket", "ref": "tickets/{ticketId}", "event_type": "google.firebase.database.ref.v1.written",
         "url": "${ENRICH_FUNCTION_URL:-http://127.0.0.1:5001/}", "max_attempts": 7, "min_backoff_s": 0.5,
         "max_backoff_s": 9, "timeout_s": 42},
        {"name": "audit", "ref": "tickets/{ticketId}/resolution", "event_type": "google.firebase.database.ref.v1.created",
         "url": "${AUDIT_FUNCTION_URL:-http://127.0.0.1:9/audit}", "max_attempts": 2, "min_backoff_s": 1, "max_backoff_s": 2, "timeout_s": 5},
    ]}
    triggers_file = tmp_path / "triggers.json"
    triggers_file.write_text(json.dumps(declared))
    stack = Stack(ports=Ports.free(), data_dir=tmp_path / "data", model_dir=model_dir, triggers_file=triggers_file)
    stack.start()
    try:
        got = _triggers(stack)
        assert set(got) == {"enrich_ticket", "audit"}
        enrich = got["enrich_ticket"]
        assert enrich["url"] == stack.urls["enrich"]
        assert (enrich["max_attempts"], enrich["min_backoff_s"], enrich["max_backoff_s"], enrich["timeout_s"]) == \
            (7, 0.5, 9, 42)
        assert got["audit"]["url"] == "http://127.0.0.1:9/audit" and got["audit"]["timeout_s"] == 5

        stack.max_attempts = 3  # an explicit policy (the fault tests) replaces the file's
        stack.register_trigger()
        assert _triggers(stack)["enrich_ticket"]["max_attempts"] == 3
        assert _triggers(stack)["enrich_ticket"]["timeout_s"] == 42
    finally:
        stack.stop()


def test_the_stack_serves_auth_on_its_own_port_and_keeps_it_across_a_database_restart(tmp_path, model_dir):
    stack = Stack(ports=Ports.free(), data_dir=tmp_path / "data", model_dir=model_dir)
    stack.start()
    try:
        auth = stack.urls["auth"]
        assert auth not in (stack.urls["database"] + "/", stack.urls["hosting"])
        assert requests.get(auth, timeout=10).json()["authEmulator"]["ready"] is True
        # The functions' firebase-admin is pointed at it, as the Firebase CLI points the functions it runs.
        assert stack.procs["enrich"].env["FIREBASE_AUTH_EMULATOR_HOST"] == auth.removeprefix("http://").rstrip("/")

        stack.restart("database")
        signed_up = requests.post(f"{auth}identitytoolkit.googleapis.com/v1/accounts:signUp", params={"key": "k"},
                                  json={}, timeout=10)
        assert signed_up.status_code == 200 and signed_up.json()["idToken"]
    finally:
        stack.stop()
