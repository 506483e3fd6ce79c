"""Training from the database: a real emulator, tickets written with the unmodified firebase-admin
SDK, read back a page at a time into a masked snapshot, and trained on end to end."""

import json
import os
import socket
import uuid

import firebase_admin
import pytest
from firebase_admin import db

from tests.support.procs import start_emulator
from ticketml.bundle import load_bundle
from training import database, demo_data
from training.__main__ import main
from training.data import DataError, prepare, read_records
from training.mapping import NATIVE

NS = "demo-tickets-default-rtdb"
URL = f"https://{NS}.firebaseio.com"
HOUR_MS = 3_600_000
NOW_MS = 1_790_000_000_000


@pytest.fixture(scope="module")
def emulator():
    """One in-memory emulator; firebase-admin reaches it as the function does (env variable)."""
    proc = start_emulator()
    previous = os.environ.get(database.EMULATOR_ENV)
    os.environ[database.EMULATOR_ENV] = f"127.0.0.1:{proc.port}"
    yield proc
    if previous is None:
        os.environ.pop(database.EMULATOR_ENV, None)
    else:
        os.environ[database.EMULATOR_ENV] = previous
    proc.stop()


@pytest.fixture(scope="module")
def writer(emulator):
    """The test's own firebase-admin app, that writes tickets as the function would."""
    app = firebase_admin.initialize_app(
        options={"databaseURL": URL, "projectId": "demo-tickets"}, name=f"w-{uuid.uuid4().hex[:8]}")
    yield app
    firebase_admin.delete_app(app)


@pytest.fixture
def location(writer):
    """A fresh tickets location: (its path, a reference to it)."""
    path = f"t/{uuid.uuid4().hex[:12]}/tickets"
    return path, db.reference(path, app=writer)


def ticket(subject, created_at, **fields):
    return {"subject": subject, "description": f"About {subject}.", "category": "technical",
            "type": "issue", "impact": 2, "experience": "advanced", "seniority": 1.5,
            "contact": {"name": "Ada Lovelace", "email": "ada@example.com"},
            "created_at": created_at, "status": "new", **fields}


def closed(subject, created_at, priority, hours):
    solved = created_at + int(hours * HOUR_MS)
    return ticket(subject, created_at, status="solved", resolution={
        "status": "solved", "final_priority": priority, "solved_at": solved,
        "helpdesk_id": 17, "recorded_at": solved + 1000})


def as_database_ticket(record: dict) -> dict:
    """A demo export record as the database holds it: the webhook's outcome, or none yet."""
    skip = ("id", "annotations", "exported_at", "resolution", "status")
    value = {k: v for k, v in record.items() if k not in skip and v is not None}
    if record["status"] == "open":
        return {**value, "status": "new"}
    outcome = record["resolution"]
    resolution = {"status": record["status"], "final_priority": outcome["priority"],
                  "solved_at": outcome["solved_at"]}
    if outcome.get("closed_at"):
        resolution["closed_at"] = outcome["closed_at"]
    return {**value, "status": record["status"], "resolution": resolution}


def test_pages_walk_every_ticket_once_in_key_order(location, writer, monkeypatch):
    _, ref = location
    keys = [ref.push(ticket(f"t{i}", NOW_MS)).key for i in range(23)]
    limits = []
    limit_to_first = db.Query.limit_to_first
    monkeypatch.setattr(db.Query, "limit_to_first",
                        lambda self, n: limits.append(n) or limit_to_first(self, n))

    pages = list(database.iter_pages(ref, page_size=5))
    assert [len(p) for p in pages] == [5, 5, 5, 5, 3]
    assert [k for page in pages for k, _ in page] == sorted(keys)
    assert limits == [5, 6, 6, 6, 6]  # after the first page, one more: the start is inclusive

    limits.clear()
    assert [len(p) for p in database.iter_pages(ref, page_size=23)] == [23]
    assert [len(p) for p in database.iter_pages(ref, page_size=1)] == [1] * 23
    empty = db.reference(f"t/{uuid.uuid4().hex[:12]}", app=writer)
    assert list(database.iter_pages(empty, page_size=5)) == []
    with pytest.raises(DataError, match="page size"):
        next(database.iter_pages(ref, page_size=0))


def test_a_ticket_deleted_between_pages_does_not_stop_the_walk(location):
    _, ref = location
    keys = sorted(ref.push(ticket(f"t{i}", NOW_MS)).key for i in range(12))
    pages = database.iter_pages(ref, page_size=4)
    first = next(pages)
    ref.child(first[-1][0]).delete()  # the key the next page starts at
    ref.child(keys[5]).delete()
    rest = [k for page in pages for k, _ in page]
    assert [k for k, _ in first] + rest == keys[:5] + keys[6:]


def test_snapshot_masks_and_counts_closed_open_and_malformed_tickets(location, tmp_path):
    path, ref = location
    created = NOW_MS - 100 * HOUR_MS
    ref.set({
        "-a": closed("Cannot log in", created, "P2", 5) | {
            "description": "Call +1 (555) 123-4567 or mail ada@example.com"},
        "-b": closed("Invoice is wrong", created + 1, "P4", 30),
        "-c": ticket("Dashboard slow", NOW_MS - 10 * HOUR_MS),  # open for 10 h
        "-d": "not a ticket",
        "-e": {"contact": {"name": "Nobody", "email": "nobody@example.com"}},
        "-f": ticket("Odd outcome", created, status="closed", resolution="done"),
        "-g": closed("Export fails", created + 2, "urgent", 8),
    })
    out = tmp_path / "snap.jsonl"
    report = database.write_snapshot(URL, out, path=path, page_size=3, clock=lambda: NOW_MS / 1000)
    assert report.as_dict() == {"pages": 3, "tickets": 7, "closed": 4, "open": 2,
                                "open_left_out": 0, "not_objects": 1}
    text = out.read_text()
    assert "example.com" not in text and "555" not in text and "Lovelace" not in text
    assert "[EMAIL]" in text and "[PHONE]" in text and '"contact"' not in text

    dataset = prepare(read_records(out), NATIVE)
    assert dataset.report["rows_read"] == 7
    assert dataset.report["rows_skipped"] == {
        "no input fields": 1, "no label": 1, "not an object": 1}
    assert dataset.report["notes"] == {'priority: unknown value "urgent" ignored': 1}
    assert dataset.report["priority_counts"] == {"P2": 1, "P4": 1}
    assert (dataset.report["resolved"], dataset.report["censored"]) == (3, 1)
    by_subject = {e.ticket["subject"]: e for e in dataset.examples}
    a, c, g = by_subject["Cannot log in"], by_subject["Dashboard slow"], by_subject["Export fails"]
    assert (a.priority, a.hours, a.censored) == ("P2", 5.0, False)
    assert a.ticket["description"] == "Call [PHONE] or mail [EMAIL]"
    # An open ticket is what an export's open ticket is: a lower bound, the time it has been open.
    assert (c.priority, c.hours, c.censored) == (None, 10.0, True)
    assert (g.priority, g.hours, g.censored) == (None, 8.0, False)


def test_closed_only_leaves_open_tickets_out(emulator, location, tmp_path):
    path, ref = location
    ref.set({"-a": closed("Done", NOW_MS - 9 * HOUR_MS, "P1", 2),
             "-b": ticket("Waiting", NOW_MS - HOUR_MS)})
    out = tmp_path / "snap.jsonl"
    # The emulator's own URL form works too (firebase-admin: http with ?ns=).
    report = database.write_snapshot(f"{emulator.url}/?ns={NS}", out, path=path,
                                     include_open=False)
    assert (report.closed, report.open, report.open_left_out) == (1, 0, 1)
    assert [json.loads(line)["subject"] for line in out.read_text().splitlines()] == ["Done"]


def test_train_from_the_database_end_to_end(location, tmp_path, capsys):
    path, ref = location
    records = list(demo_data.generate(800, 11))
    tickets = {f"-demo{i:05d}": as_database_ticket(r) for i, r in enumerate(records)}
    for start in range(0, len(tickets), 200):
        ref.update(dict(list(tickets.items())[start:start + 200]))
    model, snapshot = tmp_path / "model", tmp_path / "kept" / "snapshot.jsonl"

    # A random split, so that open tickets (the newest) reach training, not only the test set.
    assert main(["train", "--database", URL, "--path", path, "--page-size", "150",
                 "--snapshot", str(snapshot), "--out", str(model), "--split", "random",
                 "--quiet"]) == 0
    out = capsys.readouterr().out
    n_open = sum(r["status"] == "open" for r in records)
    assert f"read 800 tickets from {URL} ({path}) in 6 pages: {800 - n_open} closed, " \
           f"{n_open} open" in out
    assert "published" in out
    bundle = load_bundle(model)
    data = bundle.card["data"]
    assert data["source"] == "snapshot.jsonl" and data["mapping"] == "native"
    report = data["report"]
    assert report["rows_read"] == 800
    assert sum(report["rows_skipped"].values()) + report["rows_used"] == 800
    assert report["censored"] > 0 and report["resolved"] > 500
    assert set(report["priority_counts"]) == {"P1", "P2", "P3", "P4"}
    assert bundle.card["metrics"]["priority"]["n"] > 0
    assert bundle.card["predictor"]["resolution"]["censored_in_training"] > 0
    prediction = bundle.predict(as_database_ticket(records[0]))
    assert prediction["priority"] in ("P1", "P2", "P3", "P4")


def test_database_errors_exit_1_with_a_message(emulator, tmp_path, capsys, monkeypatch):
    model = str(tmp_path / "model")
    assert main(["train", "--database", URL, "--mapping", "gitbugs", "--out", model]) == 1
    assert "--mapping applies to --data" in capsys.readouterr().err
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        monkeypatch.setenv(database.EMULATOR_ENV, f"127.0.0.1:{s.getsockname()[1]}")
        assert main(["train", "--database", URL, "--out", model, "--quiet"]) == 1
    assert 'error: Database read of "tickets"' in capsys.readouterr().err
    monkeypatch.delenv(database.EMULATOR_ENV)
    assert main(["train", "--database", "--out", model, "--quiet"],
                environ={"GCLOUD_PROJECT": "demo-x"}) == 1
    assert "A demo- project exists only in the emulator" in capsys.readouterr().err
    with pytest.raises(DataError, match="Invalid database URL"):
        database.write_snapshot("ftp://nowhere", tmp_path / "s.jsonl")
