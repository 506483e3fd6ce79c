"""`enrich_ticket` on functions-framework's event loop (`enrichment.eventloop`), served as deployed.

The loop answers the events that need no call (the function's own write-backs) itself; the others wait for one
of THREADS threads. So a write-back is answered while every thread waits on a database that never answers.
"""

import json
import os
import shutil
import signal
import socket
import threading
import time

import psutil
import pytest
import requests

from bench.framework import event_request, metrics_url
from enrichment import eventloop
from enrichment.metrics import MONITOR_FILE
from stack.procs import wait_for
from tests.functions.test_sdk_entry import MAIN, MODEL_DIR, serve_function


@pytest.mark.parametrize("value", ["0", "-1", "abc", "", "2.5", "1e3", "257", "٣"])
def test_threads_refuses_a_value_that_is_no_count_of_threads(value):
    with pytest.raises(ValueError) as refused:
        eventloop.threads({"THREADS": value})
    assert str(refused.value) == f'Invalid THREADS: "{value}". It must be a whole number from 1 to 256.'


def test_threads_is_the_setting_or_four_per_cpu(monkeypatch):
    assert eventloop.threads({"THREADS": "1"}) == 1
    assert eventloop.threads({"THREADS": "256"}) == 256
    monkeypatch.setattr(eventloop.os, "cpu_count", lambda: 3)
    assert eventloop.threads({}) == 12


class _Post(threading.Thread):
    """One POST in the background; `status` is its answer's, or the exception's name."""

    def __init__(self, url: str, headers: dict, body: bytes):
        super().__init__(daemon=True)
        self.url, self.headers, self.body, self.status = url, headers, body, None

    def run(self):
        try:
            self.status = requests.post(self.url, data=self.body, headers=self.headers, timeout=120).status_code
        except requests.RequestException as exc:
            self.status = type(exc).__name__


def test_write_backs_are_answered_while_every_thread_waits_on_the_database():
    # A database that takes connections (into the kernel's backlog) and never answers.
    silent = socket.create_server(("127.0.0.1", 0), backlog=64)
    env = {"FIREBASE_DATABASE_EMULATOR_HOST": f"127.0.0.1:{silent.getsockname()[1]}",
           "GCLOUD_PROJECT": "demo-tickets", "HELPDESK_URL": "http://127.0.0.1:9", "MODEL_DIR": str(MODEL_DIR),
           "THREADS": "1", "METRICS_PORT": "0"}
    function = serve_function(MAIN, "enrich_ticket", env)
    try:
        url = function.url + "/"
        headers, write_back = event_request(1)
        creation = json.dumps({"data": None, "delta": json.loads(write_back)["data"]}).encode()
        # A new ticket: the one thread reads it from the silent database and waits.
        waiting = _Post(url, {**headers, "ce-id": "new-1"}, creation)
        waiting.start()
        time.sleep(1.0)
        assert waiting.is_alive()
        for i in range(20):  # write-backs (of other tickets): answered on the loop
            started = time.monotonic()
            headers, body = event_request(100 + i)
            assert requests.post(url, data=body, headers=headers, timeout=30).status_code == 200
            assert time.monotonic() - started < 5.0
        assert waiting.is_alive(), f"the new ticket's event ended ({waiting.status}): the thread was not held"
        text = requests.get(metrics_url(function), timeout=10).text
        assert 'enrich_events_total{outcome="skipped_inputs_unchanged"} 20.0' in text
        silent.close()  # the read fails: the event answers 500, for the platform to deliver it again
        waiting.join(60)
        assert waiting.status == 500
    finally:
        silent.close()
        function.stop()


def test_events_no_retry_can_fix_are_answered_400_on_the_event_loop():
    env = {"FIREBASE_DATABASE_EMULATOR_HOST": "127.0.0.1:9", "GCLOUD_PROJECT": "demo-tickets",
           "HELPDESK_URL": "http://127.0.0.1:9", "MODEL_DIR": str(MODEL_DIR), "METRICS_PORT": "0"}
    function = serve_function(MAIN, "enrich_ticket", env)
    try:
        url = function.url + "/"
        headers, _ = event_request(1)
        # Data that is not an object: the function refuses it, as the Flask entry points do.
        refused = requests.post(url, data=b"[1, 2]", headers=headers, timeout=30)
        assert refused.status_code == 400 and refused.headers["Content-Type"] == "application/json"
        assert refused.json()["error"].startswith("Malformed CloudEvent: "), refused.text
        # No ce-id: functions-framework cannot read it as a CloudEvent and refuses it before the function.
        unreadable = requests.post(url, data=b"{}", headers={k: v for k, v in headers.items() if k != "ce-id"},
                                   timeout=30)
        assert unreadable.status_code == 400 and "MissingRequiredFields" in unreadable.text, unreadable.text
        text = requests.get(metrics_url(function), timeout=10).text
        assert 'enrich_events_total{outcome="malformed"} 1.0' in text
        headers, body = event_request(2)  # and it goes on serving
        assert requests.post(url, data=body, headers=headers, timeout=30).status_code == 200
    finally:
        function.stop()


def test_the_instance_takes_what_it_loaded_out_of_the_collectors_scans():
    # Every full collection would otherwise traverse the modules, clients and model loaded: 28-38 ms of standstill.
    env = {"FIREBASE_DATABASE_EMULATOR_HOST": "127.0.0.1:9", "GCLOUD_PROJECT": "demo-tickets",
           "HELPDESK_URL": "http://127.0.0.1:9", "MODEL_DIR": str(MODEL_DIR)}
    function = serve_function(MAIN, "enrich_ticket", env)
    try:
        line = wait_for(lambda: next((l for l in function.lines if l.startswith("Instance warmed up: ")), None),
                        timeout=60, what="the warm-up's line")
        frozen = int(line.split(": ", 1)[1].split()[0])
        assert frozen > 20_000, line  # the model alone leaves about 21,000 tracked objects
        headers, body = event_request(1)  # and it serves as before
        assert requests.post(function.url + "/", data=body, headers=headers, timeout=30).status_code == 200
    finally:
        function.stop()


def _workers(function) -> set[int]:
    return {child.pid for child in psutil.Process(function.proc.pid).children()}


def test_metrics_add_up_every_worker_even_those_restarted_since(tmp_path):
    model_dir = tmp_path / "model"
    shutil.copytree(MODEL_DIR, model_dir)
    (model_dir / MONITOR_FILE).write_text(json.dumps({"closed": 40, "priority": {"accuracy": 0.825}}))
    env = {"FIREBASE_DATABASE_EMULATOR_HOST": "127.0.0.1:9", "GCLOUD_PROJECT": "demo-tickets",
           "HELPDESK_URL": "http://127.0.0.1:9", "MODEL_DIR": str(model_dir), "METRICS_PORT": "0",
           "WORKERS": "2", "THREADS": "2", "TMPDIR": str(tmp_path)}
    function = serve_function(MAIN, "enrich_ticket", env)
    shared = list(tmp_path.glob("enrich-metrics-*"))
    assert len(shared) == 1, shared  # made by gunicorn's process, for all of its workers
    try:
        first = wait_for(lambda: len(_workers(function)) == 2 and _workers(function), timeout=30, what="two workers")
        url = function.url + "/"
        for i in range(10):  # each on a connection of its own, to whichever worker takes it
            headers, body = event_request(i)
            assert requests.post(url, data=body, headers=headers, timeout=30).status_code == 200
        for pid in first:  # both workers killed: gunicorn starts two others
            os.kill(pid, signal.SIGKILL)
        wait_for(lambda: len(_workers(function) - first) == 2, timeout=30, what="two new workers")
        for i in range(10, 20):
            headers, body = event_request(i)
            assert requests.post(url, data=body, headers=headers, timeout=30).status_code == 200
        served = [line.split(" at ", 1)[1].strip() for line in function.lines
                  if line.startswith("Function metrics at ")]
        text = requests.get(served[-1], timeout=10).text  # served by one of the new workers
        assert 'enrich_events_total{outcome="skipped_inputs_unchanged"} 20.0' in text, text[-3000:]
        assert "enrich_monitor_priority_accuracy 0.825" in text  # and the monitoring report's gauges, once
        assert text.count("# TYPE enrich_monitor_priority_accuracy gauge") == 1
    finally:
        function.stop()
    assert not shared[0].exists()  # removed when gunicorn exits
