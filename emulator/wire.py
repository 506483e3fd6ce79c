"""The realtime protocol's messages: envelopes, frame splitting, query objects, and the listens it fans out to.

Every message is JSON `{"t": "d"|"c", "d": {...}}`; one longer than `MAX_FRAME_CHARS` travels as a
frame holding the count, then the pieces (as the SDK's `WebSocketConnection` does). Data pushed to
clients is the stored form itself (`values.normalize`): priorities travel as `.priority` and
`.value`, which the SDK's `nodeFromJSON` reads, and arrays stay objects with integer keys.
`WireListen` is a `stream.Listener`, so the Registry's fan-out (built once per location, rules
re-checked once per reader) serves WebSocket listens and SSE streams alike.
"""

import json
import math

from emulator import query as queries
from emulator import values
from emulator.errors import BadRequest
from emulator.store import Change
from emulator.stream import Listener

MAX_FRAME_CHARS = 16384  # the SDK's WEBSOCKET_MAX_FRAME_SIZE; it splits its own messages at the same size
MIN_NAME, MAX_NAME = "[MIN_NAME]", "[MAX_NAME]"  # the SDK's sentinels for a bound given without a key
_QUERY_KEYS = {"sp", "sn", "sin", "ep", "en", "ein", "l", "vf", "i"}


def dumps(value) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def data_message(body: dict) -> str:
    return dumps({"t": "d", "d": body})


def split_frames(message: str) -> list[str]:
    """The frames one message is sent as: itself, or its frame count then its pieces."""
    if len(message) <= MAX_FRAME_CHARS:
        return [message]
    pieces = [message[i:i + MAX_FRAME_CHARS] for i in range(0, len(message), MAX_FRAME_CHARS)]
    return [str(len(pieces))] + pieces


def ws_frames(message: str) -> bytes:
    """The message as server-to-client WebSocket text frames (unmasked, RFC 6455), split as `split_frames` says."""
    out = []
    for piece in split_frames(message):
        payload = _utf8_safe(piece).encode("utf-8")
        n = len(payload)
        if n < 126:
            header = bytes((0x81, n))
        elif n < 65536:
            header = bytes((0x81, 126)) + n.to_bytes(2, "big")
        else:
            header = bytes((0x81, 127)) + n.to_bytes(8, "big")
        out.append(header + payload)
    return b"".join(out)


def _utf8_safe(text: str) -> str:
    """Text a frame can carry: a lone surrogate (from a \\uD800 escape) stays the JSON escape it came from."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def push_text(action: str, path: tuple, data_json: str, tag=None) -> str:
    """A server push (`d` put or `m` merge) with its data already JSON."""
    tagged = "" if tag is None else f',"t":{dumps(tag)}'
    return f'{{"t":"d","d":{{"a":"{action}","b":{{"p":{dumps("/".join(path))},"d":{data_json}{tagged}}}}}}}'


def query_from_wire(qobj) -> queries.Query | None:
    """The Query a listen's or get's query object asks for (None: the whole location).

    Raises:
      BadRequest: naming the query object and what is wrong with it.
    """
    if qobj is None or qobj == {}:
        return None
    if not isinstance(qobj, dict) or not _QUERY_KEYS.issuperset(qobj):
        raise BadRequest(f"Invalid query: {dumps(qobj)[:200]}. A query object has only the keys "
                         f"{', '.join(sorted(_QUERY_KEYS))}.")
    index = qobj.get("i", ".priority")
    if not isinstance(index, str):
        raise BadRequest(f"Invalid query: {dumps(qobj)[:200]}. The index (i) must be a string.")
    order_by = {".key": queries.ORDER_BY_KEY, ".value": queries.ORDER_BY_VALUE,
                ".priority": queries.ORDER_BY_PRIORITY}.get(index)
    if order_by is None:
        order_by = "/".join(s for s in index.split("/") if s)
        if not order_by or not all(values.is_valid_key(s) for s in order_by.split("/")):
            raise BadRequest(f'Invalid query index: "{index}". It must be .key, .value, .priority or a child path.')
    fields: dict = {}
    for value_key, name_key, inclusive_key, inclusive, exclusive in (
            ("sp", "sn", "sin", "start_at", "start_after"), ("ep", "en", "ein", "end_at", "end_before")):
        if value_key in qobj:
            bound = (_primitive(qobj[value_key], qobj), _name(qobj.get(name_key), qobj))
            fields[inclusive if qobj.get(inclusive_key, True) else exclusive] = bound
    if qobj.get("vf", "l") not in ("l", "r"):
        raise BadRequest(f"Invalid query: {dumps(qobj)[:200]}. The view (vf) must be \"l\" or \"r\".")
    if "l" in qobj:
        limit = qobj["l"]
        if isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0:
            raise BadRequest(f"Invalid query: {dumps(qobj)[:200]}. The limit (l) must be a positive integer.")
        fields["limit_to_last" if qobj.get("vf") == "r" else "limit_to_first"] = limit
    return queries.Query(order_by=order_by, **fields)


def _primitive(value, qobj):
    if isinstance(value, (dict, list)) or (isinstance(value, float) and not math.isfinite(value)):  # 1e400 is inf
        raise BadRequest(f"Invalid query: {dumps(qobj)[:200]}. Bounds must be null, booleans, numbers or strings.")
    return value


def _name(name, qobj):
    if name is None or name == MIN_NAME:
        return None if name is None else queries.MIN_NAME
    if name == MAX_NAME:
        return queries.MAX_NAME
    if not isinstance(name, str):
        raise BadRequest(f"Invalid query: {dumps(qobj)[:200]}. Bound names (sn, en) must be strings.")
    return name


def wire_values(change: Change) -> list[str]:
    """JSON of each set's stored value, as pushed over the WebSocket (built once per change)."""
    if change.wire is None:
        change.wire = [dumps(value) for _, value in change.sets]
    return change.wire


def messages_for(change: Change, lpath: tuple) -> list[str]:
    """The pushes a listen of the whole location `lpath` gets for `change` (paths absolute)."""
    wire, n = wire_values(change), len(lpath)
    if change.kind == "patch" and change.base[:n] == lpath:
        items = ",".join(f"{dumps('/'.join(p[len(change.base):]))}:{w}" for (p, _), w in zip(change.sets, wire))
        return [push_text("m", change.base, "{" + items + "}")]
    out, below = [], []
    for (path, value), text in zip(change.sets, wire):
        if path[:n] == lpath:  # at or below the listen
            if change.kind == "patch" and len(path) > n:
                below.append(f"{dumps('/'.join(path[n:]))}:{text}")
            else:
                out.append(push_text("d", path, text))
        elif lpath[:len(path)] == path:  # above the listen: its new value
            node = value
            for key in lpath[len(path):]:
                node = values.children(node).get(key)
            out.append(push_text("d", lpath, dumps(node)))
    if below:
        out.append(push_text("m", lpath, "{" + ",".join(below) + "}"))
    return out


def query_result(indexes, ns: str, path: tuple, query):
    """JSON (stored form) of the children of the node at `path` that `query` selects ("null" for none),
    and the index.Window they make."""
    picked, window = indexes.select(ns, path, query)
    return WireListen.encode_result(picked), window


class WireListen(Listener):
    """One listen of one WebSocket connection: data goes out through the connection's outbox.

    Args:
      conn: the connection (`realtime.Connection`): has `push(text)` and `drop_listen(listen)`.
      qobj: the query object as the client sent it (echoed back in a revocation), or None.
      tag: the client's tag for a filtered query, or None.
    """

    def __init__(self, conn, ns, path, query, auth, qobj=None, tag=None):
        super().__init__(ns, path, query, auth)
        self.conn, self.qobj, self.tag = conn, qobj, tag

    @staticmethod
    def payload_for(change: Change, lpath: tuple):
        messages = messages_for(change, lpath)
        return b"".join(ws_frames(text) for text in messages) if messages else None

    def deliver(self, payload) -> None:
        if not self.closed:
            self.conn.write(payload)

    def send(self, data, chunked=None) -> None:  # the Registry's raw-bytes path is SSE only
        raise TypeError("WireListen takes messages through deliver() and send_query_result()")

    @staticmethod
    def encode_result(picked) -> str:
        return dumps(picked) if picked else "null"

    @staticmethod
    def encode_child(node) -> str:
        return dumps(node)

    def send_query_result(self, data_json: str) -> None:
        if not self.closed:
            self.conn.push(push_text("d", self.path, data_json, self.tag))

    def send_query_child(self, name: str, data_json: str) -> None:
        if not self.closed:  # a tagged put at the child's path: the SDK applies it to that query's view
            self.conn.push(push_text("d", self.path + (name,), data_json, self.tag))

    def send_query_children(self, changes: dict) -> None:
        if not self.closed:  # a tagged merge: the SDK applies it to that query's view
            items = ",".join(f"{dumps(name)}:{data}" for name, data in changes.items())
            self.conn.push(push_text("m", self.path, "{" + items + "}", self.tag))

    def revoke(self) -> None:
        if self.closed:
            return
        body = {"p": "/".join(self.path)}
        if self.qobj is not None:
            body["q"] = [self.qobj]  # the SDK reads a list of query objects here
        self.conn.push(data_message({"a": "c", "b": body}))
        self.conn.drop_listen(self)
