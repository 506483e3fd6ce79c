"""The realtime protocol (`/.ws`, v5): what the Firebase JS SDK and firebase-admin for Node speak.

One WebSocket per client app carries every request (listen, get, put, merge, onDisconnect, auth)
and every push. Requests are handled in the order they arrive: a write is applied to the store at
once (`Database.apply`) and answered when its group commit is durable, so writes keep the
connection's order without waiting for each other's fsync; a read or listen waits until what it
shows is durable. Everything a connection sends goes through its outbox, one writer task, so a
listen's data always precedes its `ok`, and a committed change's pushes precede every later answer.
Writes take the same path as REST writes: rules, validation, server values, durability, triggers
and SSE listeners. Protocol facts: ../shared/docs/RTDB.md ("The realtime protocol").
"""

import asyncio
import json
import logging
import re
import secrets
import time

from aiohttp import WSMsgType, web

from emulator import tree, values, wire
from emulator.access import PERMISSION_DENIED
from emulator.auth import ADMIN_TOKEN, UNAUTHENTICATED, decode_unverified
from emulator.errors import BadRequest, DataStale, EmulatorError, PermissionDenied, StorageUnavailable
from emulator.query import ORDER_BY_KEY
from emulator.store import ADMIN, Auth, check_no_overlap
from emulator.stream import _reader_key

PROTOCOL_VERSION = "5"
MAX_MESSAGE_CHARS = 16 * 1024 * 1024  # Firebase: a single write from an SDK is at most 16 MB
MAX_OUTBOX_BYTES = 64 * 1024 * 1024  # a client that stops reading is disconnected past this
MAX_PENDING_WRITES = 1000  # writes awaiting durability per connection before it stops reading
YIELD_EVERY = 16  # messages handled in a row before other connections get the event loop
HEARTBEAT_S = 25.0  # WebSocket pings; a peer that vanished without a FIN is dropped after a missed pong
CLOSE_GOING_AWAY, CLOSE_PROTOCOL_ERROR, CLOSE_UNSUPPORTED, CLOSE_INVALID, CLOSE_POLICY, CLOSE_TOO_BIG = (
    1001, 1002, 1003, 1007, 1008, 1009)
_TOO_DEEP = "Invalid message: it is nested too deeply."
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")  # may leave a lone surrogate in a parsed string
_log = logging.getLogger(__name__)


class RealtimeApi:
    """The `/.ws` endpoint of one emulator: open connections, their listens, their onDisconnect writes.

    Args:
      db: the store.
      registry: the listeners' Registry (shared with SSE streams).
      access: the rules (`emulator.access.Access`).
      default_ns: namespace of a connection without `?ns=`.
      namespace_of: fn(ns) -> ns, raising BadRequest for an invalid one (the REST API's check).
      indexes: the ordered indexes queries run on (`emulator.index.Indexes`).
    """

    def __init__(self, db, registry, access, default_ns: str, namespace_of, indexes):
        self.db, self.registry, self.access, self.indexes = db, registry, access, indexes
        self.default_ns, self.namespace_of = default_ns, namespace_of
        self.connections: set = set()
        self.closing = False

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Upgrade to a WebSocket and serve the connection until it closes."""
        try:
            ns = self.namespace_of(request.query.get("ns", self.default_ns))
            version = request.query.get("v", PROTOCOL_VERSION)
            if version != PROTOCOL_VERSION:
                raise BadRequest(f'Invalid protocol version: "{version}". This emulator speaks v={PROTOCOL_VERSION}.')
        except EmulatorError as exc:
            return web.json_response({"error": str(exc)}, status=exc.status)
        # No permessage-deflate: pushes are framed once per location and written as they are (wire.ws_frames).
        ws = web.WebSocketResponse(heartbeat=HEARTBEAT_S, max_msg_size=MAX_MESSAGE_CHARS * 4, autoping=True,
                                   compress=False)
        if not ws.can_prepare(request).ok:
            return web.json_response({"error": "Upgrade required: /.ws is the realtime protocol's WebSocket."},
                                     status=400)
        await ws.prepare(request)
        conn = Connection(self, ws, ns)
        self.connections.add(conn)
        try:
            await conn.serve(request.host, request.transport)
        finally:
            self.connections.discard(conn)
            await conn.finish(run_on_disconnect=not self.closing)
        return ws

    async def close_all(self) -> None:
        """Close every connection (the emulator stops); their onDisconnect writes do not run."""
        self.closing = True
        for conn in list(self.connections):
            await conn.ws.close(code=CLOSE_GOING_AWAY, message=b"The emulator is shutting down.")


class Connection:
    """One client's WebSocket: its auth, listens, pending onDisconnect writes and outbox."""

    def __init__(self, api: RealtimeApi, ws: web.WebSocketResponse, ns: str):
        self.api, self.ws, self.ns = api, ws, ns
        self.db = api.db
        self.auth: Auth = UNAUTHENTICATED
        self.listens: dict = {}  # (path, query id) -> WireListen
        self.on_disconnect: list = []  # (kind, base, sets, request body) in the order they were set
        self._frames: list | None = None
        self._frames_left = 0
        self._frames_chars = 0
        self._transport = None
        self._pending_writes = 0
        self._writes_drained = asyncio.Event()
        self._expiry: asyncio.TimerHandle | None = None
        self._dropped = False

    # ---- the socket ----------------------------------------------------------------------

    async def serve(self, host: str, transport) -> None:
        self._transport = transport
        self.push(wire.dumps({"t": "c", "d": {"t": "h", "d": {
            "ts": self.db.clock(), "v": PROTOCOL_VERSION, "h": host, "s": secrets.token_hex(16)}}}))
        handled = 0
        async for msg in self.ws:
            handled += 1
            if handled % YIELD_EVERY == 0:  # frames already buffered are read without yielding: let others run
                await asyncio.sleep(0)
            if msg.type == WSMsgType.TEXT:
                await self._on_frame(msg.data)
            elif msg.type == WSMsgType.BINARY:
                await self.close(CLOSE_UNSUPPORTED, "Binary frames are not part of the protocol; send JSON text.")
            if self.ws.closed:
                break

    async def close(self, code: int, reason: str) -> None:
        _log.info("closing a realtime connection: %s", reason)
        await self.ws.close(code=code, message=reason.encode()[:120])

    async def finish(self, run_on_disconnect: bool) -> None:
        """The socket is gone: drop the listens, then carry out the onDisconnect writes.

        The writes are applied without an await between them: aiohttp cancels the handler of a
        connection that dropped, and a cancellation must not leave half of them undone.
        """
        if self._expiry is not None:
            self._expiry.cancel()
        for listen in list(self.listens.values()):
            self.drop_listen(listen)
        ops, self.on_disconnect = self.on_disconnect, []
        if not run_on_disconnect:
            return
        for kind, base, sets, _ in ops:
            try:
                self.db.apply(self.ns, kind, base, _fresh(sets), self.auth)
            except EmulatorError as exc:  # e.g. the rules now refuse it: dropped, as Firebase drops it
                _log.info("onDisconnect %s at %s not applied: %s", kind, values.path_str(base), exc)

    def push(self, text: str) -> None:
        """Send a message to the client, now and in order."""
        self.write(wire.ws_frames(text))

    def write(self, frames: bytes) -> None:
        """Write WebSocket frames (`wire.ws_frames`) straight to the connection's transport.

        No coroutine is woken per message (as SSE streams write), so fan-out to hundreds of connections
        stays cheap; every message is one `write`, so frames never interleave with aiohttp's own (pongs,
        the close). A client that stops reading lets the buffer grow past MAX_OUTBOX_BYTES and is dropped:
        it reconnects and is sent fresh data, as a stalled SSE reader is.
        """
        transport = self._transport
        if self._dropped or transport is None or transport.is_closing():
            return
        if transport.get_write_buffer_size() > MAX_OUTBOX_BYTES:
            _log.warning("dropping a realtime client that stopped reading (%d bytes queued)",
                         transport.get_write_buffer_size())
            self._dropped = True
            transport.abort()
            return
        transport.write(frames)

    def respond(self, r, status: str, data="") -> None:
        self.push(wire.data_message({"r": r, "b": {"s": status, "d": data}}))

    # ---- frames and envelopes --------------------------------------------------------------

    async def _on_frame(self, data: str) -> None:
        if self._frames is not None:
            self._frames.append(data)
            self._frames_chars += len(data)
            if self._frames_chars > MAX_MESSAGE_CHARS:
                return await self._too_big()
            if len(self._frames) == self._frames_left:
                message, self._frames = "".join(self._frames), None
                await self._on_message(message)
            return
        if len(data) <= 6 and data.isdigit():
            count = int(data)
            if count == 0:
                return  # the SDK's keep-alive
            if count > MAX_MESSAGE_CHARS // wire.MAX_FRAME_CHARS + 1:
                return await self._too_big()
            self._frames, self._frames_left, self._frames_chars = [], count, 0
            return
        if len(data) > MAX_MESSAGE_CHARS:
            return await self._too_big()
        await self._on_message(data)

    async def _too_big(self) -> None:
        await self.close(CLOSE_TOO_BIG, f"Message too big: the limit is {MAX_MESSAGE_CHARS // (1024 * 1024)} MB.")

    async def _on_message(self, text: str) -> None:
        try:
            envelope = json.loads(text, parse_constant=_not_json)
        except ValueError:
            return await self.close(CLOSE_INVALID, f"Invalid message: {text[:40]!r} is not JSON.")
        except RecursionError:
            return await self.close(CLOSE_INVALID, _TOO_DEEP)
        if not isinstance(envelope, dict) or envelope.get("t") not in ("d", "c") or not isinstance(envelope.get("d"), dict):
            return await self.close(CLOSE_PROTOCOL_ERROR,
                                    'Invalid message: expected {"t": "d" or "c", "d": {...}}.')
        body = envelope["d"]
        if envelope["t"] == "c":
            if body.get("t") == "p":  # ping (the SDK sends it while upgrading transports)
                self.push(wire.dumps({"t": "c", "d": {"t": "o", "d": None}}))
            return
        r, action, req = body.get("r"), body.get("a"), body.get("b", {})
        if isinstance(r, bool) or not isinstance(r, int) or not isinstance(action, str) or not isinstance(req, dict):
            return await self.close(CLOSE_PROTOCOL_ERROR,
                                    'Invalid request: expected {"r": <number>, "a": <action>, "b": {...}}.')
        handler = _ACTIONS.get(action)
        if handler is None:
            return self.respond(r, "invalid_action", f'Unknown action: "{action[:40]}". '
                                f"Known: {', '.join(sorted(_ACTIONS))}.")
        try:
            if _SURROGATE_ESCAPE.search(text):
                _check_utf8(req)
            await handler(self, r, req)
        except PermissionDenied as exc:
            self.respond(r, "permission_denied", str(exc))
        except BadRequest as exc:
            self.respond(r, "invalid_data" if action in _WRITES else "invalid_request", str(exc))
        except StorageUnavailable as exc:
            self.respond(r, "unavailable", str(exc))
        except RecursionError:  # it parsed, but is too deep to walk or answer (e.g. an echo)
            return await self.close(CLOSE_INVALID, _TOO_DEEP)
        if self._pending_writes >= MAX_PENDING_WRITES:  # a flood: stop reading until the disk catches up
            self._writes_drained.clear()
            await self._writes_drained.wait()

    # ---- requests ------------------------------------------------------------------------

    async def _listen(self, r, req) -> None:
        path = _path(req)
        qobj = req.get("q") if "t" in req else None
        query = wire.query_from_wire(qobj)
        _check_key_bounds(query)
        if not self.api.access.can_read(self.ns, path, self.auth, query):
            raise PermissionDenied(PERMISSION_DENIED)
        key = (path, _query_id(qobj))
        old = self.listens.pop(key, None)
        if old is not None:
            self.api.registry.remove(old)
            old.close()
        listen = wire.WireListen(self, self.ns, path, query, self.auth, qobj, req.get("t"))
        await self.db.settle(self.ns, path)
        if query is None:
            node = self.db.get(self.ns, path)
            self.push(wire.push_text("d", path, wire.dumps(node)))
        else:
            listen.last_query_json, listen.window = wire.query_result(self.api.indexes, self.ns, path, query)
            self.push(wire.push_text("d", path, listen.last_query_json, listen.tag))
        self.listens[key] = listen  # no await between reading and registering
        self.api.registry.add(listen)
        self.respond(r, "ok", {"w": ["no_index"]} if self._unindexed(path, query) else {})

    async def _unlisten(self, r, req) -> None:
        path = _path(req)
        listen = self.listens.get((path, _query_id(req.get("q") if "t" in req else None)))
        if listen is not None:
            self.drop_listen(listen)
        self.respond(r, "ok")

    def drop_listen(self, listen) -> None:
        key = (listen.path, _query_id(listen.qobj))
        if self.listens.get(key) is listen:
            del self.listens[key]
        self.api.registry.remove(listen)
        listen.close()

    async def _get(self, r, req) -> None:
        path = _path(req)
        query = wire.query_from_wire(req.get("q"))
        _check_key_bounds(query)
        if not self.api.access.can_read(self.ns, path, self.auth, query):
            raise PermissionDenied(PERMISSION_DENIED)
        await self.db.settle(self.ns, path)
        if query is None:
            text = wire.dumps(self.db.get(self.ns, path))
        else:
            text, _ = wire.query_result(self.api.indexes, self.ns, path, query)
        self.push(f'{{"t":"d","d":{{"r":{r},"b":{{"s":"ok","d":{text}}}}}}}')

    async def _put(self, r, req) -> None:
        path = _path(req)
        value = values.normalize(_data(req), len(path))
        h = req.get("h")
        if h is not None and not isinstance(h, str):
            raise BadRequest(f"Invalid hash: {wire.dumps(h)[:80]}. h must be the string hash of a node.")
        self._write(r, "put", path, [(path, value)], h)

    async def _merge(self, r, req) -> None:
        path = _path(req)
        sets = _merge_sets(path, _data(req))
        if not sets:
            return self.respond(r, "ok")
        self._write(r, "patch", path, sets, None)

    def _write(self, r, kind, base, sets, if_hash) -> None:
        try:
            change = self.db.apply(self.ns, kind, base, sets, self.auth, if_hash=if_hash)
        except DataStale as exc:
            self._answer_later(r, self.db.settle(), "datastale", str(exc))  # after the pushes it missed
            return
        self._answer_later(r, asyncio.shield(change.done), "ok", "")

    def _answer_later(self, r, awaitable, status, data) -> None:
        self._pending_writes += 1

        async def answer():
            try:
                await awaitable
                self.respond(r, status, data)
            except StorageUnavailable as exc:
                self.respond(r, "unavailable", str(exc))
            finally:
                self._pending_writes -= 1
                if self._pending_writes < MAX_PENDING_WRITES:
                    self._writes_drained.set()

        asyncio.get_running_loop().create_task(answer())

    async def _on_disconnect(self, r, req, kind) -> None:
        path = _path(req)
        if kind == "put":
            sets = [(path, values.normalize(_data(req), len(path)))]
        else:
            sets = _merge_sets(path, _data(req))
        # Checked when set, as Firebase does; carried out later with the auth the connection has then.
        root, now = self.db.roots.get(self.ns), self.db.clock()
        resolved = [(p, tree.resolve_server_values(root, p, v, now) if isinstance(v, dict) else v) for p, v in _fresh(sets)]
        self.api.access.guard(_DryRun(self.ns, kind, path, resolved, self.auth), root, now)
        if sets:
            self.on_disconnect.append((kind, path, sets, req))
        self.respond(r, "ok")

    async def _on_disconnect_put(self, r, req):
        await self._on_disconnect(r, req, "put")

    async def _on_disconnect_merge(self, r, req):
        await self._on_disconnect(r, req, "patch")

    async def _on_disconnect_cancel(self, r, req) -> None:
        path = _path(req)
        self.on_disconnect = [op for op in self.on_disconnect if op[1][:len(path)] != path]
        self.respond(r, "ok")

    async def _auth(self, r, req) -> None:
        cred = req.get("cred")
        if not isinstance(cred, str) or not cred:
            raise BadRequest("Invalid auth request: cred must be the ID token.")
        if cred == ADMIN_TOKEN:
            auth = self._admin_override(req)
            self._set_auth(auth, None)
            return self.respond(r, "ok", {"auth": None if auth is ADMIN else auth.token})
        if "authvar" in req or req.get("noauth"):
            return self.respond(r, "permission_denied", "Only the admin may set authvar or noauth.")
        try:
            claims = decode_unverified(cred)
        except PermissionDenied as exc:
            return self.respond(r, "invalid_token", str(exc))
        uid = claims.get("user_id") or claims.get("sub")
        if not isinstance(uid, str) or not uid:
            return self.respond(r, "invalid_token", "Could not parse auth token: it has no user id (sub or user_id).")
        exp = _expiry(claims)
        if exp is not None and exp * 1000 <= self.db.clock():
            return self.respond(r, "expired_token", "Auth token is expired.")
        self._set_auth(Auth(kind="user", uid=uid, token=claims), exp)
        self.respond(r, "ok", {"auth": {"uid": uid, "provider": _provider(claims), "token": claims},
                               "expires": exp})

    async def _gauth(self, r, req) -> None:
        if req.get("cred") != ADMIN_TOKEN:
            return self.respond(r, "invalid_token", 'Invalid credential: the emulator accepts "owner" as the admin '
                                                    "credential, or an ID token through auth.")
        await self._auth(r, req)

    async def _unauth(self, r, req) -> None:
        self._set_auth(UNAUTHENTICATED, None)
        self.respond(r, "ok")

    async def _ok(self, r, req) -> None:  # stats, App Check (not enforced by the emulator)
        self.respond(r, "ok")

    async def _echo(self, r, req) -> None:
        self.respond(r, "ok", req.get("d"))

    # ---- auth ----------------------------------------------------------------------------

    def _admin_override(self, req) -> Auth:
        if req.get("noauth"):
            return UNAUTHENTICATED
        authvar = req.get("authvar")
        if authvar is None:
            return ADMIN
        if not isinstance(authvar, dict):
            raise BadRequest(f"Invalid authvar: {wire.dumps(authvar)[:80]}. It must be an object.")
        return Auth(kind="user", uid=authvar.get("uid"), token=authvar)

    def _set_auth(self, auth: Auth, exp) -> None:
        self.auth = auth
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        if isinstance(exp, (int, float)) and not isinstance(exp, bool):
            delay = max(0.0, exp - self.db.clock() / 1000)
            self._expiry = asyncio.get_running_loop().call_later(delay, self._expired, auth)
        for listen in list(self.listens.values()):
            listen.auth, listen.reader = auth, _reader_key(auth, listen.query)
            if not self.api.access.can_read(self.ns, listen.path, auth, listen.query):
                listen.revoke()

    def _expired(self, auth) -> None:
        if self.auth is auth:  # listens it no longer allows are revoked first: `ac` makes the SDK reconnect
            self._set_auth(UNAUTHENTICATED, None)
            self.push(wire.data_message({"a": "ac", "b": {"s": "expired_token", "d": "Auth token is expired."}}))

    def _unindexed(self, path, query) -> bool:
        return query is not None and not self.api.access.indexed(self.ns, path, query.order_by)


_WRITES = {"p", "m", "o", "om"}
_ACTIONS = {
    "q": Connection._listen, "n": Connection._unlisten, "g": Connection._get,
    "p": Connection._put, "m": Connection._merge,
    "o": Connection._on_disconnect_put, "om": Connection._on_disconnect_merge, "oc": Connection._on_disconnect_cancel,
    "auth": Connection._auth, "gauth": Connection._gauth, "unauth": Connection._unauth,
    "s": Connection._ok, "appcheck": Connection._ok, "unappeck": Connection._ok, "echo": Connection._echo,
}


class _DryRun:
    """The shape of a `store.Change` the rules guard reads, for checking an onDisconnect write when it is set."""

    def __init__(self, ns, kind, base, sets, auth):
        self.ns, self.kind, self.base, self.sets, self.auth = ns, kind, base, sets, auth


def _path(req) -> tuple:
    raw = req.get("p", "")
    if not isinstance(raw, str):
        raise BadRequest(f"Invalid path: {wire.dumps(raw)[:80]}. p must be a string.")
    # The SDK sends keys as they are (Path.toString): "a%41" is that key, not a URL-encoded "aA".
    keys = values.split_child_path(raw, "path") if raw.strip("/") else ()
    if len(keys) > values.MAX_DEPTH:
        raise BadRequest(f'Invalid path: "/{"/".join(keys)}". Paths can be at most {values.MAX_DEPTH} keys deep.')
    return keys


def _not_json(constant: str):
    raise ValueError(f"{constant} is not JSON")


def _check_utf8(req) -> None:
    """Refuse a request holding a lone surrogate (from a \\uD800 escape): no UTF-8 form stores or sends it,
    and REST refuses the same body as unparsable."""
    try:
        wire.dumps(req).encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest(values.INVALID_JSON) from None


def _data(req):
    if "d" not in req:
        raise BadRequest("Invalid request: it has no data (d).")
    data = req["d"]
    values._check_numbers(data)
    return data


def _merge_sets(path, data) -> list:
    if not isinstance(data, dict):
        raise BadRequest(f"Invalid data for a merge: {wire.dumps(data)[:80]}. It must be an object.")
    sets = []
    for key, child in data.items():
        target = path + values.split_child_path(key, "update path")
        if len(target) > values.MAX_DEPTH:
            raise BadRequest(f'Invalid update path: "{key}". Paths can be at most {values.MAX_DEPTH} keys deep.')
        sets.append((target, values.normalize(child, len(target))))
    check_no_overlap([p for p, _ in sets])
    return sets


def _fresh(sets) -> list:
    """A copy of normalised sets whose `.sv` placeholders are still unresolved (the store resolves in place)."""
    return [(p, json.loads(json.dumps(v)) if isinstance(v, dict) else v) for p, v in sets]


def _query_id(qobj) -> str:
    return "default" if not qobj else json.dumps(qobj, sort_keys=True, separators=(",", ":"))


def _check_key_bounds(query) -> None:
    if query is not None and query.order_by == ORDER_BY_KEY:
        for bound in (query.start_at, query.start_after, query.end_at, query.end_before, query.equal_to):
            if bound is not None and not isinstance(bound[0], str):
                raise BadRequest(f"Invalid query: {wire.dumps(bound[0])}. When ordering by key, bounds must be strings.")


def _expiry(claims) -> float | None:
    """When a token expires (seconds since the epoch), or None when it never does here.

    The SDKs' mock tokens (connectDatabaseEmulator's `mockUserToken`, rules-unit-testing's contexts)
    are issued at `iat` 0 with `exp` 3600, long past, and Firebase's emulator accepts them: so a token
    expires only when it was issued at a real time (a positive `iat`), as the Auth emulator's are.
    """
    iat, exp = claims.get("iat"), claims.get("exp")
    numbers = all(isinstance(n, (int, float)) and not isinstance(n, bool) for n in (iat, exp))
    return exp if numbers and iat > 0 else None


def _provider(claims) -> str:
    firebase = claims.get("firebase")
    return (firebase.get("sign_in_provider") if isinstance(firebase, dict) else None) or "custom"
