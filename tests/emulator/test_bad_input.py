"""Malformed requests: each gets Firebase's status and error text, and the stored tree is unchanged."""

import json

import pytest

# Firebase's own texts (production answers these word for word).
INVALID_JSON = "Invalid data; couldn't parse JSON object, array, or value."
INVALID_PATH = "Invalid path: Invalid token in path"
WRITE_TOO_BIG = "Data to write exceeds the maximum size that can be modified with a single request."
KEY_ERROR = "Invalid data; couldn't parse key beginning at {}. Key value can't be empty or contain $ # [ ] / or ."
SEGMENT_RULE = "Each segment must be a non-empty key without . $ # [ ] / or control characters."
SV_SUPPORTED = 'Supported: "timestamp" and {"increment": <number>}.'
LONG_KEY = "k" * 769
DEEP_VALUE = json.dumps(json.loads("{\"a\":" * 33 + "1" + "}" * 33))
DEEP_PATH = "/".join(["d"] * 33)
LOC = "{loc}"  # replaced by the test location's path, e.g. /t/0123456789ab
EXISTING = {"existing": {"value": 1, "list": [1, 2]}}

# (id, method, path under the test location ("" is the location itself), body, extra headers,
#  query string, expected status, expected error text, exact; for 412 the exact body).
# Texts marked "emulator's" are this emulator's own wording where Firebase's is not known to us.
CASES = [
    ("json-truncated", "PUT", "", b'{"a": 1', {}, "", 400, INVALID_JSON),
    ("json-empty-body", "PUT", "", b"", {}, "", 400, INVALID_JSON),
    ("json-nan", "PUT", "", b"NaN", {}, "", 400, INVALID_JSON),
    ("json-infinity", "PUT", "", b'{"a": Infinity}', {}, "", 400, INVALID_JSON),
    ("json-overflow-number", "PUT", "", b"1e999", {}, "", 400, INVALID_JSON),
    ("json-trailing-garbage", "PUT", "", b'{"a": 1} x', {}, "", 400, INVALID_JSON),
    ("json-invalid-utf8", "PUT", "", b'"\xff\xfe"', {}, "", 400, INVALID_JSON),
    ("json-single-quotes", "POST", "", b"{'a': 1}", {}, "", 400, INVALID_JSON),
    ("json-patch-garbage", "PATCH", "", b"{,}", {}, "", 400, INVALID_JSON),
    ("key-dot", "PUT", "", b'{"a.b": 1}', {}, "", 400, KEY_ERROR.format("1:2")),
    ("key-dollar", "PUT", "", b'{"$a": 1}', {}, "", 400, KEY_ERROR.format("1:2")),
    ("key-hash", "PUT", "", b'{"a#": 1}', {}, "", 400, KEY_ERROR.format("1:2")),
    ("key-open-bracket", "PUT", "", b'{"a[": 1}', {}, "", 400, KEY_ERROR.format("1:2")),
    ("key-close-bracket", "PUT", "", b'{"a]": 1}', {}, "", 400, KEY_ERROR.format("1:2")),
    ("key-slash", "PUT", "", b'{"a/b": 1}', {}, "", 400, KEY_ERROR.format("1:2")),
    ("key-empty", "PUT", "", b'{"": 1}', {}, "", 400, KEY_ERROR.format("1:2")),
    ("key-control-char", "PUT", "", b'{"a\\u0001": 1}', {}, "", 400, KEY_ERROR.format("1:2")),
    ("key-del-char", "PUT", "", b'{"a\\u007f": 1}', {}, "", 400, KEY_ERROR.format("1:2")),
    ("key-too-long", "PUT", "", json.dumps({LONG_KEY: 1}).encode(), {}, "", 400, KEY_ERROR.format("1:2")),
    ("key-nested-position", "PUT", "", b'{"ok": {"b.d": 1}}', {}, "", 400, KEY_ERROR.format("1:9")),
    ("key-multiline-position", "PUT", "", b'{\n  "ok": 1,\n  "x#": 2\n}', {}, "", 400, KEY_ERROR.format("3:3")),
    ("key-in-pushed-body", "POST", "", b'{"a$": 1}', {}, "", 400, KEY_ERROR.format("1:2")),
    ("path-dot", "PUT", "/a.b", b"1", {}, "", 400, INVALID_PATH),
    ("path-dollar", "PUT", "/$a", b"1", {}, "", 400, INVALID_PATH),
    ("path-hash-encoded", "GET", "/a%23b", None, {}, "", 400, INVALID_PATH),
    ("path-bracket-encoded", "DELETE", "/a%5Bb", None, {}, "", 400, INVALID_PATH),
    ("path-control-char", "PUT", "/a%01b", b"1", {}, "", 400, INVALID_PATH),
    ("path-key-too-long", "PUT", "/" + LONG_KEY, b"1", {}, "", 400, INVALID_PATH),
    ("path-too-deep", "PUT", "/" + DEEP_PATH, b"1", {}, "", 400,  # emulator's
     f'Invalid path: "{LOC}/{DEEP_PATH}". Paths can be at most 32 keys deep.'),
    ("value-too-deep", "PUT", "", DEEP_VALUE.encode(), {}, "", 400,  # emulator's
     "Invalid data; data is nested deeper than 32 levels. Paths plus nested values can be at most 32 keys deep."),
    ("string-too-long", "PUT", "", b'"' + b"x" * (10 * 1024 * 1024 + 1) + b'"', {}, "", 400,  # emulator's
     "Invalid data; a string is 10485761 bytes. Strings can be at most 10485760 bytes."),
    ("write-too-big", "PUT", "", b'"' + b"x" * (33 * 1024 * 1024) + b'"', {}, "", 400, WRITE_TOO_BIG),
    ("patch-not-object", "PATCH", "", b"5", {}, "", 400,  # emulator's
     "Invalid data for PATCH: 5. The body of a PATCH must be a JSON object."),
    ("patch-bad-path", "PATCH", "", b'{"a.b/c": 1}', {}, "", 400,  # emulator's
     f'Invalid update path: "a.b/c". {SEGMENT_RULE}'),
    ("patch-empty-path", "PATCH", "", b'{"": 1}', {}, "", 400,  # emulator's
     f'Invalid update path: "". {SEGMENT_RULE}'),
    ("patch-overlap", "PATCH", "", b'{"a": {"b": 1}, "a/b": 2}', {}, "", 400,  # emulator's
     f'Invalid data; update paths "{LOC}/a" and "{LOC}/a/b" overlap. '
     "A multi-path update may not write a path and one of its descendants."),
    ("sv-unknown", "PUT", "", b'{"t": {".sv": "now"}}', {}, "", 400,  # emulator's
     f'Invalid data; unknown server value: "now". {SV_SUPPORTED}'),
    ("sv-increment-string", "PUT", "", b'{".sv": {"increment": "1"}}', {}, "", 400,  # emulator's
     f'Invalid data; unknown server value: {{"increment": "1"}}. {SV_SUPPORTED}'),
    ("sv-with-siblings", "PUT", "", b'{".sv": "timestamp", "x": 1}', {}, "", 400,  # emulator's
     "Invalid data; an object with .sv cannot have other children."),
    ("value-with-children", "PUT", "", b'{".value": 1, "x": 2}', {}, "", 400,  # emulator's
     "Invalid data; an object with .value cannot have other children."),
    ("priority-object", "PUT", "", b'{".priority": {"a": 1}, "x": 2}', {}, "", 400,  # emulator's
     'Invalid data; .priority must be a string, a number or null. Found: {"a": 1}.'),
    ("query-no-order-by", "GET", "", None, {}, "limitToFirst=1", 400,
     "orderBy must be defined when other query parameters are defined"),
    ("query-order-by-unquoted", "GET", "", None, {}, "orderBy=height", 400, "orderBy must be a valid JSON encoded path"),
    ("query-two-limits", "GET", "", None, {}, 'orderBy="$key"&limitToFirst=1&limitToLast=1', 400,
     "Only one of limitToFirst and limitToLast may be specified"),
    ("query-limit-not-integer", "GET", "", None, {}, 'orderBy="$key"&limitToFirst=x', 400, "limitToFirst must be an integer"),
    ("query-equal-and-range", "GET", "", None, {}, 'orderBy="a"&equalTo=1&startAt=0', 400,
     "equalTo cannot be specified in addition to startAfter, startAt, endAt, or endBefore"),
    ("query-object-bound", "GET", "", None, {}, 'orderBy="a"&startAt={"x":1}', 400,
     "Constraint index field must be a JSON primitive"),
    ("query-key-bound-number", "GET", "", None, {}, 'orderBy="$key"&startAt=1', 400,
     "Provided key index type is invalid, must be string"),
    ("query-with-shallow", "GET", "", None, {}, 'orderBy="$key"&shallow=true', 400,
     "Mixing 'shallow' and querying parameters is not supported"),
    ("shallow-not-boolean", "GET", "", None, {}, "shallow=yes", 400,  # emulator's
     'Invalid shallow: "yes". Use shallow=true or shallow=false.'),
    ("print-unknown", "GET", "", None, {}, "print=loud", 400,  # emulator's
     'Invalid print: "loud". Use print=pretty or print=silent.'),
    ("format-unknown", "GET", "", None, {}, "format=xml", 400,  # emulator's
     'Invalid format: "xml". Only format=export is supported.'),
    ("write-size-limit-unknown", "DELETE", "", None, {}, "writeSizeLimit=huge", 400,  # emulator's
     'Invalid writeSizeLimit: "huge". Use one of tiny, small, medium, large, unlimited.'),
    ("namespace-invalid", "GET", "", None, {}, "ns=Bad_NS", 400,  # emulator's
     'Invalid namespace: "Bad_NS". Namespaces are lowercase letters, digits and hyphens.'),
    ("method-override-unknown", "POST", "", b"1", {"X-HTTP-Method-Override": "TRACE"}, "", 400,  # emulator's
     'Invalid X-HTTP-Method-Override: "TRACE". Use PUT, PATCH, DELETE or GET.'),
    ("not-a-json-url", "GET", "/no-suffix", None, {}, "", 404,  # emulator's
     f'Not found: "{LOC}/no-suffix". Database URLs end in .json, e.g. /tickets.json.'),
    # A 412 carries the current value as its body and the current ETag in its header.
    ("etag-mismatch", "PUT", "", b'"new"', {"if-match": "not-the-etag"}, "", 412,
     json.dumps(EXISTING, separators=(",", ":"))),
    ("override-by-non-admin", "GET", "", None, {"Authorization": ""}, "auth_variable_override=%7B%7D", 401,  # emulator's
     "Permission denied: auth_variable_override may only be used by the admin."),
    # Firebase's text, then what is wrong with the token.
    ("garbage-auth-token", "GET", "", None, {"Authorization": ""}, "auth=not-a-jwt", 401,
     "Could not parse auth token: expected a JWT (three base64url parts separated by dots)."),
    ("auth-token-payload-not-json", "GET", "", None, {"Authorization": ""}, "auth=e30.bm90LWpzb24.sig", 401,
     "Could not parse auth token: its payload is not base64url-encoded JSON."),
    ("auth-token-payload-not-object", "GET", "", None, {"Authorization": ""}, "auth=e30.WzFd.sig", 401,
     "Could not parse auth token: its payload is not a JSON object."),
    ("auth-token-without-uid", "GET", "", None, {"Authorization": ""}, "auth=e30.eyJhIjoxfQ.sig", 401,
     "Could not parse auth token: it has no user id (sub or user_id claim)."),
]


def _url(base, suffix, query):
    url = f"{base}{suffix}.json" if suffix != "/no-suffix" else f"{base}/no-suffix"
    return f"{url}?{query}" if query else url


def _snapshot(http, emulator):
    response = http.get(f"{emulator.url}/.json?format=export", headers={"Authorization": "Bearer owner"})
    assert response.status_code == 200
    return response.content


def test_there_are_at_least_forty_cases():
    assert len(CASES) >= 40
    assert len({case[0] for case in CASES}) == len(CASES)
    assert all(isinstance(case[7], str) and case[7] for case in CASES), "every case names its exact text"


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_malformed_request(case, emulator, base, http):
    _, method, suffix, body, headers, query, status, error = case
    http.put(f"{base}.json", json=EXISTING).raise_for_status()
    etag = http.get(f"{base}.json", headers={"X-Firebase-ETag": "true"}).headers["ETag"]
    before = _snapshot(http, emulator)
    headers = {"Authorization": "Bearer owner", **headers}
    headers = {k: v for k, v in headers.items() if v}
    response = http.request(method, _url(base, suffix, query), data=body, headers=headers)
    assert response.status_code == status, response.text[:300]
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    expected = error.replace(LOC, base.removeprefix(emulator.url))
    if status == 412:
        assert response.text == expected
        assert response.headers["ETag"] == etag
    else:
        assert response.json() == {"error": expected}
    assert _snapshot(http, emulator) == before
