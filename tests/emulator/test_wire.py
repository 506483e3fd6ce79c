"""Wire details the SDK hides: status codes, headers, bodies, SSE framing, CORS, admin surface."""

import json
import socket
import time

import pytest
import requests

from bench.report import metric
from tests.emulator.conftest import ADMIN, NS


def test_put_echoes_and_silent_answers_204(http, base):
    r = http.put(f"{base}.json", json={"a": [1, None, 3]})
    assert r.status_code == 200 and r.json() == {"a": [1, None, 3]}
    assert r.headers["Content-Type"] == "application/json; charset=utf-8"
    r = http.put(f"{base}.json?print=silent", json={"b": 1})
    assert r.status_code == 204 and r.content == b""
    r = http.get(f"{base}.json?print=silent")
    assert r.status_code == 204


def test_pretty_print(http, base):
    http.put(f"{base}.json", json={"a": {"b": 1}})
    assert http.get(f"{base}.json?print=pretty").text == '{\n  "a" : {\n    "b" : 1\n  }\n}'


def test_post_returns_name_and_delete_returns_null(http, base):
    r = http.post(f"{base}.json", json={"x": 1})
    name = r.json()["name"]
    assert r.status_code == 200 and len(name) == 20
    assert http.get(f"{base}/{name}.json").json() == {"x": 1}
    r = http.delete(f"{base}/{name}.json")
    assert r.status_code == 200 and r.text == "null"


def test_null_and_empty_object_delete(http, base):
    http.put(f"{base}.json", json={"a": 1, "b": {"c": 2}, "d": 3})
    http.put(f"{base}/a.json", data="null")
    http.put(f"{base}/b.json", json={})
    http.patch(f"{base}.json", json={"e": {}, "f": {"g": None}})
    assert http.get(f"{base}.json").json() == {"d": 3}


def test_arrays_follow_firebase_rule(http, base):
    http.put(f"{base}.json", json={"dense": {"0": "a", "1": "b", "2": "c"}, "sparse": {"0": "a", "5": "b"},
                                   "gappy": {"0": "a", "2": "c"}, "padded": {"00": 1, "1": 2}})
    got = http.get(f"{base}.json").json()
    assert got["dense"] == ["a", "b", "c"]
    assert got["sparse"] == {"0": "a", "5": "b"}  # max key 5 >= 2 * count 2: an object
    assert got["gappy"] == ["a", None, "c"]
    assert got["padded"] == {"00": 1, "1": 2}


def test_format_export_includes_priorities(http, base):
    http.put(f"{base}.json", json={"a": {".value": 1, ".priority": 5}, "b": {"c": 2, ".priority": "p"}})
    assert http.get(f"{base}.json").json() == {"a": 1, "b": {"c": 2}}
    assert http.get(f"{base}.json?format=export").json() == {
        "a": {".value": 1, ".priority": 5}, "b": {"c": 2, ".priority": "p"}}
    got = http.get(f'{base}.json?orderBy="$priority"&limitToFirst=1').json()
    assert got == {"a": 1}


def test_shallow(http, base):
    http.put(f"{base}.json", json={"obj": {"x": 1}, "num": 2, "str": "s"})
    assert http.get(f"{base}.json?shallow=true").json() == {"obj": True, "num": 2, "str": "s"}
    assert http.get(f"{base}/num.json?shallow=true").json() == 2


def test_etag_headers(http, base):
    http.put(f"{base}.json", json={"v": 1})
    r = http.get(f"{base}.json", headers={"X-Firebase-ETag": "true"})
    etag = r.headers["ETag"]
    assert "ETag" not in http.get(f"{base}.json").headers
    r = http.get(f"{base}.json", headers={"if-none-match": etag})
    assert r.status_code == 304 and r.content == b""
    r = http.put(f"{base}.json", json={"v": 2}, headers={"if-match": etag})
    assert r.status_code == 200 and r.headers["ETag"] != etag
    r = http.put(f"{base}.json", json={"v": 3}, headers={"if-match": etag})
    assert r.status_code == 412 and r.json() == {"v": 2}
    assert http.get(f"{base}/absent.json", headers={"X-Firebase-ETag": "true"}).headers["ETag"] == "null_etag"
    r = http.put(f"{base}/absent.json", json=1, headers={"if-match": "null_etag"})
    assert r.status_code == 200
    r = http.delete(f"{base}.json", headers={"if-match": "stale"})
    assert r.status_code == 412


def test_method_override(http, base):
    http.put(f"{base}.json", json={"a": 1})
    r = http.post(f"{base}.json", json={"b": 2}, headers={"X-HTTP-Method-Override": "PATCH"})
    assert r.status_code == 200 and http.get(f"{base}.json").json() == {"a": 1, "b": 2}
    http.post(f"{base}.json?x-http-method-override=DELETE")
    assert http.get(f"{base}.json").json() is None


def test_namespaces_are_isolated(http, emulator):
    http.put(f"{emulator.url}/iso.json?ns=other-ns", json="other")
    http.put(f"{emulator.url}/iso.json?ns={NS}", json="default")
    assert http.get(f"{emulator.url}/iso.json?ns=other-ns").json() == "other"
    assert http.get(f"{emulator.url}/iso.json").json() == "default"  # no ns: the project's default


def test_cors_headers_and_preflight(http, base):
    r = http.options(f"{base}.json", headers={"Origin": "http://localhost:5000",
                                              "Access-Control-Request-Method": "PATCH",
                                              "Access-Control-Request-Headers": "content-type,x-firebase-etag"})
    assert r.status_code == 200
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert "PATCH" in r.headers["Access-Control-Allow-Methods"]
    assert r.headers["Access-Control-Allow-Headers"] == "content-type,x-firebase-etag"
    assert http.get(f"{base}.json").headers["Access-Control-Allow-Origin"] == "*"


def test_rules_settings_admin_only(http, emulator):
    url = f"{emulator.url}/.settings/rules.json"
    assert http.get(url).status_code == 401
    original = http.get(url, headers=ADMIN).text
    source = '{\n  // comments are allowed\n  "rules": {".read": true, ".write": "auth != null"}\n}'
    try:
        r = http.put(url, data=source, headers=ADMIN)
        assert r.status_code == 200 and r.json() == {"status": "ok"}
        assert http.get(url, headers=ADMIN).text == source
        strict = http.get(f"{url}?format=strict&access_token=owner").json()
        assert strict == {"rules": {".read": True, ".write": "auth != null"}}
        r = http.put(url, data='{"rules": 5}', headers=ADMIN)
        assert r.status_code == 400 and "rules" in r.json()["error"]
        assert http.get(url, headers=ADMIN).text == source
    finally:
        http.put(url, data=original, headers=ADMIN).raise_for_status()


# ---- streaming -------------------------------------------------------------------------------

class _Events:
    """Reads SSE frames from one streaming response, keeping partial frames between calls."""

    def __init__(self, response):
        self._chunks = response.iter_content(chunk_size=None)
        self._buf = b""

    def read(self, count, timeout=5.0):
        events, deadline = [], time.monotonic() + timeout
        while len(events) < count and time.monotonic() < deadline:
            while b"\n\n" in self._buf and len(events) < count:
                raw, self._buf = self._buf.split(b"\n\n", 1)
                lines = dict(line.split(": ", 1) for line in raw.decode().split("\n"))
                events.append((lines["event"], json.loads(lines["data"])))
            if len(events) < count:
                self._buf += next(self._chunks)
        return events


def _read_events(response, count, timeout=5.0):
    return _Events(response).read(count, timeout)


def test_stream_framing_and_events(http, base):
    http.put(f"{base}.json", json={"a": 1})
    with requests.get(f"{base}.json", headers={"Accept": "text/event-stream"}, stream=True) as stream:
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        assert stream.headers["Cache-Control"] == "no-cache"
        events = _Events(stream)
        assert events.read(1) == [("put", {"path": "/", "data": {"a": 1}})]
        http.put(f"{base}/b.json", json={"c": 2})
        http.patch(f"{base}.json", json={"a": None, "d/e": 3})
        http.put(f"{base}/../other.json", json=1)  # outside the location: no event
        http.delete(f"{base}.json")
        got = events.read(3)
    assert got == [
        ("put", {"path": "/b", "data": {"c": 2}}),
        ("patch", {"path": "/", "data": {"a": None, "d/e": 3}}),
        ("put", {"path": "/", "data": None}),
    ]


def test_a_query_stream_sends_only_the_children_that_change_enter_or_leave_its_window(http, base):
    """After its first result, a query stream is sent child by child, as a plain stream is (not the whole window)."""
    http.put(f"{base}.json", json={"a": {"n": 1}, "b": {"n": 2}, "c": {"n": 3}, "d": {"n": 4}})
    query = {"orderBy": '"n"', "limitToFirst": "2"}
    with requests.get(f"{base}.json", params=query, headers={"Accept": "text/event-stream"}, stream=True) as stream:
        events = _Events(stream)
        assert events.read(1) == [("put", {"path": "/", "data": {"a": {"n": 1}, "b": {"n": 2}}})]
        http.put(f"{base}/d/n.json", json=40)  # outside the window: nothing
        http.put(f"{base}/b/x.json", json="changed")  # inside: that child alone
        http.put(f"{base}/z.json", json={"n": 0})  # enters first: b leaves
        http.delete(f"{base}/a.json")  # a leaves: b comes back
        got = events.read(3)
    assert got == [  # one write that moves several children of the window is one patch
        ("put", {"path": "/b", "data": {"n": 2, "x": "changed"}}),
        ("patch", {"path": "/", "data": {"b": None, "z": {"n": 0}}}),
        ("patch", {"path": "/", "data": {"a": None, "b": {"n": 2, "x": "changed"}}}),
    ]


def test_stream_sends_keep_alive(base):
    # The session emulator runs with --keep-alive 1.
    with requests.get(f"{base}.json", headers={"Accept": "text/event-stream"}, stream=True) as stream:
        events = _read_events(stream, 2, timeout=5)
    assert events[0] == ("put", {"path": "/", "data": None})
    assert events[1] == ("keep-alive", None)


def test_stream_reconnect_gets_fresh_state(http, base):
    http.put(f"{base}.json", json={"v": 1})
    with requests.get(f"{base}.json", headers={"Accept": "text/event-stream"}, stream=True) as stream:
        assert _read_events(stream, 1) == [("put", {"path": "/", "data": {"v": 1}})]
    http.put(f"{base}/v.json", json=2)
    with requests.get(f"{base}.json", headers={"Accept": "text/event-stream"}, stream=True) as stream:
        assert _read_events(stream, 1) == [("put", {"path": "/", "data": {"v": 2}})]


def test_stream_cors_for_browsers(base):
    with requests.get(f"{base}.json", headers={"Accept": "text/event-stream", "Origin": "http://x"},
                      stream=True) as stream:
        assert stream.headers["Access-Control-Allow-Origin"] == "*"


def test_a_stalled_reader_does_not_block_writes(http, base):
    """A client that opens a stream and never reads must not hold writers back."""
    host, port = base.split("//")[1].split("/")[0].split(":")
    path = "/" + base.split("/", 3)[3]
    sock = socket.create_connection((host, int(port)))
    sock.sendall(f"GET {path}.json HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n".encode())
    try:
        start = time.monotonic()
        for i in range(200):
            http.put(f"{base}/big/{i}.json", json="x" * 2000)
        assert time.monotonic() - start < 20
    finally:
        sock.close()


def test_hosting_serves_web_and_firebase_init(emulator):
    hosting = emulator.port_of("Hosting emulator ready")
    base = f"http://127.0.0.1:{hosting}"
    init = requests.get(f"{base}/__/firebase/init.json").json()
    assert init["databaseURL"] == f"{emulator.url}?ns={NS}" and init["projectId"] == "demo-tickets"
    page = requests.get(f"{base}/")
    assert page.status_code == 200 and "<html" in page.text.lower()
    assert requests.get(f"{base}/README.md").status_code == 404  # hosting.ignore is honoured
    assert requests.get(f"{base}/../firebase.json").status_code == 404


def test_metrics_endpoint_counts_writes_and_requests(http, base, emulator):
    http.put(f"{base}.json", json={"m": 1}).raise_for_status()
    http.get(f"{base}.json").raise_for_status()
    text = http.get(f"{emulator.url}/metrics").text
    assert 'rtdb_writes_total{kind="put"}' in text
    assert 'rtdb_http_requests_total{method="GET",status="200"}' in text
    assert "rtdb_write_commit_seconds_bucket" in text and "rtdb_streams_open" in text
    assert "rtdb_events_delivered_total" in text and "rtdb_outbox_pending" in text
    assert metric(text, "rtdb_log_bytes") > 0 and metric(text, "rtdb_snapshots_total") >= 0
    assert "rtdb_snapshot_seconds_bucket" in text and metric(text, "rtdb_snapshot_bytes") >= 0
