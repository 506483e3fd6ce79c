"""Training from the database: a real emulator, tickets written with the unmodified firebase-admin
SDK, read back a page at a time into a masked snapshot, and trained on end to end; the URL forms
``--database`` accepts and the namespace each one reads."""

import json
import os
import socket
import threading
import uuid
from pathlib import Path

import firebase_admin
import pytest
from firebase_admin import db

import training.__main__
from tests.support.procs import start_emulator
from ticketml.bundle import load_bundle
from training import database, database_url, demo_data
from training.__main__ import main
from training.data import DataError, prepare, read_records
from training.database_url import DatabaseURL
from training.mapping import NATIVE

NS = "demo-tickets-default-rtdb"
URL = f"https://{NS}.firebaseio.com"
RC_NS = "demo-rc-default-rtdb"  # the namespace of the project_dir fixture's .firebaserc
EU_NS = "demo-eu-default-rtdb"
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


@pytest.fixture
def project_dir(tmp_path, monkeypatch):
    """The working directory: a Firebase project folder whose .firebaserc names demo-rc."""
    (tmp_path / "firebase.json").write_text("{}")
    (tmp_path / ".firebaserc").write_text(json.dumps({"projects": {"default": "demo-rc"}}))
    monkeypatch.chdir(tmp_path)
    for variable in (*database_url.PROJECT_ENVS, database_url.DATABASE_URL_ENV):
        monkeypatch.delenv(variable, raising=False)
    return tmp_path


@pytest.fixture
def reads(monkeypatch):
    """`train --database` reads and reports, then stops before training: each read's subjects."""
    subjects = []

    def stop(data, mapping, args):
        lines = Path(data).read_text().splitlines()
        subjects.append(sorted(json.loads(line)["subject"] for line in lines))
        return 0

    monkeypatch.setattr(training.__main__, "_train_on", stop)
    return subjects


def write_in(emulator, namespace, path, value):
    """Set ``path`` in another namespace of the emulator, through firebase-admin's http URL form."""
    app = firebase_admin.initialize_app(
        options={"databaseURL": f"{emulator.url}/?ns={namespace}", "projectId": "demo-tickets"},
        name=f"w-{uuid.uuid4().hex[:8]}")
    try:
        db.reference(path, app=app).set(value)
    finally:
        firebase_admin.delete_app(app)


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
    assert report.seconds > 0
    assert report.as_dict() == {"pages": 3, "tickets": 7, "closed": 4, "open": 2,
                                "open_left_out": 0, "not_objects": 1, "seconds": report.seconds}
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
    # The emulator's own URL form works too.
    report = database.write_snapshot(f"{emulator.url}?ns={NS}", out, path=path,
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
    assert f"read 800 tickets from {URL} (emulator {os.environ[database.EMULATOR_ENV]}) " \
           f"({path}) in 6 pages (" in out
    assert f" s): {800 - n_open} closed, {n_open} open" in out
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


# Keys in Firebase's order: 32-bit integer keys numerically ("7" before "007"), then the rest by
# UTF-16 code units (so the emoji, a surrogate pair, sorts before the full-width "ｚ"). Push ids
# ("-" then ASCII) come between "!bang" and "2147483648" (past int32: a string).
INTEGER_KEYS = ["-2147483648", "-5", "0", "1", "2", "7", "007", "10", "99", "100", "2147483647"]
STRING_KEYS_BEFORE_PUSH_IDS = ["!bang"]
STRING_KEYS_AFTER_PUSH_IDS = ["2147483648", "A", "a", "a b", "~tilde", "é", "Ω", "😀", "ｚ"]


@pytest.fixture(params=["client", "query.get"])
def read_path(request, monkeypatch):
    """Pages read through firebase-admin's client with orjson (``database.fetch``), or, as where
    firebase-admin's internals are not there, through ``Query.get()``: the same pages either way."""
    if request.param == "client":
        def refuse(self):
            raise AssertionError("Query.get() was called: the client path was not taken")
        monkeypatch.setattr(db.Query, "get", refuse)
    else:
        monkeypatch.setattr(database, "fetch", lambda query: query.get())
    return request.param


def test_fetch_falls_back_to_query_get_without_firebase_admins_internals():
    class Query:  # what fetch needs of firebase-admin's query is not there: its public get() is used
        def get(self):
            return {"a": 1}

    assert database.fetch(Query()) == {"a": 1}


@pytest.mark.parametrize("page_size", [1, 2, 3, 5, 7, 1000])
def test_pages_return_every_oddly_sorting_key_once_in_firebase_order(location, page_size, read_path):
    _, ref = location
    push_ids = sorted(ref.push({"subject": "pushed"}).key for _ in range(6))
    odd = INTEGER_KEYS + STRING_KEYS_BEFORE_PUSH_IDS + STRING_KEYS_AFTER_PUSH_IDS
    ref.update({key: {"subject": key} for key in odd})
    expected = INTEGER_KEYS + STRING_KEYS_BEFORE_PUSH_IDS + push_ids + STRING_KEYS_AFTER_PUSH_IDS

    pages = list(database.iter_pages(ref, page_size=page_size))
    assert [k for page in pages for k, _ in page] == expected
    assert all(len(page) <= page_size + 1 for page in pages)
    assert [value["subject"] for page in pages for key, value in page
            if key not in push_ids] == [k for k in expected if k not in push_ids]


@pytest.mark.parametrize("page_size", [1, 4, 7, 10])
def test_pages_of_integer_keys_that_come_back_as_arrays(location, page_size, read_path):
    _, ref = location
    keys = [str(i) for i in range(25) if i not in (3, 4, 11)]  # gaps: arrays with nulls
    ref.set({key: {"subject": key} for key in keys})
    pages = list(database.iter_pages(ref, page_size=page_size))
    assert [(k, v["subject"]) for page in pages for k, v in page] == [(k, k) for k in keys]


def test_key_order_is_firebases():
    shuffled = ["ｚ", "😀", "a", "10", "007", "7", "-5", "2147483648", "2147483647", "Ω"]
    assert sorted(shuffled, key=database.key_order) == [
        "-5", "7", "007", "10", "2147483647", "2147483648", "a", "Ω", "😀", "ｚ"]


URL_FORMS = [  # (form, namespace read, needs FIREBASE_DATABASE_EMULATOR_HOST)
    ("http://{host}", RC_NS, False),
    ("http://{host}/", RC_NS, False),
    ("http://{host}?ns=" + NS, NS, False),
    ("http://{host}/?ns=" + EU_NS, EU_NS, False),
    ("https://" + NS + ".firebaseio.com", NS, True),
    ("https://" + RC_NS + ".firebaseio.com/", RC_NS, True),
    ("https://" + EU_NS + ".europe-west1.firebasedatabase.app", EU_NS, True),
]


@pytest.mark.parametrize("form, namespace, needs_env", URL_FORMS)
def test_database_accepts_each_url_form(emulator, project_dir, reads, monkeypatch, capsys,
                                        form, namespace, needs_env):
    path = f"t/{uuid.uuid4().hex[:12]}/tickets"
    for ns in (NS, RC_NS, EU_NS):  # the same path in three namespaces, told apart by subject
        write_in(emulator, ns, path, {"-a": ticket(f"in {ns}", NOW_MS)})
    host = f"127.0.0.1:{emulator.port}"
    if not needs_env:  # an http URL names the emulator itself
        monkeypatch.delenv(database.EMULATOR_ENV)
    url = form.format(host=host)

    assert main(["train", "--database", url, "--path", path, "--quiet"]) == 0
    assert reads == [[f"in {namespace}"]]
    out = capsys.readouterr().out
    resolved = f"http://{host}/?ns={namespace}" if not needs_env else \
        f"https://{url.split('/')[2]} (emulator {host})"
    assert f"read 1 tickets from {resolved} ({path}) in 1 pages (" in out


@pytest.mark.parametrize("environ, rc, namespace", [
    ({}, None, "demo-tickets-default-rtdb"),
    ({}, "demo-rc", "demo-rc-default-rtdb"),
    ({"GOOGLE_CLOUD_PROJECT": "demo-g"}, "demo-rc", "demo-g-default-rtdb"),
    ({"GCLOUD_PROJECT": "demo-a", "GOOGLE_CLOUD_PROJECT": "demo-g"}, "demo-rc",
     "demo-a-default-rtdb"),
    ({"DATABASE_URL": "https://demo-x.europe-west1.firebasedatabase.app",
      "GCLOUD_PROJECT": "demo-a"}, "demo-rc", "demo-x"),
    ({"DATABASE_URL": "http://127.0.0.1:9000/?ns=demo-y"}, "demo-rc", "demo-y"),
    ({"DATABASE_URL": "http://127.0.0.1:9000", "GCLOUD_PROJECT": "demo-a"}, None,
     "demo-a-default-rtdb"),
])
def test_an_emulator_url_without_ns_reads_the_namespace_the_function_writes(
        tmp_path, environ, rc, namespace):
    folder = tmp_path / "project" / "training"  # .firebaserc is found next to firebase.json above
    folder.mkdir(parents=True)
    (tmp_path / "project" / "firebase.json").write_text("{}")
    if rc:
        (tmp_path / "project" / ".firebaserc").write_text(
            json.dumps({"projects": {"default": rc}}))
    for form in ("http://localhost:9000", "http://localhost:9000/"):
        assert database_url.resolve(form, environ, cwd=folder) == DatabaseURL(
            f"http://localhost:9000/?ns={namespace}", namespace, "localhost:9000")


def test_the_default_url_and_firebaserc_without_firebase_json(tmp_path):
    (tmp_path / ".firebaserc").write_text(json.dumps({"projects": {"default": "demo-rc"}}))
    # The Firebase CLI reads .firebaserc only in the project folder (the one with firebase.json).
    assert database_url.resolve(None, {}, cwd=tmp_path) == DatabaseURL(
        "https://demo-tickets-default-rtdb.firebaseio.com", "demo-tickets-default-rtdb", None)
    (tmp_path / "firebase.json").write_text("{}")
    assert database_url.resolve("", {database.EMULATOR_ENV: "127.0.0.1:9000"},
                                cwd=tmp_path) == DatabaseURL(
        "https://demo-rc-default-rtdb.firebaseio.com", "demo-rc-default-rtdb", "127.0.0.1:9000")
    (tmp_path / ".firebaserc").write_text("{not json")
    with pytest.raises(DataError, match=r'Invalid \.firebaserc: ".*\.firebaserc"\. It must be'):
        database_url.resolve("http://localhost:9000", {}, cwd=tmp_path)


BAD_URLS = [
    ("127.0.0.1:9000", database_url.RULE),
    ("localhost:9000", database_url.RULE),
    ("ftp://127.0.0.1:9000", database_url.RULE),
    ("http://:9000", database_url.RULE),
    ("http://127.0.0.1:port", "Its port must be a number from 0 to 65535"),
    ("http://127.0.0.1:99999", "Its port must be a number from 0 to 65535"),
    ("http://127.0.0.1:9000/tickets", "it has no path (the tickets' location is --path)"),
    ("http://127.0.0.1:9000/?ns=", 'Its namespace "" must be lowercase letters'),
    ("http://127.0.0.1:9000/?ns=My_Project", 'Its namespace "My_Project" must be lowercase'),
    ("http://127.0.0.1:9000/?ns=a&ns=b", "the only query parameter is one ns"),
    ("http://127.0.0.1:9000/?namespace=a", "the only query parameter is one ns"),
    ("http://owner:x@127.0.0.1:9000", "with no user, ';' parameters or '#' fragment"),
    ("http://127.0.0.1:9000/#ns=a", "with no user, ';' parameters or '#' fragment"),
    ("http://127.0.0.1:9000 ", "It contains spaces or control characters"),
    ("https://127.0.0.1:9000", database_url.RULE),
    ("https://demo-x.firebaseio.com:443", database_url.RULE),
    ("https://demo-x.firebaseio.com/?ns=demo-y", database_url.RULE),
    ("https://firebaseio.com", database_url.RULE),
    ("https://Demo_X.firebaseio.com", 'Its namespace "demo_x" must be lowercase letters'),
]


@pytest.mark.parametrize("value, rule", BAD_URLS)
def test_bad_urls_are_refused_naming_the_value_and_the_rule(tmp_path, capsys, value, rule):
    assert main(["train", "--database", value, "--out", str(tmp_path), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f'error: Invalid --database: "{value}". ') and f"{rule}" in err
    assert err.rstrip().endswith(".")
    with pytest.raises(DataError, match=r'^Invalid database URL: "'):
        database.write_snapshot(value, tmp_path / "s.jsonl")


def test_a_bad_database_url_variable_is_named(tmp_path, capsys):
    environ = {"DATABASE_URL": "127.0.0.1:9000"}
    assert main(["train", "--database", "--out", str(tmp_path)], environ=environ) == 1
    assert 'error: Invalid DATABASE_URL: "127.0.0.1:9000". It must be http://' in \
        capsys.readouterr().err
    assert main(["train", "--database", "http://localhost:9000", "--out", str(tmp_path)],
                environ=environ) == 1
    assert 'error: Invalid DATABASE_URL: "127.0.0.1:9000"' in capsys.readouterr().err


def test_a_failure_while_writing_stops_the_read_ahead_before_the_app_goes(
        location, tmp_path, monkeypatch):
    path, ref = location
    ref.set({f"k{i:02d}": ticket(f"t{i}", NOW_MS) for i in range(12)})
    calls, reading_at_delete = [], []
    delete_app = firebase_admin.delete_app

    def progress(n):
        calls.append(n)
        if len(calls) == 2:
            raise OSError("disk full")

    def recording_delete_app(app):
        reading_at_delete.extend(t.name for t in threading.enumerate()
                                 if t.name.startswith("training-read"))
        delete_app(app)

    monkeypatch.setattr(firebase_admin, "delete_app", recording_delete_app)
    with pytest.raises(OSError, match="disk full"):
        database.write_snapshot(URL, tmp_path / "s.jsonl", path=path, page_size=3,
                                progress=progress)
    assert calls == [3, 3]
    assert reading_at_delete == []
