"""Server-sent event streams: who listens where, and the events each committed write produces.

Fan-out runs once per committed change and costs one comparison per distinct listened path;
frames are built (and chunk-framed) once per location and shared by every listener there, then
written to each connection without waking a coroutine, so hundreds of listeners do not slow
writes down.
"""

import asyncio
import json

from emulator import index, values
from emulator.store import Change

MAX_BUFFERED_BYTES = 8 * 1024 * 1024
KEEP_ALIVE = b"event: keep-alive\ndata: null\n\n"
CANCEL = b"event: cancel\ndata: null\n\n"


def frame(event: str, rel_path: tuple[str, ...], data_json: str) -> bytes:
    """One SSE frame: `event: <event>` and a `{"path", "data"}` payload (data already JSON)."""
    path = json.dumps(values.path_str(rel_path), ensure_ascii=False)
    return f'event: {event}\ndata: {{"path":{path},"data":{data_json}}}\n\n'.encode()


def chunk(data: bytes) -> bytes:
    """`data` framed as one HTTP/1.1 chunk."""
    return b"%x\r\n%s\r\n" % (len(data), data)


class Listener:
    """One open stream at a location of a namespace.

    Frames are written straight to the connection's transport, so fan-out costs one
    non-blocking `write` per listener and wakes no coroutine. A client that stops reading lets
    the transport's buffer grow past MAX_BUFFERED_BYTES; it is then disconnected (it reconnects
    and gets a fresh `put`) rather than holding memory or slowing anyone else.
    """

    def __init__(self, ns: str, path: tuple[str, ...], query=None, auth=None):
        self.ns, self.path, self.query, self.auth = ns, path, query, auth
        self.reader = _reader_key(auth, query)
        self.closed = False
        self.done = asyncio.Event()
        self.last_query_json: str | None = None
        self.window = None  # index.Window of the last query result sent, None: unknown
        self._transport = None
        self._chunked = True
        self._backlog: list[bytes] = []

    def attach(self, transport, chunked: bool) -> None:
        """Start writing to `transport` (after the response headers went out)."""
        self._transport, self._chunked = transport, chunked
        backlog, self._backlog = self._backlog, []
        for data in backlog:
            self.send(data)

    def send(self, data: bytes, chunked: bytes | None = None) -> None:
        """Write one or more frames; `chunked` is the same bytes already chunk-framed."""
        if self.closed:
            return
        transport = self._transport
        if transport is None:
            self._backlog.append(data)
            return
        if transport.is_closing():
            self.close()
            return
        if transport.get_write_buffer_size() > MAX_BUFFERED_BYTES:
            transport.abort()  # a stalled reader: drop it, its client reconnects
            self.close()
            return
        transport.write((chunked or chunk(data)) if self._chunked else data)

    def close(self) -> None:
        """End the stream (shutdown, lost read access, or a stalled reader)."""
        if not self.closed:
            self.closed = True
            self.done.set()

    # ---- what the Registry calls; the WebSocket's listens (emulator/wire.py) override these ----

    @staticmethod
    def payload_for(change: Change, lpath: tuple):
        """What every listener of this class at `lpath` is sent for `change` (built once), or None."""
        data = Registry._frames_for(change, lpath)
        return (data, chunk(data)) if data else None

    def deliver(self, payload) -> None:
        self.send(*payload)

    @staticmethod
    def encode_result(picked) -> str:
        """JSON of a query result (children as `index.Indexes.select` picks them) as this kind of listener sends it."""
        return values.dumps({k: values.render(v) for k, v in picked.items()} if picked is not None else None)

    @staticmethod
    def encode_child(node) -> str:
        return values.dumps(values.render(node))

    def send_query_result(self, data_json: str) -> None:
        """Send the whole new result of this listener's query."""
        self.send(frame("put", (), data_json))

    def send_query_child(self, name: str, data_json: str) -> None:
        """Send one child of the result that changed, entered it, or left it (data `null`)."""
        self.send(frame("put", (name,), data_json))

    def send_query_children(self, changes: dict) -> None:
        """Send several children of the result at once ({name: JSON, "null" for one that left}) as one patch."""
        self.send(frame("patch", (), _json_object(changes)))

    def revoke(self) -> None:
        """The rules no longer let this listener read its location."""
        self.send(CANCEL)
        self.close()


class Registry:
    """Listeners by namespace and path; `on_commit` is the store's commit hook.

    Args:
      select_query: fn(listener) -> (the children its query picks, or None; their index.Window).
      can_read: fn(listener) -> bool, re-checked after changes near a listener; False sends `cancel`.
    """

    def __init__(self, select_query=None, can_read=None, node_at=None):
        self._by_ns: dict[str, dict[tuple, set[Listener]]] = {}
        self.select_query = select_query
        # fn(ns, path) -> stored node: lets a query listener's window be compared with what a change wrote.
        self.node_at = node_at
        # fn(listener) -> bool: may it still read its location? None: everyone may (no rules).
        self.can_read = can_read

    def __len__(self) -> int:
        return sum(len(s) for paths in self._by_ns.values() for s in paths.values())

    def add(self, listener: Listener) -> None:
        self._by_ns.setdefault(listener.ns, {}).setdefault(listener.path, set()).add(listener)

    def remove(self, listener: Listener) -> None:
        paths = self._by_ns.get(listener.ns, {})
        group = paths.get(listener.path)
        if group is not None:
            group.discard(listener)
            if not group:
                del paths[listener.path]

    def close_all(self) -> None:
        for paths in self._by_ns.values():
            for group in paths.values():
                for listener in list(group):
                    listener.close()

    def listeners(self):
        for paths in self._by_ns.values():
            for group in paths.values():
                yield from group

    def on_commit(self, change: Change) -> None:
        paths = self._by_ns.get(change.ns)
        if not paths:
            return
        top = change.base if change.kind == "patch" else change.sets[0][0]
        for lpath, group in list(paths.items()):
            if lpath[: len(top)] == top or top[: len(lpath)] == lpath:
                payloads: dict = {}  # built once per listener class (SSE, WebSocket) at this path
                results: dict = {}  # one query result per query at this path
                verdicts: dict = {}  # one read-rule evaluation per distinct reader at this path
                touched = None  # the children of lpath the change wrote: [(name, new stored child)]
                for listener in list(group):
                    if listener.query is None:
                        kind = type(listener)
                        if kind not in payloads:
                            payloads[kind] = kind.payload_for(change, lpath)
                        if payloads[kind] is not None:
                            listener.deliver(payloads[kind])
                    else:
                        if touched is None:
                            touched = self._touched(change, lpath)
                        self._refresh_query(listener, results, touched)
                    self._recheck(listener, verdicts)

    def recheck_all(self) -> None:
        """Re-check every listener's read access (after the rules changed)."""
        for listener in list(self.listeners()):
            self._recheck(listener)

    def _recheck(self, listener: Listener, verdicts: dict | None = None) -> None:
        """Cancel `listener` if it may no longer read its location.

        `verdicts` caches the answer by reader (same auth and query) for listeners at one path
        in one commit: the rules see the same data, path, auth and query, so they answer the same.
        """
        if self.can_read is None or listener.closed:
            return
        key = listener.reader
        if verdicts is None or key is None:
            allowed = self.can_read(listener)
        elif key in verdicts:
            allowed = verdicts[key]
        else:
            allowed = verdicts[key] = self.can_read(listener)
        if not allowed:
            listener.revoke()

    def _touched(self, change: Change, lpath: tuple):
        """[(child name, its new stored value)] written below `lpath`, or False when the change wrote at or above it."""
        n, names = len(lpath), {}
        for path, _ in change.sets:
            if len(path) <= n:
                return False
            names[path[n]] = None
        if self.node_at is None:
            return False
        return [(name, self.node_at(change.ns, lpath + (name,))) for name in names]

    def _refresh_query(self, listener: Listener, results: dict, touched=False) -> None:
        """Send a query listener what changed in its result, unless the change cannot have touched its window.

        When the change wrote below the listened location and the last window is known, only the children
        that left the result (as `null`), entered it, or were written are sent, each at its own path, as
        for a plain stream; otherwise the whole result, if it differs from the last one sent. A query without a
        limit has as its result every child within its bounds, so that is decided from the written children
        alone, whatever the size of the result (the queue's open tickets, a page's every ticket since a key); a
        limit query selects its window again (a page: its limit's worth of children).
        """
        old = listener.window
        query = listener.query
        if touched and old is not None and not any(index.touches(query, old, name, child) for name, child in touched):
            return
        if touched and old is not None and index.unlimited(query):
            changes = {}
            for name, child in touched:
                if index.inside(query, name, child):
                    old.names.add(name)
                    changes[name] = listener.encode_child(child)
                elif name in old.names:
                    old.names.discard(name)
                    changes[name] = "null"
            self._send_children(listener, changes)
            return
        if query not in results:
            results[query] = self.select_query(listener)
        picked, window = results[query]
        if window is not None:  # the listener's own copy: a query without a limit changes it in place
            window = index.Window(set(window.names), window.first, window.last, window.full)
        listener.window = window
        if touched and old is not None and window is not None:
            written = {name for name, _ in touched}
            changes = {name: "null" for name in old.names - window.names}
            for name in window.names - old.names | (written & old.names & window.names):
                changes[name] = listener.encode_child(picked[name])
            self._send_children(listener, changes)
            return
        data = listener.encode_result(picked)
        if data != listener.last_query_json:
            listener.last_query_json = data
            listener.send_query_result(data)

    @staticmethod
    def _send_children(listener: Listener, changes: dict) -> None:
        """Send a query listener the children that changed in its result ({name: JSON text, "null" if it left})."""
        if len(changes) == 1:
            listener.send_query_child(*changes.popitem())
        elif changes:  # one change moved several children: one event, as a multi-path update makes one
            listener.send_query_children(changes)
        listener.last_query_json = None  # not kept up to date child by child: the next full result is sent

    @staticmethod
    def _frames_for(change: Change, lpath: tuple) -> bytes:
        n = len(lpath)
        if change.kind == "patch" and change.base[:n] == lpath:
            rel = change.base[n:]
            items = ",".join(
                f"{json.dumps('/'.join(p[len(change.base):]), ensure_ascii=False)}:{r}"
                for (p, _), r in zip(change.sets, change.rendered)
            )
            return frame("patch", rel, "{" + items + "}")
        out, below = [], []
        for (path, _), rendered in zip(change.sets, change.rendered):
            if path[:n] == lpath:  # written at or below the listener
                if change.kind == "patch" and len(path) > n:
                    below.append(f"{json.dumps('/'.join(path[n:]), ensure_ascii=False)}:{rendered}")
                else:
                    out.append(frame("put", path[n:], rendered))
            elif lpath[: len(path)] == path:  # written above the listener: send its new value
                sub = _navigate(json.loads(rendered), lpath[len(path):])
                out.append(frame("put", (), values.dumps(sub)))
        if below:
            out.append(frame("patch", (), "{" + ",".join(below) + "}"))
        return b"".join(out)


def _json_object(items: dict) -> str:
    """A JSON object from keys and values that are already JSON text."""
    return "{" + ",".join(f"{json.dumps(k, ensure_ascii=False)}:{v}" for k, v in items.items()) + "}"


def _reader_key(auth, query):
    """Who reads, as a hashable key (kind, uid, claims, query), or None when it cannot be one."""
    try:
        claims = json.dumps(getattr(auth, "token", None), sort_keys=True, default=repr)
        key = (getattr(auth, "kind", None), getattr(auth, "uid", None), claims, query)
        hash(key)
        return key
    except (TypeError, ValueError):
        return None


def _navigate(value, rel: tuple[str, ...]):
    for key in rel:
        if isinstance(value, dict):
            value = value.get(key)
        elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
            value = value[int(key)]
        else:
            return None
    return value
