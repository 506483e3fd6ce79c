"""The function's floor per event: CPU per CloudEvent of functions-framework with nothing to do, and of
`enrich_ticket` skipping its own write-back event.

Run: `python -m bench.framework [--events 3000] [--rounds 3] [--out bench/results/framework.json]`.
Starts three real functions-framework servers on free ports:
  - `empty`: `bench/empty_function.py`'s plain function that returns at once, which functions-framework
    serves with Flask under gunicorn's threaded worker (as `enrich_ticket` was served until 2026-12-06);
  - `empty_async`: the same as a coroutine, which functions-framework serves with its ASGI server (uvicorn
    under gunicorn);
  - `skip`: the deployed `enrich_ticket` (`functions/main.py`, a coroutine: ASGI too) sent the event of its
    own write-back (the ticket before it, and the enrichment and helpdesk link it added), which its event
    loop recognises and skips without a database call or a thread. Its /metrics must count every one as
    `skipped_inputs_unchanged`.
Each round sends `--events` binary-mode CloudEvents, as the emulator delivers them, over one kept-alive
connection, one at a time, to each server in turn; CPU is the server's process tree's (psutil). A ticket makes
two events, so twice these figures is what functions-framework and the skip cost a ticket before any
prediction (`bench.pipeline` measures the whole path).
"""

import argparse
import http.client
import json
import statistics
import urllib.parse
from pathlib import Path

import requests
from prometheus_client.parser import text_string_to_metric_families

from bench.report import machine, save, table, tree_cpu_seconds
from ticketml.features import input_hash
from stack import FUNCTIONS_FRAMEWORK
from stack.procs import GUNICORN_READY, ROOT, ManagedProcess, answers_http

WARM_UP = 300
TICKET = {"subject": "Cannot log in since the update", "description": "Since this morning the login page says my "
          "password is wrong, although I reset it twice. " * 4,
          "contact": {"name": "Ann Smith", "email": "ann@example.com"}, "category": "authentication",
          "type": "issue", "impact": 2, "experience": "beginner", "seniority": 3, "created_at": 1765000000000,
          "status": "new", "uid": "customer-1"}
WRITE_BACK = {"enrichment": {"priority": "P2", "priority_scores": {"P1": 0.1, "P2": 0.6, "P3": 0.2, "P4": 0.1},
                             "sentiment": {"label": "negative", "score": -0.42},
                             "resolution_hours": {"p50": 5.1, "p90": 21.0}, "needs_review": False,
                             "model_version": "bench", "input_hash": input_hash(TICKET), "enriched_at": 1765000000100},
              "enrichment_error": None,
              "helpdesk": {"system": "zendesk", "id": 1, "url": "http://127.0.0.1:9/agent/tickets/1",
                           "synced_at": 1765000000200, "input_hash": input_hash(TICKET)},
              "helpdesk_error": None}
VARIANTS = {"empty": (ROOT / "bench" / "empty_function.py", "empty"),
            "empty_async": (ROOT / "bench" / "empty_function.py", "empty_async"),
            "skip": (ROOT / "functions" / "main.py", "enrich_ticket")}


def event_request(i: int) -> tuple[dict, bytes]:
    """Headers and body of the write-back event of ticket `i`, as the emulator posts it."""
    key = f"-Nbench{i:013d}"
    headers = {"Content-Type": "application/json", "ce-id": f"bench-{i}", "ce-specversion": "1.0",
               "ce-source": "//firebasedatabase.googleapis.com/projects/_/locations/us-central1/instances/bench",
               "ce-type": "google.firebase.database.ref.v1.written", "ce-subject": f"refs/tickets/{key}",
               "ce-time": "2026-12-06T04:00:00.000000Z", "ce-instance": "bench", "ce-ref": f"tickets/{key}",
               "ce-firebasedatabasehost": "firebaseio.com", "ce-location": "us-central1", "ce-authtype": "admin"}
    data = {"@type": "type.googleapis.com/google.events.firebase.database.v1.ReferenceEventData",
            "data": TICKET, "delta": WRITE_BACK}
    return headers, json.dumps(data, separators=(",", ":")).encode()


def start(variant: str, model_dir: Path) -> ManagedProcess:
    source, target = VARIANTS[variant]
    env = {"GCLOUD_PROJECT": "demo-tickets", "MODEL_DIR": str(model_dir), "METRICS_PORT": "0",
           # Never called: the skip makes no database or helpdesk call (its /metrics proves it skipped).
           "FIREBASE_DATABASE_EMULATOR_HOST": "127.0.0.1:9", "HELPDESK_URL": "http://127.0.0.1:9",
           "GUNICORN_LOG_LEVEL": "info"}
    return ManagedProcess([FUNCTIONS_FRAMEWORK, "--source", str(source), "--target", target, "--signature-type",
                           "cloudevent", "--host", "127.0.0.1", "--port", "0"], ready=GUNICORN_READY, env=env,
                          timeout=60, probe=answers_http).start()


def send(netloc: str, first: int, n: int) -> None:
    """Post events `first`.. `first + n - 1` over one new kept-alive connection (gunicorn closes one idle for
    2 s, as the other server's round leaves it)."""
    conn = http.client.HTTPConnection(netloc, timeout=30)
    for i in range(first, first + n):
        headers, body = event_request(i)
        conn.request("POST", "/", body=body, headers=headers)
        answer = conn.getresponse()
        text = answer.read()
        if answer.status != 200:
            raise RuntimeError(f"event {i} answered {answer.status}: {text[:300]!r}")
    conn.close()


def metrics_url(proc: ManagedProcess) -> str:
    for line in proc.lines:
        if line.startswith("Function metrics at "):
            return line.split(" at ", 1)[1].strip()
    raise LookupError("the function printed no metrics URL:\n" + proc.output[-2000:])


def run(events: int, rounds: int, model_dir: Path) -> list[dict]:
    procs = {name: start(name, model_dir) for name in VARIANTS}
    try:
        netlocs = {name: urllib.parse.urlsplit(proc.match.group(1)).netloc for name, proc in procs.items()}
        for name in procs:
            send(netlocs[name], 0, WARM_UP)
        per_event = {name: [] for name in procs}
        sent = WARM_UP
        for _ in range(rounds):
            for name, proc in procs.items():  # in turn, so a change in the machine's speed hits both
                before = tree_cpu_seconds(proc.proc.pid)
                send(netlocs[name], sent, events)
                per_event[name].append((tree_cpu_seconds(proc.proc.pid) - before) / events * 1e6)
            sent += events
        exposition = requests.get(metrics_url(procs["skip"]), timeout=10).text
        skipped = [s.value for f in text_string_to_metric_families(exposition) for s in f.samples
                   if s.name == "enrich_events_total" and s.labels.get("outcome") == "skipped_inputs_unchanged"]
        if skipped != [sent]:
            raise RuntimeError(f"enrich_ticket did not skip each of the {sent} events: {skipped}\n{exposition[:3000]}")
    finally:
        for proc in procs.values():
            proc.stop()
    rows = []
    for name, values in per_event.items():
        rows.append({"variant": name, "events": events * rounds,
                     "cpu_us_per_event": [round(v, 1) for v in values],
                     "median_us": round(statistics.median(values), 1)})
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=3000, help="events per round and server")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--model-dir", default=str(ROOT / "model"))
    p.add_argument("--out", default="bench/results/framework.json")
    args = p.parse_args(argv)
    if args.events < 1 or args.rounds < 1:
        p.error(f"--events and --rounds must be at least 1, got {args.events} and {args.rounds}")
    host = machine()
    print(f"The speed probe takes {host['speed_probe_ms']} ms")
    rows = run(args.events, args.rounds, Path(args.model_dir))
    table("CPU per CloudEvent in the function's process (µs): functions-framework alone (Flask or ASGI), and "
          "enrich_ticket skipping its own write-back", [("variant", "variant"), ("events", "events"), ("per round", "cpu_us_per_event"),
                                 ("median", "median_us")], rows)
    save(args.out, {"benchmark": "framework", "machine": host, "rows": rows})


if __name__ == "__main__":
    main()
