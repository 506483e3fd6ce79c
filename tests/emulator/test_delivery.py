"""Event delivery from a real emulator to a recording HTTP endpoint standing in for a function."""

import json
import re
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from tests.support.procs import start_emulator, wait_for

ADMIN = {"Authorization": "Bearer owner"}


class Receiver:
    """A threaded HTTP server that records CloudEvents; per-subject delays and failures are settable."""

    def __init__(self):
        self.events: list[dict] = []
        self.delays: dict[str, float] = {}
        self.fail_first: dict[str, int] = {}
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                headers = {k.lower(): v for k, v in self.headers.items()}
                subject = headers.get("ce-subject", "")
                time.sleep(receiver.delays.get(subject, 0))
                with receiver.lock:
                    if receiver.fail_first.get(subject, 0) > 0:
                        receiver.fail_first[subject] -= 1
                        self.send_response(500)
                        self.end_headers()
                        return
                    receiver.events.append({"headers": headers, "data": json.loads(body), "at": time.monotonic()})
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def of(self, subject):
        with self.lock:
            return [e for e in self.events if e["headers"]["ce-subject"] == subject]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def register(emu, url, event_type="written", **policy):
    trigger = {"name": "recorder", "ref": "tickets/{ticketId}", "event_type": event_type, "url": url,
               "max_attempts": 5, "min_backoff_s": 0.05, "max_backoff_s": 0.2, **policy}
    r = requests.put(f"{emu.url}/.settings/functionTriggers.json", json={"triggers": [trigger]}, headers=ADMIN)
    assert r.status_code == 200, r.text


@pytest.fixture
def emu(receiver):
    proc = start_emulator()
    register(proc, receiver.url)
    yield proc
    proc.stop()


def test_cloudevent_attributes_and_data(emu, receiver):
    requests.put(f"{emu.url}/tickets/t1.json", json={"subject": "a", "n": 1})
    requests.patch(f"{emu.url}/tickets/t1.json", json={"n": 2, "subject": None, "x/y": True})
    requests.put(f"{emu.url}/elsewhere/t1.json", json=1)  # outside the pattern: no event
    requests.delete(f"{emu.url}/tickets/t1.json")
    events = wait_for(lambda: (lambda e: e if len(e) == 3 else None)(receiver.of("refs/tickets/t1")), what="3 events")
    created, updated, deleted = events
    h = created["headers"]
    assert h["ce-type"] == "google.firebase.database.ref.v1.written"
    assert h["ce-source"] == "//firebasedatabase.googleapis.com/projects/_/locations/us-central1/instances/demo-tickets-default-rtdb"
    assert h["ce-specversion"] == "1.0" and h["ce-subject"] == "refs/tickets/t1" and h["ce-ref"] == "tickets/t1"
    assert h["ce-instance"] == "demo-tickets-default-rtdb" and h["ce-firebasedatabasehost"] == "firebaseio.com"
    assert h["ce-location"] == "us-central1" and h["ce-authtype"] == "unauthenticated"
    assert h["ce-id"] and h["content-type"] == "application/json"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", h["ce-time"]), h["ce-time"]  # RFC 3339, UTC, µs
    assert abs(datetime.fromisoformat(h["ce-time"]).timestamp() - time.time()) < 60
    assert len({e["headers"]["ce-id"] for e in events}) == 3
    assert created["data"] == {"@type": "type.googleapis.com/google.events.firebase.database.v1.ReferenceEventData",
                               "data": None, "delta": {"subject": "a", "n": 1}}
    assert updated["data"]["data"] == {"subject": "a", "n": 1}
    assert updated["data"]["delta"] == {"n": 2, "subject": None, "x": {"y": True}}
    assert deleted["data"]["data"] == {"n": 2, "x": {"y": True}} and deleted["data"]["delta"] is None


def test_admin_and_user_auth_are_named(emu, receiver):
    import base64
    payload = base64.urlsafe_b64encode(json.dumps({"sub": "user-7", "user_id": "user-7"}).encode()).decode().rstrip("=")
    token = f"e30.{payload}."
    requests.put(f"{emu.url}/tickets/a1.json", json=1, headers=ADMIN)
    requests.put(f"{emu.url}/tickets/u1.json?auth={token}", json=1)
    admin = wait_for(lambda: receiver.of("refs/tickets/a1"), what="admin event")[0]["headers"]
    user = wait_for(lambda: receiver.of("refs/tickets/u1"), what="user event")[0]["headers"]
    assert admin["ce-authtype"] == "admin" and "ce-authid" not in admin
    assert user["ce-authtype"] == "app_user" and user["ce-authid"] == "user-7"


def test_a_write_above_the_pattern_fires_for_each_ticket_it_changes(emu, receiver):
    requests.put(f"{emu.url}/tickets.json", json={"p1": {"v": 1}, "p2": {"v": 2}})
    wait_for(lambda: receiver.of("refs/tickets/p1") and receiver.of("refs/tickets/p2"), what="both tickets")
    requests.put(f"{emu.url}/tickets.json", json={"p2": {"v": 2}, "p3": {"v": 3}})  # p1 deleted, p2 same, p3 new
    wait_for(lambda: len(receiver.of("refs/tickets/p1")) == 2 and receiver.of("refs/tickets/p3"), what="changes")
    time.sleep(0.2)
    assert len(receiver.of("refs/tickets/p2")) == 1  # unchanged: no event
    assert receiver.of("refs/tickets/p1")[1]["data"]["delta"] is None


def test_no_event_for_a_write_that_changes_nothing(emu, receiver):
    requests.put(f"{emu.url}/tickets/same.json", json={"v": 1})
    wait_for(lambda: receiver.of("refs/tickets/same"), what="first event")
    requests.put(f"{emu.url}/tickets/same.json", json={"v": 1})
    requests.patch(f"{emu.url}/tickets/same.json", json={"v": 1})
    time.sleep(0.3)
    assert len(receiver.of("refs/tickets/same")) == 1


# Each write's value is {"s": ...}: created sees "c", updated "u", and deleted carries the removed "u".
@pytest.mark.parametrize("kind,expected", [("created", ["c"]), ("updated", ["u"]), ("deleted", ["u"])])
def test_event_type_filters(receiver, kind, expected):
    proc = start_emulator()
    try:
        register(proc, receiver.url, event_type=f"google.firebase.database.ref.v1.{kind}")
        requests.put(f"{proc.url}/tickets/k.json", json={"s": "c"})
        requests.put(f"{proc.url}/tickets/k.json", json={"s": "u"})
        requests.delete(f"{proc.url}/tickets/k.json")
        wait_for(lambda: receiver.of("refs/tickets/k"), what="an event")
        time.sleep(0.3)
        events = receiver.of("refs/tickets/k")
        assert all(e["headers"]["ce-type"].endswith(kind) for e in events)
        seen = [(e["data"]["delta"] or e["data"]["data"])["s"] for e in events]
        assert seen == expected
    finally:
        proc.stop()


def test_in_order_per_ticket_and_a_slow_ticket_does_not_block_others(emu, receiver):
    receiver.delays["refs/tickets/slow"] = 1.5
    for i in range(3):
        requests.put(f"{emu.url}/tickets/slow/n.json", json=i)
    for i in range(5):
        requests.put(f"{emu.url}/tickets/fast{i}.json", json=i)
    fast = wait_for(lambda: all(receiver.of(f"refs/tickets/fast{i}") for i in range(5)) and receiver.events,
                    timeout=3, what="fast tickets")
    assert fast
    assert len(receiver.of("refs/tickets/slow")) <= 1  # still working through the slow one
    slow = wait_for(lambda: (lambda e: e if len(e) == 3 else None)(receiver.of("refs/tickets/slow")), timeout=10,
                    what="the slow ticket's three events")
    assert [e["data"]["delta"]["n"] for e in slow] == [0, 1, 2]


def test_failures_are_retried_in_order(emu, receiver):
    receiver.fail_first["refs/tickets/flaky"] = 3
    requests.put(f"{emu.url}/tickets/flaky.json", json={"v": 1})
    requests.put(f"{emu.url}/tickets/flaky/v.json", json=2)
    events = wait_for(lambda: (lambda e: e if len(e) == 2 else None)(receiver.of("refs/tickets/flaky")), what="retries")
    assert [e["data"]["delta"]["v"] for e in events] == [1, 2]


def test_events_survive_kill_9_between_commit_and_delivery(tmp_path, receiver):
    config = tmp_path / "firebase.json"
    config.write_text("{}")
    (tmp_path / "triggers.json").write_text(json.dumps({"triggers": [{
        "name": "recorder", "ref": "tickets/{id}", "event_type": "written", "url": receiver.url,
        "max_attempts": 100, "min_backoff_s": 0.05, "max_backoff_s": 0.2}]}))
    receiver.fail_first.update({f"refs/tickets/k{i}": 10**6 for i in range(20)})  # function "down"
    proc = start_emulator(data_dir=tmp_path / "data", config=config)
    for i in range(20):
        assert requests.put(f"{proc.url}/tickets/k{i}.json", json=i).status_code == 200
    time.sleep(0.3)
    proc.kill()
    receiver.fail_first.clear()  # the function is back
    proc = start_emulator(data_dir=tmp_path / "data", config=config)
    try:
        wait_for(lambda: all(receiver.of(f"refs/tickets/k{i}") for i in range(20)), what="all 20 events")
    finally:
        proc.stop()


def test_dead_letters_then_replay(emu, receiver):
    register(emu, receiver.url, max_attempts=2)
    receiver.fail_first["refs/tickets/dl"] = 2
    requests.put(f"{emu.url}/tickets/dl.json", json=1)
    letters = wait_for(lambda: requests.get(f"{emu.url}/.settings/deadLetters.json", headers=ADMIN).json(),
                       what="a dead letter")
    assert letters[0]["subject"] == "refs/tickets/dl" and letters[0]["attempts"] == 2
    assert "answered 500" in letters[0]["last_error"]
    r = requests.post(f"{emu.url}/.settings/deadLetters/replay.json", json={"ids": [letters[0]["id"]]}, headers=ADMIN)
    assert r.json() == {"replayed": 1}
    wait_for(lambda: receiver.of("refs/tickets/dl"), what="replayed delivery")
    assert requests.get(f"{emu.url}/.settings/deadLetters.json", headers=ADMIN).json() == []


def test_triggers_endpoint_validates(emu):
    r = requests.put(f"{emu.url}/.settings/functionTriggers.json", headers=ADMIN,
                     json={"triggers": [{"name": "x", "ref": "a/b.c", "event_type": "written", "url": "http://x/"}]})
    assert r.status_code == 400 and 'ref "a/b.c"' in r.json()["error"]
    r = requests.put(f"{emu.url}/.settings/functionTriggers.json", headers=ADMIN,
                     json={"triggers": [{"name": "x", "ref": "a/{b}", "event_type": "changed", "url": "http://x/"}]})
    assert r.status_code == 400 and 'event_type "changed"' in r.json()["error"]
    r = requests.put(f"{emu.url}/.settings/functionTriggers.json",
                     json={"triggers": []})
    assert r.status_code == 401


def test_events_reuse_one_kept_alive_connection_to_the_function(tmp_path):
    """A function's answer body ("OK", as functions-framework's) arriving after its headers must not cost the
    next event a new connection: delivery reads it to the end so the connection goes back to the pool."""
    ports, lock = [], threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            with lock:
                ports.append(self.client_address[1])
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.flush()
            time.sleep(0.01)  # the body in a later packet than the headers
            self.wfile.write(b"OK")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    proc = start_emulator()
    try:
        register(proc, f"http://127.0.0.1:{server.server_address[1]}/")
        for i in range(20):  # one ticket: its events are delivered one after the other
            requests.put(f"{proc.url}/tickets/t1/n.json", json=i, headers=ADMIN).raise_for_status()
        wait_for(lambda: len(ports) == 20, what="20 events delivered")
        assert len(set(ports)) <= 2, f"{len(set(ports))} connections for 20 events"
    finally:
        proc.stop()
        server.shutdown()
        server.server_close()
