"""Random request sequences against one emulator agree with the reference model, and never get a 5xx.

A Hypothesis state machine sends PUT/PATCH/POST/DELETE/GET (and conditional and overridden writes)
with hostile paths, keys, bodies and query parameters to one emulator process, applies the same
requests to `reference.py`, and after every step checks that the whole tree (`GET /.json`, plain
and `format=export`) equals the model's and holds no invalid key. Each example runs in its own
namespace, so examples never see each other's data.
"""

from __future__ import annotations

import http.client
import json
import math
import time
import uuid
from urllib.parse import quote, urlencode

from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from tests.hostile import reference as ref
from tests.hostile.conftest import LONG
from tests.hostile.strategies import BODIES, FORMAT, NAMESPACE, PATCH_BODIES, PATHS, PRINT, QUERIES, weighted

QUERY_PARAMS = ("orderBy", "limitToFirst", "limitToLast", "startAt", "endAt", "equalTo", "startAfter", "endBefore")
_RANGES = ("startAt", "endAt", "equalTo", "startAfter", "endBefore")


# ---- the model's verdicts on URLs and queries -----------------------------------------------------


def encode_path(keys: list[str], every_byte: bool) -> str:
    """`/k1/k2.json`, each key percent-encoded (every byte of it, or only where URLs need it)."""
    if every_byte:
        parts = ["".join(f"%{b:02X}" for b in k.encode("utf-8", "surrogatepass")) for k in keys]
    else:
        parts = [quote(k, safe="", errors="surrogatepass") for k in keys]
    return "/" + "/".join(parts) + ".json"


def options_valid(params: dict) -> bool:
    return (params.get("print") in (None, "silent", "pretty") and params.get("format") in (None, "export")
            and params.get("shallow") in (None, "true", "false")
            and (params.get("ns") is None or params["ns"].startswith("hostile-")))


def query_verdict(params: dict) -> str:
    """"plain" (no query), "valid", "invalid" (RTDB.md says 400) or "either" (Firebase does not say)."""
    present = [p for p in QUERY_PARAMS if p in params]
    if not present:
        return "plain"
    if "orderBy" not in params:
        return "invalid"
    try:
        order_by = json.loads(params["orderBy"])
    except ValueError:
        return "invalid"
    if not isinstance(order_by, str) or ("limitToFirst" in params and "limitToLast" in params):
        return "invalid"
    if "equalTo" in params and any(p in params for p in _RANGES if p != "equalTo"):
        return "invalid"
    verdict = "valid"
    for limit in ("limitToFirst", "limitToLast"):
        if limit in params:
            raw = params[limit]
            if raw and not raw.lstrip("-").isdigit():
                return "invalid"
            if not raw or int(raw) <= 0:
                verdict = "either"
    for bound in _RANGES:
        if bound in params:
            try:  # a bound is any JSON primitive; unlike a stored string it may hold a lone surrogate
                value = json.loads(params[bound], parse_constant=ref.reject_constant)
            except ValueError:
                return "invalid"
            if isinstance(value, float) and not math.isfinite(value):
                return "invalid"
            if isinstance(value, (dict, list)) or (order_by == "$key" and not isinstance(value, str)):
                return "invalid"
            if order_by == "$priority" and isinstance(value, bool):
                verdict = "either"
    if params.get("shallow") == "true":
        return "invalid"
    if ("startAt" in params and "startAfter" in params) or ("endAt" in params and "endBefore" in params):
        verdict = "either"
    if order_by not in ("$key", "$value", "$priority"):
        segments = [s for s in order_by.split("/") if s]
        if not segments or not all(ref.valid_key(s) for s in segments):
            verdict = "either"
    return verdict


def check_query_result(node, params: dict, result) -> str | None:
    """What is wrong with a query's answer, judged by what any correct answer must satisfy."""
    children = ref.kids(node)
    if not children:
        return None if result in (None, {}) else f"query on a leaf or nothing answered {result!r}"
    if not isinstance(result, dict):
        return f"query answered {type(result).__name__}, expected an object"
    for key, value in result.items():
        if key not in children:
            return f"query answered key {key!r}, which is not a child"
        problem = ref.difference(ref.render(children[key], params.get("format") == "export"), value, f"/{key}")
        if problem:
            return "query changed a child's value " + problem
    limit = params.get("limitToFirst") or params.get("limitToLast")
    if limit is not None and not limit.isdigit():
        return None  # an ambiguous limit the emulator accepted: nothing more to check
    if limit is not None and len(result) > int(limit):
        return f"{len(result)} children for a limit of {limit}"
    if not any(p in params for p in _RANGES) and len(result) != min(len(children), int(limit or len(children))):
        return f"{len(result)} children answered, {len(children)} exist, limit {limit}"
    if "equalTo" in params and limit is None:
        wanted = json.loads(params["equalTo"])
        order_by = json.loads(params["orderBy"])
        if order_by == "$key":
            indexed = {k: k for k in children}
        elif order_by == "$value":
            indexed = {k: v for k, v in children.items()}
        elif order_by == "a":
            indexed = {k: ref.kids(v).get("a") for k, v in children.items()}
        else:
            return None
        # A leaf with a priority is compared by its value.
        indexed = {k: v[ref.VALUE] if _priority_leaf(v) else v for k, v in indexed.items()}
        expected = {k for k in indexed if _matches(indexed[k], wanted)}
        if set(result) != expected:
            return f"equalTo {wanted!r} by {order_by!r} answered {sorted(result)!r}, expected {sorted(expected)!r}"
    return None


def _priority_leaf(node) -> bool:
    return isinstance(node, dict) and ref.VALUE in node


def _matches(node, wanted) -> bool:
    """Whether an indexed value equals an equalTo bound (null matches a missing value; objects match nothing)."""
    if node is None:
        return wanted is None
    if ref.is_object(node) or wanted is None:
        return False
    return ref.difference(ref.leaf_value(node), wanted) is None


# ---- the machine ---------------------------------------------------------------------------------


class EmulatorAgainstModel(RuleBasedStateMachine):
    """One namespace of the emulator and the reference model, driven with the same requests."""

    port: int = 0

    def __init__(self):
        super().__init__()
        self.ns = f"hostile-{uuid.uuid4().hex[:12]}"
        self.tree = None
        self.last_push_id = ""
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)

    def teardown(self):
        try:
            self.send("DELETE", "/.json", None, {})
        finally:
            self.conn.close()

    # -- transport

    def send(self, method: str, target: str, body: bytes | None, params: dict, headers: dict | None = None):
        query = urlencode({k: v for k, v in params.items() if v is not None})
        url = target + ("?" + query if query else "")
        try:
            self.conn.request(method, url, body=body, headers=headers or {})
            response = self.conn.getresponse()
            data = response.read()
        except (ConnectionError, http.client.HTTPException):  # the server closed after an error: reconnect
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            raise
        note(f"{method} {url[:300]} body={body[:200] if body else body!r} -> {response.status} {data[:300]!r}")
        assert response.status < 500, f"{method} {url[:300]} answered {response.status}: {data[:500]!r}"
        return response.status, dict(response.getheaders()), data

    def with_ns(self, params: dict, ns: str | None = None) -> dict:
        return {**params, "ns": self.ns if ns is None else ns}

    # -- the model's side of a write

    def expect_write(self, method: str, keys: list[str], body: bytes | None, params: dict):
        """(sets, push) the model applies, or raises ref.Invalid."""
        if not options_valid(params):
            raise ref.Invalid("bad options")
        path = ref.parse_path(keys)
        if method == "DELETE":
            return [(path, None)], False
        value = ref.parse_json(body)
        if method == "PATCH":
            return ref.patch_sets(path, value), False
        if method == "POST":
            if len(path) + 1 > ref.MAX_DEPTH:
                raise ref.Invalid("pushed child too deep")
            return [(path + ("?",), ref.normalize(value, len(path) + 1))], True
        return [(path, ref.normalize(value, len(path)))], False

    def write(self, method: str, keys: list[str], body: bytes | None, params: dict, every_byte: bool,
              headers: dict | None = None, wire_method: str | None = None):
        try:
            sets, push = self.expect_write(method, keys, body, params)
            # An increment that overflows is refused only when resolved against the tree: resolve it first (the
            # stamp's bounds do not matter to that; a push's new child has no value to overflow).
            ref.write(self.tree, sets, ref.Stamp(0, 0))
        except ref.Invalid as exc:
            sets, push, why = None, False, str(exc)
        low = int(time.time() * 1000)
        status, answer_headers, data = self.send(wire_method or method, encode_path(keys, every_byte), body,
                                                 params, headers)
        high = int(time.time() * 1000)
        if sets is None:
            assert 400 <= status < 500, f"the model refuses this ({why}) but the emulator answered {status}: {data[:300]!r}"
            return status, data
        assert status in (200, 204), f"the model accepts this but the emulator answered {status}: {data[:300]!r}"
        if push:
            name = json.loads(data)["name"]
            assert ref.PUSH_ID.fullmatch(name) and name > self.last_push_id, (name, self.last_push_id)
            self.last_push_id = name
            sets = [(sets[0][0][:-1] + (name,), sets[0][1])]
        self.tree = ref.write(self.tree, sets, ref.Stamp(low, high))
        self.observe_stamps()
        if params.get("print") == "silent":
            assert status == 204 and data == b""
        elif method == "PUT":
            problem = ref.difference(ref.render(ref.get(self.tree, sets[0][0])), json.loads(data), "(echo)")
            assert problem is None, problem
        elif method == "DELETE":
            assert json.loads(data) is None
        return status, data

    def observe_stamps(self):
        for path, stamp in list(ref.stamps(self.tree)):
            status, _, data = self.send("GET", encode_path(list(path), False), None, self.with_ns({}))
            found = json.loads(data)
            assert status == 200 and ref.is_number(found) and stamp.low - 1000 <= found <= stamp.high + 1000, \
                f"timestamp at {path}: {found!r} not within [{stamp.low}, {stamp.high}]"
            self.tree = ref.set_at(self.tree, path, found)

    # -- rules

    @initialize()
    def empty_namespace(self):
        status, _, data = self.send("GET", "/.json", None, self.with_ns({}))
        assert status == 200 and json.loads(data) is None

    @rule(keys=PATHS, body=BODIES, printing=PRINT, fmt=FORMAT, ns=NAMESPACE, every_byte=st.booleans())
    def put(self, keys, body, printing, fmt, ns, every_byte):
        self.write("PUT", keys, body, self.with_ns({"print": printing, "format": fmt}, ns), every_byte)

    @rule(keys=PATHS, body=PATCH_BODIES, printing=PRINT, every_byte=st.booleans())
    def patch(self, keys, body, printing, every_byte):
        self.write("PATCH", keys, body, self.with_ns({"print": printing}), every_byte)

    @rule(keys=PATHS, body=BODIES, printing=PRINT.filter(lambda p: p != "silent"))  # silent hides the push id
    def post(self, keys, body, printing):
        self.write("POST", keys, body, self.with_ns({"print": printing}), False)

    @rule(keys=PATHS, ns=NAMESPACE)
    def delete(self, keys, ns):
        self.write("DELETE", keys, None, self.with_ns({}, ns), False)

    @rule(keys=PATHS, body=PATCH_BODIES,
          override=weighted((6, st.sampled_from(["PUT", "patch", "DELETE"])), (1, st.just("TRACE"))))
    def overridden(self, keys, body, override):
        """POST with X-HTTP-Method-Override, as browsers without PATCH send it."""
        method = override.upper()
        if method not in ("PUT", "PATCH", "DELETE"):
            status, _, data = self.send("POST", encode_path(keys, False), body, self.with_ns({}),
                                        {"X-HTTP-Method-Override": override})
            assert 400 <= status < 500, (status, data[:200])
            return
        self.write(method, keys, body if method != "DELETE" else b"", self.with_ns({}), False,
                   {"X-HTTP-Method-Override": override}, wire_method="POST")

    @rule(keys=PATHS, body=BODIES, etag=st.sampled_from(["fetched", "null_etag", "bogus"]))
    def conditional_put(self, keys, body, etag):
        try:
            path = ref.parse_path(keys)
        except ref.Invalid:
            path, etag = None, "bogus"
        if etag == "fetched":
            status, headers, _ = self.send("GET", encode_path(keys, False), None, self.with_ns({}),
                                           {"X-Firebase-ETag": "true"})
            assert status == 200 and headers.get("ETag"), headers
            tag = headers["ETag"]
        else:
            tag = "null_etag" if etag == "null_etag" else "not-an-etag"
        matches = etag == "fetched" or (etag == "null_etag" and path is not None and ref.get(self.tree, path) is None)
        if matches:
            status, data = self.write("PUT", keys, body, self.with_ns({}), False, {"if-match": tag})
            if status < 300:
                return
        else:
            before = self.tree
            status, _, data = self.send("PUT", encode_path(keys, False), body, self.with_ns({}), {"if-match": tag})
            assert 400 <= status < 500, f"if-match {tag} on a changed location answered {status}"
            if status == 412:
                problem = ref.difference(ref.render(ref.get(before, path)), json.loads(data), "(412 body)")
                assert problem is None, problem

    @rule(keys=PATHS, params=QUERIES)
    def get(self, keys, params):
        params = self.with_ns(params)
        status, _, data = self.send("GET", encode_path(keys, False), None, params)
        try:
            path = ref.parse_path(keys)
            verdict = query_verdict(params) if options_valid(params) else "invalid"
        except ref.Invalid:
            verdict = "invalid"
        if verdict == "invalid":
            assert 400 <= status < 500, f"the model refuses this GET but the emulator answered {status}: {data[:300]!r}"
            return
        if verdict == "either" and status >= 400:
            return
        assert status in (200, 204), f"GET answered {status}: {data[:300]!r}"
        if params.get("print") == "silent":
            assert status == 204 and data == b""
            return
        node, result = ref.get(self.tree, path), json.loads(data)
        if verdict != "plain":
            problem = check_query_result(node, params, result)
        elif params.get("shallow") == "true":
            problem = ref.difference(ref.shallow(node), result, "(shallow)")
        else:
            problem = ref.difference(ref.render(node, params.get("format") == "export"), result)
        assert problem is None, problem

    # -- after every step

    @invariant()
    def tree_matches_the_model(self):
        for fmt in (None, "export"):
            status, _, data = self.send("GET", "/.json", None, self.with_ns({"format": fmt}))
            assert status == 200
            found = json.loads(data)
            problem = ref.difference(ref.render(self.tree, export=fmt == "export"), found)
            assert problem is None, f"tree ({fmt or 'plain'}) differs from the model {problem}"
            if fmt == "export":
                assert ref.bad_keys(found) == [], f"stored invalid keys: {ref.bad_keys(found)[:3]!r}"


MACHINE = settings(max_examples=1000 if LONG else 100, stateful_step_count=50 if LONG else 30, deadline=None,
                   suppress_health_check=list(HealthCheck))


def test_emulator_agrees_with_the_reference_model(emulator):
    EmulatorAgainstModel.port = emulator.port
    run_state_machine_as_test(EmulatorAgainstModel, settings=MACHINE)
    assert emulator.proc.poll() is None and "Traceback" not in emulator.output, emulator.output[-3000:]


# ---- raw paths: percent-escapes, dot segments, invalid UTF-8 --------------------------------------

RAW_SEGMENTS = st.lists(st.sampled_from(["a", "%41", "%2E", "%2e%2e", ".", "..", "%", "%zz", "%ff", "%C3", "%C3%A9",
                                         "%E2%82", "%F0%9F%98%80", "%00", "%7F", "%2F", "%23", "%24", "%5B", "%5D",
                                         "%25", "+", "%20", "~", "-", "_", "%ED%A0%80", "%EF%BF%BF"]),
                        min_size=1, max_size=4).map("".join)


def _decode_segment(raw: str) -> str:
    """A URL path segment as a key: percent-escapes decoded as UTF-8, or Invalid."""
    from urllib.parse import unquote

    try:
        return unquote(raw, errors="strict")
    except UnicodeDecodeError:
        raise ref.Invalid("not UTF-8") from None


@settings(max_examples=1000 if LONG else 120, deadline=None, suppress_health_check=list(HealthCheck))
@given(segments=st.lists(RAW_SEGMENTS, min_size=1, max_size=3))
def test_raw_paths_address_the_decoded_keys_or_are_refused(emulator, segments):
    ns = f"hostile-{uuid.uuid4().hex[:12]}"
    conn = http.client.HTTPConnection("127.0.0.1", emulator.port, timeout=60)
    try:
        target = "/" + "/".join(segments) + f".json?ns={ns}"
        conn.request("PUT", target, body=b"1")
        response = conn.getresponse()
        data = response.read()
        try:
            keys = ref.parse_path([_decode_segment(s) for s in segments])
        except ref.Invalid:
            keys = None
        note(f"PUT {target} -> {response.status} {data[:200]!r}; model keys {keys!r}")
        if keys is None:
            assert 400 <= response.status < 500, (response.status, data[:200])
            expected = None
        else:
            assert response.status == 200, (response.status, data[:200])
            expected = ref.set_at(None, keys, 1)
        conn.request("GET", f"/.json?ns={ns}&format=export")
        response = conn.getresponse()
        found = json.loads(response.read())
        assert ref.difference(ref.render(expected, export=True), found) is None, (expected, found)
        conn.request("DELETE", f"/.json?ns={ns}")
        conn.getresponse().read()
    finally:
        conn.close()


def test_invalid_namespace_is_refused_not_created(emulator, http):
    for ns in ("Bad_NS", "", "-x", "a" * 64, "é"):
        response = http.put(f"{emulator.url}/x.json", params={"ns": ns}, data=b"1")
        assert response.status_code == 400, (ns, response.text)
