"""The realtime protocol (`/.ws?v=5`) driven frame by frame against a real emulator process.

Bad input gets its exact answer or close code, never a crash, never a change to the tree, and leaves an
already-open connection answering and receiving pushes. `g` with a query object selects what the REST query
selects, and what a reference of Firebase's ordering selects where REST cannot say it (bounds with a key).
Listens get their data before `ok`, pushes for writes above and below them, tagged pushes only when their
window changes, and are revoked (`c`, then `ac`) when the rules or an expiring token no longer allow them.
"""

import asyncio
import json
import random
import re
import time

import aiohttp
import pytest

from emulator import query as queries
from tests.emulator.wsclient import WsClient, ws_url
from tests.support.procs import start_emulator, user_token

ADMIN = {"access_token": "owner"}
OWNER_HEADER = {"Authorization": "Bearer owner"}
_PROBLEM = re.compile(r"Traceback|ERROR|CRITICAL|Exception")

# ---- fixtures and helpers ------------------------------------------------------------------


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    """A durable emulator of this module's own: its tests change rules and flood it with writes."""
    proc = start_emulator(data_dir=tmp_path_factory.mktemp("rtdb"))
    yield proc
    proc.stop()


@pytest.fixture(autouse=True)
def no_error_in_the_log(emulator):
    """Whatever a test sends, the emulator logs no traceback or error (a crash in a handler shows up here)."""
    start = len(emulator.lines)
    yield
    logged = "".join(emulator.lines[start:])
    assert not _PROBLEM.search(logged), logged[-4000:]


def run(coro, timeout: float = 60):
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def rest(http, emulator, method, path, ns, body=None, **params):
    """A REST request as the admin; returns (status, parsed JSON body)."""
    data = None if body is None else json.dumps(body)
    async with http.request(method, f"{emulator.url}/{path.strip('/')}.json", data=data,
                            params={"ns": ns, **ADMIN, **params}) as response:
        return response.status, json.loads(await response.text())


async def export(http, emulator, ns) -> str:
    """The whole tree of `ns` with priorities, as text (to compare before and after)."""
    async with http.get(f"{emulator.url}/.json", params={"ns": ns, "format": "export", **ADMIN}) as response:
        assert response.status == 200
        return await response.text()


def frame(r: int, action: str, body) -> str:
    return json.dumps({"t": "d", "d": {"r": r, "a": action, "b": body}})


# ---- 1. bad input ----------------------------------------------------------------------------

NS_BAD = "rt-bad-input"
EXISTING = {"existing": {"value": 1, "list": [1, 2]}, "watch": {"start": 0}}
SEGMENT_RULE = "Each segment must be a non-empty key without . $ # [ ] / or control characters."
KEY_RULE = "Invalid data; couldn't parse key beginning at 1:1. Key value can't be empty or contain $ # [ ] / or ."
INVALID_JSON = "Invalid data; couldn't parse JSON object, array, or value."
SV_SUPPORTED = 'Supported: "timestamp" and {"increment": <number>}.'
QUERY_KEYS = "A query object has only the keys ein, en, ep, i, l, sin, sn, sp, vf."
ENVELOPE = 'Invalid message: expected {"t": "d" or "c", "d": {...}}.'
REQUEST = 'Invalid request: expected {"r": <number>, "a": <action>, "b": {...}}.'
TOO_BIG = "Message too big: the limit is 16 MB."
DEEP_PATH = "/".join(["d"] * 33)
R = 77  # request number of the hand-written frames


def _bad_paths():
    """(id, p, expected text) for every way a path can be wrong."""
    for name, raw in (("dot", "existing/a.b"), ("hash", "existing/a#b"), ("dollar", "existing/$a"),
                      ("open-bracket", "existing/a[b"), ("close-bracket", "existing/a]b"),
                      ("control-char", "existing/a\x01b"), ("del-char", "existing/a\x7fb"),
                      ("newline", "existing/a\nb"), ("key-too-long", "existing/" + "k" * 769)):
        yield name, raw, f'Invalid path: "{raw}". {SEGMENT_RULE}'
    yield "number", 5, "Invalid path: 5. p must be a string."
    yield "list", ["existing"], 'Invalid path: ["existing"]. p must be a string.'
    yield "null", None, "Invalid path: null. p must be a string."
    yield "33-deep", DEEP_PATH, f'Invalid path: "/{DEEP_PATH}". Paths can be at most 32 keys deep.'


_PATH_REQUESTS = {  # action: (body for path p, status)
    "p": (lambda p: {"p": p, "d": 1}, "invalid_data"),
    "m": (lambda p: {"p": p, "d": {"x": 1}}, "invalid_data"),
    "g": (lambda p: {"p": p, "q": {}}, "invalid_request"),
    "q": (lambda p: {"p": p, "h": ""}, "invalid_request"),
    "n": (lambda p: {"p": p}, "invalid_request"),
    "o": (lambda p: {"p": p, "d": 1}, "invalid_data"),
}

# (id, request frame text, expected answer {"s", "d"}); each is answered and the connection stays open.
ANSWERED = [(f"path-{name}-{action}", frame(R, action, make(p)), {"s": status, "d": text})
            for action, (make, status) in _PATH_REQUESTS.items() for name, p, text in _bad_paths()]


def _answered(case_id, action, body, status, text):
    ANSWERED.append((case_id, frame(R, action, body), {"s": status, "d": text}))


def _answered_raw(case_id, text, status, answer):
    ANSWERED.append((case_id, text, {"s": status, "d": answer}))


_answered("unknown-action", "zz", {}, "invalid_action",
          'Unknown action: "zz". Known: appcheck, auth, echo, g, gauth, m, n, o, oc, om, p, q, s, unappeck, unauth.')
_answered("unknown-action-long", "x" * 100, {}, "invalid_action",
          f'Unknown action: "{"x" * 40}". Known: appcheck, auth, echo, g, gauth, m, n, o, oc, om, p, q, s, '
          "unappeck, unauth.")
# Data: keys, numbers, server values, merges.
for _name, _data in (("dot", {"a.b": 1}), ("dollar", {"$a": 1}), ("hash", {"a#": 1}), ("bracket", {"a[": 1}),
                     ("slash", {"a/b": 1}), ("empty", {"": 1}), ("control", {"a\x01": 1}),
                     ("nested", {"ok": {"b.d": 1}}), ("in-list", [{"a]": 1}])):
    _answered(f"put-key-{_name}", "p", {"p": "existing", "d": _data}, "invalid_data", KEY_RULE)
    _answered(f"merge-key-{_name}", "m", {"p": "", "d": {"existing": _data}}, "invalid_data", KEY_RULE)
for _name, _literal in (("1e400", "1e400"), ("-1e400", "-1e400"), ("1e400-nested", '{"a":[1,1e400]}'),
                        ("int-beyond-double", "1" + "0" * 400)):
    _answered_raw(f"put-number-{_name}", f'{{"t":"d","d":{{"r":{R},"a":"p","b":{{"p":"existing","d":{_literal}}}}}}}',
                  "invalid_data", INVALID_JSON)
    _answered_raw(f"merge-number-{_name}",
                  f'{{"t":"d","d":{{"r":{R},"a":"m","b":{{"p":"existing","d":{{"value":{_literal}}}}}}}}}',
                  "invalid_data", INVALID_JSON)
# A lone surrogate has no UTF-8 form: REST refuses it as unparsable, so must the WebSocket (it used to store it,
# and every later REST read of that location answered 500).
_answered_raw("put-lone-surrogate", f'{{"t":"d","d":{{"r":{R},"a":"p","b":{{"p":"existing/value","d":"\\ud800"}}}}}}',
              "invalid_data", INVALID_JSON)
_answered_raw("merge-lone-surrogate",
              f'{{"t":"d","d":{{"r":{R},"a":"m","b":{{"p":"existing","d":{{"value":"a\\udfff"}}}}}}}}',
              "invalid_data", INVALID_JSON)
_answered("sv-unknown", "p", {"p": "existing", "d": {"t": {".sv": "now"}}}, "invalid_data",
          f'Invalid data; unknown server value: "now". {SV_SUPPORTED}')
_answered("sv-increment-string", "p", {"p": "existing/value", "d": {".sv": {"increment": "1"}}}, "invalid_data",
          f'Invalid data; unknown server value: {{"increment": "1"}}. {SV_SUPPORTED}')
_answered("sv-with-siblings", "m", {"p": "existing", "d": {"value": {".sv": "timestamp", "x": 1}}}, "invalid_data",
          "Invalid data; an object with .sv cannot have other children.")
_answered("value-with-children", "p", {"p": "existing", "d": {".value": 1, "x": 2}}, "invalid_data",
          "Invalid data; an object with .value cannot have other children.")
_answered("priority-object", "p", {"p": "existing", "d": {".priority": {"a": 1}, "x": 2}}, "invalid_data",
          'Invalid data; .priority must be a string, a number or null. Found: {"a": 1}.')
_answered("value-too-deep", "p", {"p": "existing", "d": json.loads('{"a":' * 32 + "1" + "}" * 32)}, "invalid_data",
          "Invalid data; data is nested deeper than 32 levels. Paths plus nested values can be at most 32 keys deep.")
_answered("put-without-data", "p", {"p": "existing"}, "invalid_data", "Invalid request: it has no data (d).")
_answered("put-hash-not-string", "p", {"p": "existing", "d": 1, "h": 5}, "invalid_data",
          "Invalid hash: 5. h must be the string hash of a node.")
_answered("put-stale-hash", "p", {"p": "existing", "d": 1, "h": "not-the-hash"}, "datastale",
          'Transaction at "/existing" was based on a stale value. Retry with the current one.')
for _name, _data, _shown in (("number", 5, "5"), ("list", [1], "[1]"), ("string", "x", '"x"'), ("null", None, "null")):
    _answered(f"merge-data-{_name}", "m", {"p": "existing", "d": _data}, "invalid_data",
              f"Invalid data for a merge: {_shown}. It must be an object.")
_answered("merge-overlap", "m", {"p": "existing", "d": {"a": 1, "a/b": 2}}, "invalid_data",
          'Invalid data; update paths "/existing/a" and "/existing/a/b" overlap. '
          "A multi-path update may not write a path and one of its descendants.")
_answered("merge-bad-update-path", "m", {"p": "existing", "d": {"a.b/c": 1}}, "invalid_data",
          f'Invalid update path: "a.b/c". {SEGMENT_RULE}')
_answered("merge-empty-update-path", "m", {"p": "existing", "d": {"": 1}}, "invalid_data",
          f'Invalid update path: "". {SEGMENT_RULE}')
_answered("merge-too-deep", "m", {"p": "existing", "d": {"/".join(["d"] * 32): 1}}, "invalid_data",
          f'Invalid update path: "{"/".join(["d"] * 32)}". Paths can be at most 32 keys deep.')
_answered("on-disconnect-merge-not-object", "om", {"p": "existing", "d": 5}, "invalid_data",
          "Invalid data for a merge: 5. It must be an object.")
_answered("on-disconnect-sv-unknown", "o", {"p": "existing", "d": {".sv": "now"}}, "invalid_data",
          f'Invalid data; unknown server value: "now". {SV_SUPPORTED}')
# Query objects, on a tagged listen and on a get.
for _name, _q, _rule in (
        ("unknown-key", {"zz": 1}, QUERY_KEYS),
        ("list", [1], QUERY_KEYS),
        ("limit-0", {"l": 0}, "The limit (l) must be a positive integer."),
        ("limit-negative", {"l": -1}, "The limit (l) must be a positive integer."),
        ("limit-string", {"l": "2"}, "The limit (l) must be a positive integer."),
        ("limit-bool", {"l": True}, "The limit (l) must be a positive integer."),
        ("limit-float", {"l": 1.5}, "The limit (l) must be a positive integer."),
        ("view-from", {"l": 2, "vf": "x"}, 'The view (vf) must be "l" or "r".'),
        ("view-from-without-limit", {"vf": "x"}, 'The view (vf) must be "l" or "r".'),
        ("object-bound", {"sp": {"a": 1}}, "Bounds must be null, booleans, numbers or strings."),
        ("list-bound", {"ep": [1]}, "Bounds must be null, booleans, numbers or strings."),
        ("index-number", {"i": 5}, "The index (i) must be a string."),
        ("bound-name-number", {"sp": 1, "sn": 5}, "Bound names (sn, en) must be strings.")):
    _text = f"Invalid query: {json.dumps(_q, separators=(',', ':'))}. {_rule}"
    _answered(f"listen-query-{_name}", "q", {"p": "existing", "q": _q, "t": 1, "h": ""}, "invalid_request", _text)
    _answered(f"get-query-{_name}", "g", {"p": "existing", "q": _q}, "invalid_request", _text)
for _name, _q, _shown in (("start", {"i": ".key", "sp": 1}, "1"), ("end", {"i": ".key", "ep": True}, "true"),
                          ("null", {"i": ".key", "sp": None}, "null")):
    _text = f"Invalid query: {_shown}. When ordering by key, bounds must be strings."
    _answered(f"listen-key-bound-{_name}", "q", {"p": "existing", "q": _q, "t": 1, "h": ""}, "invalid_request", _text)
    _answered(f"get-key-bound-{_name}", "g", {"p": "existing", "q": _q}, "invalid_request", _text)
_answered("get-query-bad-index", "g", {"p": "existing", "q": {"i": "a.b"}}, "invalid_request",
          'Invalid query index: "a.b". It must be .key, .value, .priority or a child path.')
for _name, _literal in (("1e400", "1e400"), ("-1e400", "-1e400")):
    _answered_raw(f"get-bound-{_name}",
                  f'{{"t":"d","d":{{"r":{R},"a":"g","b":{{"p":"existing","q":{{"i":".value","sp":{_literal}}}}}}}}}',
                  "invalid_request",
                  f'Invalid query: {{"i":".value","sp":{"-" if _literal[0] == "-" else ""}Infinity}}. '
                  "Bounds must be null, booleans, numbers or strings.")
# Auth.
_answered("auth-not-a-jwt", "auth", {"cred": "not-a-jwt"}, "invalid_token",
          "Could not parse auth token: expected a JWT (three base64url parts separated by dots).")
_answered("auth-payload-not-json", "auth", {"cred": "e30.bm90LWpzb24.sig"}, "invalid_token",
          "Could not parse auth token: its payload is not base64url-encoded JSON.")
_answered("auth-payload-not-object", "auth", {"cred": "e30.WzFd.sig"}, "invalid_token",
          "Could not parse auth token: its payload is not a JSON object.")
_answered("auth-without-uid", "auth", {"cred": "e30.eyJhIjoxfQ.sig"}, "invalid_token",
          "Could not parse auth token: it has no user id (sub or user_id).")
_answered("auth-expired", "auth", {"cred": user_token("u1", iat=1_000_000, exp=1_000_060)}, "expired_token",
          "Auth token is expired.")
_answered("auth-without-cred", "auth", {}, "invalid_request", "Invalid auth request: cred must be the ID token.")
_answered("auth-cred-number", "auth", {"cred": 5}, "invalid_request",
          "Invalid auth request: cred must be the ID token.")
_answered("auth-authvar-by-a-user", "auth", {"cred": user_token("u1"), "authvar": {"uid": "x"}}, "permission_denied",
          "Only the admin may set authvar or noauth.")
_answered("gauth-not-owner", "gauth", {"cred": "admin"}, "invalid_token",
          'Invalid credential: the emulator accepts "owner" as the admin credential, or an ID token through auth.')
_answered("gauth-id-token", "gauth", {"cred": user_token("u1")}, "invalid_token",
          'Invalid credential: the emulator accepts "owner" as the admin credential, or an ID token through auth.')
_answered("gauth-authvar-not-object", "gauth", {"cred": "owner", "authvar": 5}, "invalid_request",
          "Invalid authvar: 5. It must be an object.")

# NaN and Infinity are not JSON, though Python's parser takes them.
NAN_PUT = f'{{"t":"d","d":{{"r":{R},"a":"p","b":{{"p":"existing","d":NaN}}}}}}'
INFINITY_GET = '{"t":"d","d":{"r":1,"a":"g","b":{"p":"existing","q":{"i":".value","sp":-Infinity}}}}'

# (id, frames (str: text, bytes: binary), close code, close reason): the server closes the connection.
CLOSED = [
    ("not-json", ["hello"], 1007, "Invalid message: 'hello' is not JSON."),
    ("truncated-json", ['{"t":"d","d":{"r":1'], 1007, """Invalid message: '{"t":"d","d":{"r":1' is not JSON."""),
    ("empty-frame", [""], 1007, "Invalid message: '' is not JSON."),
    ("nan-literal", [NAN_PUT], 1007, f"Invalid message: {NAN_PUT[:40]!r} is not JSON."),
    ("infinity-literal", [INFINITY_GET], 1007, f"Invalid message: {INFINITY_GET[:40]!r} is not JSON."),
    ("nested-too-deep", ["[" * 100_000 + "]" * 100_000], 1007, "Invalid message: it is nested too deeply."),
    ("binary", [b"\x00\x01"], 1003, "Binary frames are not part of the protocol; send JSON text."),
    ("binary-json", [frame(1, "s", {}).encode()], 1003, "Binary frames are not part of the protocol; send JSON text."),
    ("array", ["[]"], 1002, ENVELOPE),
    ("number", ["5.5"], 1002, ENVELOPE),
    ("string", ['"d"'], 1002, ENVELOPE),
    ("null", ["null"], 1002, ENVELOPE),
    ("unknown-type", ['{"t":"x"}'], 1002, ENVELOPE),
    ("data-not-object", ['{"t":"d","d":5}'], 1002, ENVELOPE),
    ("control-not-object", ['{"t":"c","d":[]}'], 1002, ENVELOPE),
    ("no-type", ['{"d":{"r":1,"a":"s","b":{}}}'], 1002, ENVELOPE),
    ("no-r", ['{"t":"d","d":{"a":"g","b":{"p":"existing"}}}'], 1002, REQUEST),
    ("r-string", ['{"t":"d","d":{"r":"1","a":"g","b":{"p":"existing"}}}'], 1002, REQUEST),
    ("r-float", ['{"t":"d","d":{"r":1.5,"a":"g","b":{"p":"existing"}}}'], 1002, REQUEST),
    ("r-bool", ['{"t":"d","d":{"r":true,"a":"g","b":{"p":"existing"}}}'], 1002, REQUEST),
    ("r-null", ['{"t":"d","d":{"r":null,"a":"g","b":{"p":"existing"}}}'], 1002, REQUEST),
    ("action-not-string", ['{"t":"d","d":{"r":1,"a":5,"b":{}}}'], 1002, REQUEST),
    ("no-action", ['{"t":"d","d":{"r":1,"b":{}}}'], 1002, REQUEST),
    ("body-null", ['{"t":"d","d":{"r":1,"a":"p","b":null}}'], 1002, REQUEST),
    ("body-list", ['{"t":"d","d":{"r":1,"a":"p","b":["existing",1]}}'], 1002, REQUEST),
    ("frame-count-over-limit", ["99999"], 1009, TOO_BIG),
    ("frame-count-just-over-limit", ["1026"], 1009, TOO_BIG),
    ("one-huge-frame", ["x" * (16 * 1024 * 1024 + 1)], 1009, TOO_BIG),
    ("frames-adding-up-over-limit", ["1025"] + ["x" * 16384] * 1025, 1009, TOO_BIG),
    ("bad-json-in-frames", ["2", '{"t":"d",', '"d":'], 1007, """Invalid message: '{"t":"d","d":' is not JSON."""),
]


async def _with_watcher(emulator, act):
    """Run `act(victim, http)` on a fresh connection while another one is already open and listening; then check
    that the tree is as it was and that the other connection still answers a get and still gets its pushes."""
    url = ws_url(emulator.url, NS_BAD)
    async with aiohttp.ClientSession() as http:
        status, _ = await rest(http, emulator, "PUT", "", NS_BAD, EXISTING)
        assert status == 200
        watcher = await WsClient(http, url).open()
        assert await watcher.request("q", {"p": "watch", "h": ""}) == {"s": "ok", "d": {}}
        assert await watcher.push() == {"a": "d", "b": {"p": "watch", "d": EXISTING["watch"]}}
        before = await export(http, emulator, NS_BAD)
        victim = await WsClient(http, url).open()
        try:
            await act(victim, http)
            assert await export(http, emulator, NS_BAD) == before, "the bad input changed the tree"
            answer = await watcher.request("g", {"p": "existing", "q": {}}, timeout=2)
            assert answer == {"s": "ok", "d": {"value": 1, "list": {"0": 1, "1": 2}}}
            stamp = random.randrange(2**52)  # a new value each time (integers past 2**53 are stored as doubles)
            assert (await rest(http, emulator, "PUT", "watch/stamp", NS_BAD, stamp))[0] == 200
            assert await watcher.push(timeout=2) == {"a": "d", "b": {"p": "watch/stamp", "d": stamp}}
            assert not watcher.closed
        finally:
            await victim.close()
            await watcher.close()


@pytest.mark.parametrize("case", ANSWERED, ids=[c[0] for c in ANSWERED])
def test_bad_request_is_answered_and_the_connection_stays_open(case, emulator):
    _, text, expected = case

    async def act(victim, http):
        assert await victim.raw_request(text, R) == expected
        assert await victim.request("s", {}) == {"s": "ok", "d": ""}, "the connection must stay usable"
        assert not victim.closed

    run(_with_watcher(emulator, act))


def test_answered_cases_cover_every_action_and_are_distinct():
    assert len({c[0] for c in ANSWERED}) == len(ANSWERED)
    actions = {json.loads(c[1])["d"]["a"] for c in ANSWERED if c[1].startswith("{")}
    assert {"p", "m", "g", "q", "n", "o", "om", "auth", "gauth", "zz"} <= actions


@pytest.mark.parametrize("case", CLOSED, ids=[c[0] for c in CLOSED])
def test_bad_frame_closes_the_connection_with_its_code(case, emulator):
    _, frames, code, reason = case

    async def act(victim, http):
        for data in frames:
            if victim.closed:
                break
            await (victim.send_bytes(data) if isinstance(data, bytes) else victim.send_raw(data))
        assert await victim.wait_closed() == (code, reason)

    run(_with_watcher(emulator, act))


def test_deeply_nested_messages_are_answered_or_closed_never_dropped(emulator):
    """Around Python's recursion limit a message parses but cannot be echoed back: either way, an answer or a
    1007 close, never a dropped connection (1006) and a traceback. (Read raw: answers this deep do not parse here.)"""
    answered = re.compile(r'\{"t":"d","d":\{"r":%d,"b":\{"s":"(\w+)"' % R)

    async def act(victim, http):
        outcomes = {}
        for depth in range(900, 1001, 4):
            nested = "[" * depth + "]" * depth
            for action, body in (("echo", f'{{"d":{nested}}}'),
                                 ("gauth", f'{{"cred":"owner","authvar":{{"x":{nested}}}}}'),
                                 ("g", f'{{"p":"existing","q":{{"zz":{nested}}}}}')):
                async with http.ws_connect(ws_url(emulator.url, NS_BAD), max_msg_size=0) as ws:
                    await ws.receive(timeout=5)  # the handshake
                    await ws.send_str(f'{{"t":"d","d":{{"r":{R},"a":"{action}","b":{body}}}}}')
                    msg = await ws.receive(timeout=5)
                    if msg.type == aiohttp.WSMsgType.TEXT:
                        outcomes[depth, action] = answered.match(msg.data).group(1)
                    else:
                        outcomes[depth, action] = (ws.close_code, msg.extra)
        allowed = {"ok", "invalid_request", (1007, "Invalid message: it is nested too deeply.")}
        assert {k: v for k, v in outcomes.items() if v not in allowed} == {}
        assert {"ok", (1007, "Invalid message: it is nested too deeply.")} <= set(outcomes.values())

    run(_with_watcher(emulator, act))


def test_frame_count_followed_by_fewer_frames_then_a_close(emulator):
    async def act(victim, http):
        await victim.send_raw("3")
        await victim.send_raw(frame(1, "p", {"p": "existing", "d": "half"})[:20])
        await victim.close()
        await asyncio.sleep(0.2)  # the server has seen the close

    run(_with_watcher(emulator, act))


def test_a_message_split_into_frames_is_reassembled(emulator):
    async def act(victim, http):
        text = frame(R, "g", {"p": "existing", "q": {}})
        pieces = [text[i:i + 7] for i in range(0, len(text), 7)]
        await victim.send_raw(str(len(pieces)))
        for piece in pieces[:-1]:
            await victim.send_raw(piece)
        assert await victim.raw_request(pieces[-1], R) == {"s": "ok", "d": {"value": 1, "list": {"0": 1, "1": 2}}}
        await victim.send_raw("0")  # a keep-alive between messages is ignored
        assert await victim.request("s", {}) == {"s": "ok", "d": ""}

    run(_with_watcher(emulator, act))


def test_paths_are_keys_as_sent_never_percent_decoded(emulator):
    """The SDK sends a path's keys as they are (`Path.toString`): "a%41" is the key a%41, not "aA"."""

    async def scenario():
        async with aiohttp.ClientSession() as http:
            client = await WsClient(http, ws_url(emulator.url, "rt-percent")).open()
            for key in ("a%41", "%ff", "100%", "a%2Fb"):
                assert await client.request("p", {"p": f"pct/{key}", "d": key}) == {"s": "ok", "d": ""}
            assert await client.request("g", {"p": "pct/a%41", "q": {}}) == {"s": "ok", "d": "a%41"}
            status, stored = await rest(http, emulator, "GET", "pct", "rt-percent")
            assert (status, stored) == (200, {"a%41": "a%41", "%ff": "%ff", "100%": "100%", "a%2Fb": "a%2Fb"})
            await client.close()

    run(scenario())


def test_escaped_surrogate_pairs_are_text_and_lone_ones_are_refused(emulator):
    """JSON may escape a character outside the BMP as a surrogate pair: that is text, stored as the character."""

    async def scenario():
        async with aiohttp.ClientSession() as http:
            client = await WsClient(http, ws_url(emulator.url, "rt-unicode")).open()
            pair = '{"t":"d","d":{"r":%d,"a":"p","b":{"p":"u/pair","d":"\\ud83d\\ude00 ok"}}}'
            assert await client.raw_request(pair % R, R) == {"s": "ok", "d": ""}
            lone = '{"t":"d","d":{"r":%d,"a":"p","b":{"p":"u/lone","d":"\\ud83d ok"}}}'
            assert await client.raw_request(lone % (R + 1), R + 1) == {"s": "invalid_data", "d": INVALID_JSON}
            assert await rest(http, emulator, "GET", "u", "rt-unicode") == (200, {"pair": "\U0001F600 ok"})
            await client.close()

    run(scenario())


FLOOD_WRITES = 5000
FLOOD_MAX_GET_S = 1.5


def test_a_flood_of_unread_writes_neither_topples_the_server_nor_loses_an_answered_write(emulator):
    """One connection sends 5,000 puts and reads nothing until it is done; another still gets answers quickly;
    every put is answered, and what was answered ok is in the tree."""

    async def scenario():
        url = ws_url(emulator.url, "rt-flood")
        async with aiohttp.ClientSession() as http:
            other = await WsClient(http, url).open()
            flood = await http.ws_connect(url, max_msg_size=0)
            await flood.receive(timeout=5)  # the handshake
            await flood.send_str(frame(0, "gauth", {"cred": "owner"}))

            async def send_all():
                for i in range(1, FLOOD_WRITES + 1):
                    await flood.send_str(frame(i, "p", {"p": f"flood/k{i}", "d": i}))

            sender = asyncio.ensure_future(send_all())
            latencies = []
            while not sender.done() or len(latencies) < 5:
                started = time.perf_counter()
                assert await other.request("g", {"p": "flood/k1", "q": {}}, timeout=5) in (
                    {"s": "ok", "d": None}, {"s": "ok", "d": 1})
                latencies.append(time.perf_counter() - started)
                await asyncio.sleep(0.02)
            await sender
            # Typically 0.1-0.3 s: the flooding connection's buffered puts run without yielding until 1,000 await
            # their commit. "A second or so", with room for a loaded machine.
            assert max(latencies) < FLOOD_MAX_GET_S, latencies

            answers: dict = {}
            while len(answers) < FLOOD_WRITES + 1:
                msg = await flood.receive(timeout=30)
                assert msg.type == aiohttp.WSMsgType.TEXT, (msg, len(answers))
                body = json.loads(msg.data)["d"]
                assert body["r"] not in answers, f"answered twice: {body}"
                answers[body["r"]] = body["b"]["s"]
            await flood.close()
            assert answers.pop(0) == "ok"
            assert set(answers) == set(range(1, FLOOD_WRITES + 1))
            landed = {int(k[1:]): v for k, v in (await rest(http, emulator, "GET", "flood", "rt-flood"))[1].items()}
            ok = {r for r, status in answers.items() if status == "ok"}
            assert {r: landed.get(r) for r in ok if landed.get(r) != r} == {}, "answered ok but not in the tree"
            assert set(landed) <= ok, "in the tree but never answered ok"
            assert len(ok) == FLOOD_WRITES, {s for s in answers.values()}  # nothing here is a reason to refuse
            await other.close()

    run(scenario())


# ---- 2. `g` with a query object, against REST queries and a reference of Firebase's ordering -----

NS_QUERY = "rt-queries"


def _tickets() -> dict:
    """A few dozen tickets: ties, mixed types, numeric and push-style keys, priorities on leaves and objects."""
    rng = random.Random(7)
    tickets = {}
    keys = [f"-N{rng.randrange(36 ** 6):06x}{i:02d}" for i in range(18)] + ["1", "2", "10", "-3", "007", "7", "a", "B"]
    kinds = ["high", "low", "low", 3, 3, 1, 2.5, True, False, None, "", "zz"]
    for i, key in enumerate(keys):
        if i % 9 == 4:  # a leaf ticket, with a priority
            tickets[key] = {".value": kinds[i % len(kinds)] if kinds[i % len(kinds)] is not None else 0,
                            ".priority": [1, "b", 2.5][i % 3]}
            continue
        if i % 9 == 8:
            tickets[key] = [5, "x", "high", False][i % 4]  # a leaf without a priority
            continue
        ticket = {"title": f"ticket {i}", "status": ["open", "closed"][i % 2]}
        if kinds[i % len(kinds)] is not None:
            ticket["priority"] = kinds[i % len(kinds)]
        if i % 3:
            ticket["meta"] = {"score": [7.5, 0, "x", 7.5][i % 4]}
        if i % 4 == 0:
            ticket[".priority"] = [1, "a", 1, 5.5, None, "a"][i // 4 % 6]
        tickets[key] = ticket
    return tickets


TICKETS = _tickets()
_BOUND_VALUES = {
    ".key": ["-", "-N", "007", "1", "10", "2", "5", "7", "B", "a", "zz"],
    ".value": [None, False, True, -1, 2.5, 3, 5, "", "high", "x", "zz"],
    ".priority": [None, 1, 2.5, 5.5, "a", "b", "c"],
    "priority": [None, False, True, 1, 2.5, 3, "", "high", "low", "zz"],
    "meta/score": [None, 0, 7.5, 8, "x", "y"],
}
_NAMES = ["[MIN_NAME]", "[MAX_NAME]", "-3", "007", "10", "7", "B", "a", sorted(TICKETS)[3]]
_ORDER_BY = {".key": queries.ORDER_BY_KEY, ".value": queries.ORDER_BY_VALUE, ".priority": queries.ORDER_BY_PRIORITY}


QUERY_INDEXES = [".key", ".value", None, ".priority", "priority", "meta/score"]  # None: no `i` (priority)


def _query_table(index, count=60):
    """`count` query objects on `index`, drawn at random with a fixed seed."""
    rng = random.Random(f"queries on {index}")
    bounds = _BOUND_VALUES[index or ".priority"]
    table = []
    while len(table) < count:
        q = {} if index is None else {"i": index}
        for value_key, name_key, inclusive_key in (("sp", "sn", "sin"), ("ep", "en", "ein")):
            if rng.random() < 0.6:
                q[value_key] = rng.choice(bounds)
                if index != ".key" and rng.random() < 0.4:
                    q[name_key] = rng.choice(_NAMES)
                if rng.random() < 0.5:
                    q[inclusive_key] = rng.random() < 0.5
        if rng.random() < 0.5:
            q["l"] = rng.choice([1, 2, 3, 7, 100])
            q["vf"] = rng.choice("lr")
        if len(q) > (0 if index is None else 1):
            table.append(q)
    return table


def _rest_params(q) -> dict | None:
    """The REST query parameters equal to query object `q`, or None when REST cannot express it."""
    if "sn" in q or "en" in q:
        return None
    index = q.get("i", ".priority")
    params = {"orderBy": json.dumps({".key": "$key", ".value": "$value", ".priority": "$priority"}.get(index, index))}
    if "sp" in q:
        params["startAt" if q.get("sin", True) else "startAfter"] = json.dumps(q["sp"])
    if "ep" in q:
        params["endAt" if q.get("ein", True) else "endBefore"] = json.dumps(q["ep"])
    if "l" in q:
        params["limitToFirst" if q["vf"] == "l" else "limitToLast"] = str(q["l"])
    return params


_MIN, _MAX = (-10,), (10,)  # below and above every name's rank


def _reference(q, children) -> list:
    """The keys Firebase returns for `q`, ordered: each child ranked (index value, key) as
    `emulator.query.sort_key` ranks them; a bound is (value, name), and a bound without a name takes
    every child with that value when inclusive, none when exclusive."""
    index = q.get("i", ".priority")
    order_by = _ORDER_BY.get(index, index)

    def rank_of_value(value):
        return queries.sort_key(queries.ORDER_BY_VALUE, "k", value)[0]

    def rank_of_name(name):
        return queries.sort_key(queries.ORDER_BY_KEY, name, None)[0]

    def position(child):
        key, value = child
        priority = value.get(".priority") if isinstance(value, dict) else None
        return queries.sort_key(order_by, key, value, priority)

    def bound(value_key, name_key, inclusive_key, no_name_inclusive, no_name_exclusive):
        inclusive = q.get(inclusive_key, True)
        name = q.get(name_key)
        value_rank = rank_of_name(q[value_key]) if index == ".key" else rank_of_value(q[value_key])
        if name is None:
            name_rank = no_name_inclusive if inclusive else no_name_exclusive
        else:
            name_rank = {"[MIN_NAME]": _MIN, "[MAX_NAME]": _MAX}.get(name) or rank_of_name(name)
        return (value_rank, name_rank), inclusive

    ordered = sorted(children.items(), key=position)
    if "sp" in q:
        low, inclusive = bound("sp", "sn", "sin", _MIN, _MAX)
        ordered = [c for c in ordered if (position(c) >= low if inclusive else position(c) > low)]
    if "ep" in q:
        high, inclusive = bound("ep", "en", "ein", _MAX, _MIN)
        ordered = [c for c in ordered if (position(c) <= high if inclusive else position(c) < high)]
    if "l" in q:
        ordered = ordered[:q["l"]] if q["vf"] == "l" else ordered[-q["l"]:]
    return [key for key, _ in ordered]


@pytest.fixture(scope="module")
def stored_tickets(emulator):
    """The tickets, written over the WebSocket; returns their stored form (as `g` answers it)."""

    async def scenario():
        async with aiohttp.ClientSession() as http:
            client = await WsClient(http, ws_url(emulator.url, NS_QUERY)).open()
            assert await client.request("p", {"p": "tickets", "d": TICKETS}) == {"s": "ok", "d": ""}
            stored = (await client.request("g", {"p": "tickets", "q": {}}))["d"]
            await client.close()
            return stored

    return run(scenario())


@pytest.mark.parametrize("index", QUERY_INDEXES)
def test_get_with_a_query_selects_what_rest_and_the_reference_select(index, emulator, stored_tickets):
    table = _query_table(index)
    assert len(stored_tickets) == len(TICKETS)

    async def scenario():
        mismatches = []
        async with aiohttp.ClientSession() as http:
            client = await WsClient(http, ws_url(emulator.url, NS_QUERY)).open()
            compared_with_rest = 0
            for q in table:
                answer = await client.request("g", {"p": "tickets", "q": q})
                assert answer["s"] == "ok", (q, answer)
                got = sorted(answer["d"] or {})  # which keys; JSON objects carry no order the SDK relies on
                expected = sorted(_reference(q, stored_tickets))
                if got != expected:
                    mismatches.append(f"g {q}: {got}, reference: {expected}")
                params = _rest_params(q)
                if params is not None:
                    compared_with_rest += 1
                    status, body = await rest(http, emulator, "GET", "tickets", NS_QUERY, **params)
                    if status != 200 or sorted(body or {}) != got:
                        mismatches.append(f"g {q}: {got}, REST {params}: {status} {sorted(body or {})}")
            await client.close()
        assert compared_with_rest >= 15, "too few REST-expressible queries in the table"
        assert mismatches == [], "\n".join(mismatches[:20])

    run(scenario())


def test_the_query_table_selects_something_and_not_everything(stored_tickets):
    """The queries are discriminating: many select some but not all tickets, and some select none."""
    sizes = [len(_reference(q, stored_tickets)) for index in QUERY_INDEXES for q in _query_table(index)]
    assert sum(0 < n < len(TICKETS) for n in sizes) > len(sizes) // 2
    assert 0 in sizes


# ---- 3. listen semantics ---------------------------------------------------------------------

NS_LISTEN = "rt-listens"
NS_RULES = "rt-rules"
RULES = {"rules": {
    "public": {".read": True},
    "private": {".read": "auth != null"},
    "gated": {".read": "data.child('open').val() === true"},
    ".write": False,
}}


async def _put_rules(http, emulator, ns, rules):
    async with http.put(f"{emulator.url}/.settings/rules.json", params={"ns": ns}, data=json.dumps(rules),
                        headers=OWNER_HEADER) as response:
        assert response.status == 200, await response.text()


def test_a_listen_gets_its_data_before_its_ok(emulator):
    async def scenario():
        async with aiohttp.ClientSession() as http:
            await rest(http, emulator, "PUT", "order", NS_LISTEN, {"a": {"x": 1}, "b": 2})
            client = await WsClient(http, ws_url(emulator.url, NS_LISTEN)).open()
            assert await client.request("q", {"p": "order", "h": ""}) == {"s": "ok", "d": {}}
            assert await client.request("q", {"p": "order", "q": {"i": ".key", "l": 1, "vf": "r"}, "t": 3, "h": ""}) \
                == {"s": "ok", "d": {}}
            assert await client.request("q", {"p": "order/none", "h": ""}) == {"s": "ok", "d": {}}
            assert client.log[1:] == [
                {"a": "d", "b": {"p": "order", "d": {"a": {"x": 1}, "b": 2}}}, {"r": 2, "b": {"s": "ok", "d": {}}},
                {"a": "d", "b": {"p": "order", "d": {"b": 2}, "t": 3}}, {"r": 3, "b": {"s": "ok", "d": {}}},
                {"a": "d", "b": {"p": "order/none", "d": None}}, {"r": 4, "b": {"s": "ok", "d": {}}}]
            await client.close()

    run(scenario())


def test_a_tagged_listen_is_pushed_only_when_its_window_changes(emulator):
    async def scenario():
        async with aiohttp.ClientSession() as http:
            await rest(http, emulator, "PUT", "window", NS_LISTEN, {"b": 1, "c": 2, "d": 3, "e": 4})
            client = await WsClient(http, ws_url(emulator.url, NS_LISTEN)).open()
            q = {"i": ".key", "l": 2, "vf": "l"}
            assert await client.request("q", {"p": "window", "q": q, "t": 7, "h": ""}) == {"s": "ok", "d": {}}
            assert await client.push() == {"a": "d", "b": {"p": "window", "d": {"b": 1, "c": 2}, "t": 7}}
            await rest(http, emulator, "PUT", "window/e", NS_LISTEN, 40)  # outside the window
            await client.request("p", {"p": "window/d", "d": 30})
            await client.no_push(0.3)
            # Changes inside the window travel as its children, tagged: what changed, what left (null), what
            # entered; one write that moves several children is one merge.
            await rest(http, emulator, "PUT", "window/c", NS_LISTEN, 20)  # inside
            assert await client.push() == {"a": "d", "b": {"p": "window/c", "d": 20, "t": 7}}
            await client.request("p", {"p": "window/a", "d": 0})  # a new first child pushes c out
            assert await client.push() == {"a": "m", "b": {"p": "window", "d": {"c": None, "a": 0}, "t": 7}}
            await client.request("m", {"p": "window", "d": {"c": None, "e": None}})  # both outside now
            await client.no_push(0.3)
            await client.request("p", {"p": "window/b", "d": None})  # c was deleted: d moves in
            assert await client.push() == {"a": "m", "b": {"p": "window", "d": {"b": None, "d": 30}, "t": 7}}
            await client.close()

    run(scenario())


def test_an_untagged_listen_gets_puts_from_above_and_merges_from_below(emulator):
    async def scenario():
        async with aiohttp.ClientSession() as http:
            await rest(http, emulator, "PUT", "tree", NS_LISTEN, {"a": {"b": {"x": 0}, "c": 1}})
            client = await WsClient(http, ws_url(emulator.url, NS_LISTEN)).open()
            writer = await WsClient(http, ws_url(emulator.url, NS_LISTEN)).open()
            assert await client.request("q", {"p": "tree/a/b", "h": ""}) == {"s": "ok", "d": {}}
            assert await client.push() == {"a": "d", "b": {"p": "tree/a/b", "d": {"x": 0}}}
            # A put above the listen: the listen's new value, at the listen's path.
            await rest(http, emulator, "PUT", "tree/a", NS_LISTEN, {"b": {"x": 1, "y": [1, 2]}, "c": 2})
            assert await client.push() == {"a": "d", "b": {"p": "tree/a/b", "d": {"x": 1, "y": {"0": 1, "1": 2}}}}
            await writer.request("p", {"p": "tree", "d": {"a": {"c": 3}}})  # deletes a/b
            assert await client.push() == {"a": "d", "b": {"p": "tree/a/b", "d": None}}
            # Beside the listen: nothing.
            await writer.request("p", {"p": "tree/a/c", "d": 4})
            await rest(http, emulator, "PATCH", "tree/a", NS_LISTEN, {"c": 5, "d": 6})
            await client.no_push(0.3)
            # A multi-path update above the listen reaching into it: a merge at the listen.
            answer = await writer.request("m", {"p": "tree/a", "d": {"b/x": 2, "b/z/w": 3, "c": 6}})
            assert answer == {"s": "ok", "d": ""}
            assert await client.push() == {"a": "m", "b": {"p": "tree/a/b", "d": {"x": 2, "z/w": 3}}}
            # A multi-path update at or below the listen: a merge where it was made.
            assert await writer.request("m", {"p": "tree/a/b", "d": {"x": 4, "z/v": 5}}) == {"s": "ok", "d": ""}
            assert await client.push() == {"a": "m", "b": {"p": "tree/a/b", "d": {"x": 4, "z/v": 5}}}
            await writer.request("m", {"p": "tree/a/b/z", "d": {"w": None}})
            assert await client.push() == {"a": "m", "b": {"p": "tree/a/b/z", "d": {"w": None}}}
            # A put below it: a put at the written path.
            await writer.request("p", {"p": "tree/a/b/z/v", "d": "five"})
            assert await client.push() == {"a": "d", "b": {"p": "tree/a/b/z/v", "d": "five"}}
            # Unlisten: no more pushes.
            assert await client.request("n", {"p": "tree/a/b"}) == {"s": "ok", "d": ""}
            await writer.request("p", {"p": "tree/a/b/x", "d": 9})
            await rest(http, emulator, "PUT", "tree/a", NS_LISTEN, {"b": 1})
            await client.no_push(0.3)
            await client.close()
            await writer.close()

    run(scenario())


def test_unlisten_of_a_tagged_query_stops_only_that_query(emulator):
    async def scenario():
        async with aiohttp.ClientSession() as http:
            await rest(http, emulator, "PUT", "two", NS_LISTEN, {"a": 1, "b": 2})
            client = await WsClient(http, ws_url(emulator.url, NS_LISTEN)).open()
            first, last = {"i": ".key", "l": 1, "vf": "l"}, {"i": ".key", "l": 1, "vf": "r"}
            await client.request("q", {"p": "two", "q": first, "t": 1, "h": ""})
            await client.request("q", {"p": "two", "q": last, "t": 2, "h": ""})
            assert [p["b"]["t"] for p in client.drain()] == [1, 2]
            assert await client.request("n", {"p": "two", "q": first, "t": 1}) == {"s": "ok", "d": ""}
            await rest(http, emulator, "PUT", "two", NS_LISTEN, {"a": 10, "b": 20})
            assert await client.push() == {"a": "d", "b": {"p": "two", "d": {"b": 20}, "t": 2}}
            await client.no_push(0.3)
            await client.close()

    run(scenario())


def test_listens_the_rules_refuse_or_stop_allowing(emulator):
    async def scenario():
        async with aiohttp.ClientSession() as http:
            await _put_rules(http, emulator, NS_RULES, RULES)
            await rest(http, emulator, "PUT", "", NS_RULES,
                       {"public": {"a": 1}, "private": {"b": 2}, "gated": {"c": 3, "open": True}})
            client = await WsClient(http, ws_url(emulator.url, NS_RULES)).open(admin=False)
            assert await client.request("q", {"p": "private", "h": ""}) == {"s": "permission_denied",
                                                                             "d": "Permission denied"}
            assert await client.request("g", {"p": "private", "q": {}}) == {"s": "permission_denied",
                                                                            "d": "Permission denied"}
            await client.no_push(0.1)
            assert await client.request("q", {"p": "public", "h": ""}) == {"s": "ok", "d": {}}
            q = {"i": ".key", "l": 5, "vf": "l"}
            assert await client.request("q", {"p": "public", "q": q, "t": 4, "h": ""}) == {"s": "ok", "d": {}}
            assert await client.request("q", {"p": "gated", "h": ""}) == {"s": "ok", "d": {}}
            assert len(client.drain()) == 3
            # The data the rules read changes: the gated listen is revoked.
            await rest(http, emulator, "PUT", "gated/open", NS_RULES, False)
            assert await client.push() == {"a": "d", "b": {"p": "gated/open", "d": False}}
            assert await client.push() == {"a": "c", "b": {"p": "gated"}}
            # The rules change: both listens at public are revoked, the tagged one naming its query.
            rules = json.loads(json.dumps(RULES))
            rules["rules"]["public"][".read"] = "auth != null"
            await _put_rules(http, emulator, NS_RULES, rules)
            revoked = [await client.push(), await client.push()]
            expected = [{"a": "c", "b": {"p": "public"}}, {"a": "c", "b": {"p": "public", "q": [q]}}]
            assert sorted(revoked, key=json.dumps) == sorted(expected, key=json.dumps)
            # Revoked means gone: writes there push nothing.
            await rest(http, emulator, "PUT", "public/a", NS_RULES, 10)
            await rest(http, emulator, "PUT", "gated/c", NS_RULES, 30)
            await client.no_push(0.3)
            await client.close()
            await _put_rules(http, emulator, NS_RULES, RULES)

    run(scenario())


def test_an_expiring_token_revokes_its_listens_then_its_auth(emulator):
    async def scenario():
        async with aiohttp.ClientSession() as http:
            await _put_rules(http, emulator, NS_RULES, RULES)
            await rest(http, emulator, "PUT", "", NS_RULES, {"public": {"a": 1}, "private": {"b": 2}})
            client = await WsClient(http, ws_url(emulator.url, NS_RULES)).open(admin=False)
            now = int(time.time())
            token = user_token("alice", iat=now, exp=now + 2)
            answer = await client.request("auth", {"cred": token})
            assert answer["s"] == "ok" and answer["d"]["auth"]["uid"] == "alice" and answer["d"]["expires"] == now + 2
            assert await client.request("q", {"p": "private", "h": ""}) == {"s": "ok", "d": {}}
            assert await client.request("q", {"p": "public", "h": ""}) == {"s": "ok", "d": {}}
            assert len(client.drain()) == 2
            assert await client.push(timeout=4) == {"a": "c", "b": {"p": "private"}}
            assert time.time() >= now + 2 - 0.1, "revoked before the token expired"
            expired = {"a": "ac", "b": {"s": "expired_token", "d": "Auth token is expired."}}
            assert await client.push(timeout=1) == expired
            # The listen that needs no auth stays; reads now run unauthenticated.
            await rest(http, emulator, "PUT", "public/a", NS_RULES, 5)
            assert await client.push() == {"a": "d", "b": {"p": "public/a", "d": 5}}
            assert await client.request("g", {"p": "private", "q": {}}) == {"s": "permission_denied",
                                                                            "d": "Permission denied"}
            await client.close()

    run(scenario())
