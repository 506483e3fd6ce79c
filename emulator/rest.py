"""The Realtime Database REST API on aiohttp: `/<path>.json` reads, writes and streams.

Requests are parsed and validated here, handed to the store as a list of sets, and errors from
any layer are turned into Firebase's `{"error": ...}` bodies in one place (`_error_response`).
"""

import asyncio
import json
import logging
import re

from aiohttp import HttpVersion11, web

from emulator import query as queries
from emulator import values
from emulator.access import Access
from emulator.auth import identify, require_admin
from emulator.errors import BadRequest, EmulatorError, NotFound, PreconditionFailed
from emulator.index import Indexes
from emulator.pushid import PushIdGenerator
from emulator.store import Database, check_no_overlap, etag_of
from emulator.stream import KEEP_ALIVE, Listener, Registry, frame

JSON_TYPE = "application/json; charset=utf-8"
MAX_WRITE_BYTES = 32 * 1024 * 1024
WRITE_TOO_BIG = "Data to write exceeds the maximum size that can be modified with a single request."
_NAMESPACE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_PRINT_VALUES = {"pretty", "silent"}
_FORMAT_VALUES = {"export"}
_WRITE_SIZE_LIMITS = {"tiny", "small", "medium", "large", "unlimited"}
_OVERRIDABLE = {"PUT", "PATCH", "DELETE", "GET"}
_SETTINGS_RULES = "/.settings/rules.json"
CORS_HEADERS = {"Access-Control-Allow-Origin": "*"}
_log = logging.getLogger(__name__)


class RestApi:
    """Request handlers bound to one Database and stream Registry.

    Args:
      db: the store.
      registry: open streams.
      default_ns: namespace for requests without `?ns=`.
      keep_alive_s: seconds between keep-alive events on idle streams.
    """

    def __init__(self, db: Database, registry: Registry, default_ns: str, keep_alive_s: float = 30.0):
        self.db, self.registry, self.default_ns = db, registry, default_ns
        self.keep_alive_s = keep_alive_s
        self.push_ids = PushIdGenerator(db.clock)
        self.access = Access(db, DEFAULT_RULES)
        self.indexes = Indexes(db, self.access.indexed)
        db.guards.append(self.access.guard)
        registry.can_read = lambda l: self.access.can_read(l.ns, l.path, l.auth, l.query)
        # Admin-only endpoints under /.settings/ added by the server: raw path -> fn(request, method).
        self.settings_handlers: dict = {}
        # Open endpoints under /.inspect/ (the rules coverage report): raw path -> fn(request, method, ns).
        self.inspect_handlers: dict = {}

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Entry point for every request on the database port."""
        try:
            if request.method == "OPTIONS":
                return _preflight(request)
            method = _effective_method(request)
            raw_path = request.rel_url.raw_path
            ns = self._namespace(request)
            if raw_path == _SETTINGS_RULES:
                return await self._rules(request, method, ns)
            if raw_path in self.inspect_handlers:
                return await self.inspect_handlers[raw_path](request, method, ns)
            if raw_path in self.settings_handlers:
                require_admin(request)
                return await self.settings_handlers[raw_path](request, method)
            if not raw_path.endswith(".json"):
                raise NotFound(f'Not found: "{raw_path}". Database URLs end in .json, e.g. /tickets.json.')
            path = values.parse_path(raw_path[: -len(".json")])
            opts = _options(request)
            identify(request)
            if method == "GET":
                if "text/event-stream" in request.headers.get("Accept", ""):
                    return await self._stream(request, ns, path, opts)
                return await self._get(request, ns, path, opts)
            if method in ("PUT", "POST", "PATCH", "DELETE"):
                return await self._write(request, method, ns, path, opts)
            raise BadRequest(f'Invalid method: "{method}". Use GET, PUT, POST, PATCH or DELETE.')
        except EmulatorError as exc:
            return _error_response(exc)
        except (ConnectionResetError, asyncio.CancelledError):
            raise
        except Exception as exc:  # a bug of ours: log it, and answer as Firebase does for real faults
            _log.exception("internal error on %s %s", request.method, request.rel_url)
            error = EmulatorError(f"Internal error: {type(exc).__name__}. See the emulator's log.")
            return _error_response(error)

    def _namespace(self, request: web.Request) -> str:
        return check_namespace(request.query.get("ns", self.default_ns))

    # ---- reads -------------------------------------------------------------------------

    async def _read(self, ns, path, render):
        """Render the value at `path` once everything it may contain is durable."""
        while True:
            seq = self.db._seq
            text = render(ns, path)
            await self.db.settle(ns, path)
            if self.db._seq >= seq:
                return text

    def _renderer(self, opts, query):
        """fn(ns, path) -> (JSON text of what the request reads, its ETag or None)."""
        export = opts["format"] == "export"

        def render(ns, path):
            node = self.db.get(ns, path)
            if opts["shallow"]:
                kids = values.children(node)
                shallow = {k: True if isinstance(v, dict) and values.strip_priority(v) is v else values.strip_priority(v)
                           for k, v in kids.items()} if kids else values.strip_priority(node)
                return values.dumps(shallow, opts["pretty"]), None
            if query is not None:
                # A query selects among an object's children (never its .priority, nor a leaf's .value),
                # through an ordered index where there is one (emulator/index.py).
                picked, _ = self.indexes.select(ns, path, query)
                rendered = {k: values.render(v, export) for k, v in picked.items()} if picked is not None else None
                return values.dumps(rendered, opts["pretty"]), None
            return values.dumps(values.render(node, export), opts["pretty"]), etag_of(node)

        return render

    async def _get(self, request, ns, path, opts):
        query = _parse_query(request.query)
        if query is not None and opts["shallow"]:
            raise BadRequest("Mixing 'shallow' and querying parameters is not supported")
        self.access.check_read(ns, path, identify(request), query)
        text, etag = await self._read(ns, path, self._renderer(opts, query))
        headers = dict(CORS_HEADERS)
        if etag is not None and (request.headers.get("X-Firebase-ETag", "").lower() == "true" or "if-none-match" in request.headers):
            headers["ETag"] = etag
            if request.headers.get("if-none-match") == etag:
                return web.Response(status=304, headers=headers)
        if opts["silent"]:
            return web.Response(status=204, headers=headers)
        return web.Response(text=text, content_type="application/json", charset="utf-8", headers=headers)

    async def _stream(self, request, ns, path, opts):
        query = _parse_query(request.query)
        auth = identify(request)
        self.access.check_read(ns, path, auth, query)  # refused before the stream opens: a 401
        render = self._renderer({**opts, "pretty": False}, query)
        listener = Listener(ns, path, query, auth)
        resp = web.StreamResponse(headers={**CORS_HEADERS, "Content-Type": "text/event-stream; charset=utf-8",
                                           "Cache-Control": "no-cache", "Connection": "keep-alive"})
        await resp.prepare(request)
        await self.db.settle(ns, path)
        if query is None:  # no await between reading and registering
            initial, _ = render(ns, path)
        else:
            picked, listener.window = self.indexes.select(ns, path, query)
            initial = listener.encode_result(picked)
        listener.last_query_json = initial
        self.registry.add(listener)
        try:
            await resp.write(frame("put", (), initial))  # sends the headers too
            listener.attach(request.transport, chunked=request.version >= HttpVersion11)
            while not listener.closed:
                try:
                    await asyncio.wait_for(listener.done.wait(), self.keep_alive_s)
                except asyncio.TimeoutError:
                    listener.send(KEEP_ALIVE)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.registry.remove(listener)
        return resp

    # ---- writes ------------------------------------------------------------------------

    async def _write(self, request, method, ns, path, opts):
        body = await _read_body(request) if method != "DELETE" else b""
        if_match = request.headers.get("if-match")
        response_value = None
        if method == "DELETE":
            kind, base, sets = "put", path, [(path, None)]
        else:
            value = values.parse_body(body)
            if method == "PATCH":
                kind, base, sets = "patch", path, _patch_sets(path, value, body)
            elif method == "POST":
                child = self.push_ids.next_id()
                kind, base = "put", path + (child,)
                if len(base) > values.MAX_DEPTH:
                    raise BadRequest(f'Invalid path: "{values.path_str(path)}". A pushed child would be '
                                     f"{len(base)} keys deep; paths can be at most {values.MAX_DEPTH}.")
                sets = [(base, values.normalize(value, len(base), body))]
                response_value = {"name": child}
            else:
                kind, base, sets = "put", path, [(path, values.normalize(value, len(path), body))]
        if kind == "patch" and not sets:
            change = None
        else:
            auth = identify(request)
            try:
                change = await self.db.write(ns, kind, base, sets, auth, if_match=if_match)
            except PreconditionFailed as exc:
                if not self.access.can_read(ns, base, auth):
                    # Allowed to write but not to read: the ETag says "changed", the body stays private.
                    raise PreconditionFailed(exc.etag, values.dumps({"error": _UNREADABLE_PRECONDITION})) from None
                raise
        headers = dict(CORS_HEADERS)
        if if_match is not None or request.headers.get("X-Firebase-ETag", "").lower() == "true":
            headers["ETag"] = etag_of(self.db.get(ns, base))
        if opts["silent"]:
            return web.Response(status=204, headers=headers)
        if response_value is None:
            response_value = _echo(method, change, path)
        return web.Response(text=values.dumps(response_value, opts["pretty"]), content_type="application/json",
                            charset="utf-8", headers=headers)

    # ---- admin -------------------------------------------------------------------------

    async def _rules(self, request, method, ns):
        require_admin(request)
        if method == "GET":
            source = self.db.rules.get(ns, DEFAULT_RULES)
            if request.query.get("format") == "strict":
                source = values.dumps(json.loads(strip_comments(source)), pretty=True)
            return web.Response(body=_utf8(source), content_type="application/json", charset="utf-8",
                                headers=CORS_HEADERS)
        if method == "PUT":
            body = await _read_body(request)
            try:
                source = body.decode("utf-8")
            except UnicodeDecodeError:
                raise BadRequest("Invalid rules: the document is not UTF-8 text.") from None
            await self.set_rules(ns, source)
            return web.json_response({"status": "ok"}, headers=CORS_HEADERS)
        raise BadRequest(f'Invalid method: "{method}" on {_SETTINGS_RULES}. Use GET or PUT.')

    async def set_rules(self, ns: str, source: str) -> None:
        """Validate, store and apply a rules document; open streams are re-checked against it.

        Raises:
          BadRequest: the document is invalid (the message names the line and column).
        """
        self.access.compile(source)
        await self.db.set_rules(ns, source)
        self.registry.recheck_all()


_UNREADABLE_PRECONDITION = ("ETag mismatch: the value at this location changed. "
                            "Its current value is not shown: the rules do not let you read it.")

# With no rules file, Firebase's database emulator allows every read and write; so does this one.
DEFAULT_RULES = '{\n  "rules": {\n    ".read": true,\n    ".write": true\n  }\n}\n'


def check_namespace(ns: str) -> str:
    """`ns` if it is a valid database name. Raises BadRequest naming it."""
    if not _NAMESPACE.match(ns):
        raise BadRequest(f'Invalid namespace: "{ns}". Namespaces are lowercase letters, digits and hyphens.')
    return ns


def strip_comments(source: str) -> str:
    """Remove // and /* */ comments outside strings (rules files may carry them)."""
    out, i, n = [], 0, len(source)
    while i < n:
        ch = source[i]
        if ch == '"':
            j = i + 1
            while j < n and source[j] != '"':
                j += 2 if source[j] == "\\" else 1
            out.append(source[i:j + 1])
            i = j + 1
        elif source.startswith("//", i):
            i = source.find("\n", i)
            i = n if i < 0 else i
        elif source.startswith("/*", i):
            end = source.find("*/", i + 2)
            i = n if end < 0 else end + 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _parse_query(params):
    try:
        return queries.parse_query(params)
    except queries.QueryError as exc:
        raise BadRequest(str(exc)) from exc


def _patch_sets(path, value, body):
    if not isinstance(value, dict):
        raise BadRequest(f"Invalid data for PATCH: {values.dumps(value)[:80]}. The body of a PATCH must be a JSON object.")
    sets = []
    for key, child in value.items():
        rel = values.split_child_path(key, "update path")
        target = path + rel
        if len(target) > values.MAX_DEPTH:
            raise BadRequest(f'Invalid update path: "{key}". Paths can be at most {values.MAX_DEPTH} keys deep.')
        sets.append((target, values.normalize(child, len(target), body)))
    check_no_overlap([p for p, _ in sets])
    return sets


def _echo(method, change, path):
    if method == "DELETE" or change is None:
        return None if method == "DELETE" else {}
    if change.kind == "patch":
        return {"/".join(p[len(path):]): json.loads(r) for (p, _), r in zip(change.sets, change.rendered)}
    return json.loads(change.rendered[0])


async def _read_body(request: web.Request) -> bytes:
    if request.content_length is not None and request.content_length > MAX_WRITE_BYTES:
        raise BadRequest(WRITE_TOO_BIG)
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(1 << 16):
        size += len(chunk)
        if size > MAX_WRITE_BYTES:
            raise BadRequest(WRITE_TOO_BIG)
        chunks.append(chunk)
    return b"".join(chunks)


def _options(request: web.Request) -> dict:
    q = request.query
    printing = q.get("print")
    if printing is not None and printing not in _PRINT_VALUES:
        raise BadRequest(f'Invalid print: "{printing}". Use print=pretty or print=silent.')
    fmt = q.get("format")
    if fmt is not None and fmt not in _FORMAT_VALUES:
        raise BadRequest(f'Invalid format: "{fmt}". Only format=export is supported.')
    shallow = q.get("shallow", "false")
    if shallow not in ("true", "false"):
        raise BadRequest(f'Invalid shallow: "{shallow}". Use shallow=true or shallow=false.')
    limit = q.get("writeSizeLimit")
    if limit is not None and limit not in _WRITE_SIZE_LIMITS:
        raise BadRequest(f'Invalid writeSizeLimit: "{limit}". Use one of tiny, small, medium, large, unlimited.')
    return {"pretty": printing == "pretty", "silent": printing == "silent", "format": fmt,
            "shallow": shallow == "true"}


def _effective_method(request: web.Request) -> str:
    override = request.headers.get("X-HTTP-Method-Override") or request.query.get("x-http-method-override")
    if override and request.method == "POST":
        override = override.upper()
        if override not in _OVERRIDABLE:
            raise BadRequest(f'Invalid X-HTTP-Method-Override: "{override}". Use PUT, PATCH, DELETE or GET.')
        return override
    return request.method


def _preflight(request: web.Request) -> web.Response:
    headers = {
        **CORS_HEADERS,
        "Access-Control-Allow-Methods": "GET, PUT, POST, PATCH, DELETE, OPTIONS",
        "Access-Control-Allow-Headers": request.headers.get("Access-Control-Request-Headers", "Content-Type"),
        "Access-Control-Max-Age": "3600",
    }
    return web.Response(status=200, headers=headers)


def _error_response(exc: EmulatorError) -> web.Response:
    headers = dict(CORS_HEADERS)
    if isinstance(exc, PreconditionFailed):
        headers["ETag"] = exc.etag
        return web.Response(status=412, text=exc.value_json, content_type="application/json", charset="utf-8",
                            headers=headers)
    body = values.dumps({"error": str(exc)}, pretty=True) + "\n"
    return web.Response(status=exc.status, body=_utf8(body), content_type="application/json", charset="utf-8",
                        headers=headers)


def _utf8(text: str) -> bytes:
    """JSON text as UTF-8; a lone surrogate (quoted from a "\\uD800" escape) stays the JSON escape it came from."""
    return text.encode("utf-8", "backslashreplace")
