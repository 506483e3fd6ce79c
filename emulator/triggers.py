"""Database triggers: which committed writes produce which CloudEvents, exactly as Eventarc sends them.

A trigger names a path pattern (`tickets/{ticketId}`), an event type and a function URL. At apply
time `EventRecorder` finds every trigger node a write touches, serialises its value before and
after the write, and returns outbox rows that the store commits in the same transaction as the
write itself (so an event is never lost, nor sent for a write that did not happen).
"""

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone

from emulator import tree, values
from emulator.errors import ConfigError

EVENT_PREFIX = "google.firebase.database.ref.v1."
EVENT_KINDS = ("written", "created", "updated", "deleted")
DATA_TYPE = "type.googleapis.com/google.events.firebase.database.v1.ReferenceEventData"
LOCATION = "us-central1"
_WILDCARD = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*)\}$")


@dataclass
class Trigger:
    """One function subscribed to database events."""

    name: str
    pattern: tuple[str, ...]
    event_type: str
    url: str
    instance: str | None = None  # None: every namespace
    max_attempts: int = 10
    min_backoff_s: float = 1.0
    max_backoff_s: float = 60.0
    timeout_s: float = 60.0
    _wild: list = field(default_factory=list, repr=False)

    def __post_init__(self):
        self._wild = [bool(_WILDCARD.match(seg)) for seg in self.pattern]

    def matches(self, node_path: tuple[str, ...]) -> bool:
        return len(node_path) == len(self.pattern) and all(
            wild or seg == key for seg, key, wild in zip(self.pattern, node_path, self._wild))

    def params(self, node_path: tuple[str, ...]) -> dict:
        return {_WILDCARD.match(seg).group(1): key for seg, key, wild in zip(self.pattern, node_path, self._wild) if wild}


def parse_triggers(doc, where: str) -> list[Trigger]:
    """Build triggers from a `{"triggers": [...]}` document.

    Each entry: `name`, `ref` (path pattern, `{wildcards}` allowed), `event_type` (one of
    written/created/updated/deleted, bare or with the `google.firebase.database.ref.v1.` prefix),
    `url`, optional `instance`, `max_attempts`, `min_backoff_s`, `max_backoff_s`, `timeout_s`.

    Raises:
      ConfigError: naming the entry and the rule it breaks.
    """
    if not isinstance(doc, dict) or not isinstance(doc.get("triggers"), list):
        raise ConfigError(f'Invalid triggers in {where}: expected {{"triggers": [...]}}.')
    out = []
    for i, entry in enumerate(doc["triggers"]):
        label = f'Invalid trigger #{i + 1} in {where}'
        if not isinstance(entry, dict):
            raise ConfigError(f"{label}: expected an object, found {json.dumps(entry)}.")
        missing = [k for k in ("name", "ref", "event_type", "url") if not isinstance(entry.get(k), str)]
        if missing:
            raise ConfigError(f"{label}: {', '.join(missing)} must be given as strings.")
        kind = entry["event_type"].removeprefix(EVENT_PREFIX)
        if kind not in EVENT_KINDS:
            raise ConfigError(f'{label}: event_type "{entry["event_type"]}". It must be one of {", ".join(EVENT_KINDS)}.')
        pattern = tuple(p for p in entry["ref"].split("/") if p)
        if not pattern or not all(_WILDCARD.match(p) or values.is_valid_key(p) for p in pattern):
            raise ConfigError(f'{label}: ref "{entry["ref"]}". Use keys and {{wildcards}} separated by "/".')
        if not entry["url"].startswith(("http://", "https://")):
            raise ConfigError(f'{label}: url "{entry["url"]}". It must be an http(s) URL.')
        try:
            numbers = {k: float(entry[k]) for k in ("max_attempts", "min_backoff_s", "max_backoff_s", "timeout_s") if k in entry}
        except (TypeError, ValueError):
            raise ConfigError(f"{label}: max_attempts, min_backoff_s, max_backoff_s and timeout_s must be numbers.") from None
        if "max_attempts" in numbers:
            numbers["max_attempts"] = int(numbers["max_attempts"])
            if numbers["max_attempts"] < 1:
                raise ConfigError(f"{label}: max_attempts must be at least 1.")
        out.append(Trigger(entry["name"], pattern, EVENT_PREFIX + kind, entry["url"], entry.get("instance"), **numbers))
    return out


def delta(before, after):
    """The change from `before` to `after` (rendered JSON): merging it into `before` gives `after`.

    Removed keys are explicit nulls, as Eventarc sends them.
    """
    if after is None:
        return None
    if not isinstance(before, dict) or not isinstance(after, dict):
        return after
    out = {}
    for key, value in after.items():
        if key not in before:
            out[key] = value
        elif before[key] != value:
            out[key] = delta(before[key], value)
    for key in before:
        if key not in after:
            out[key] = None
    return out


def _as_object(value):
    # Eventarc sends objects; an array-shaped node travels with its integer keys.
    if isinstance(value, list):
        return {str(i): v for i, v in enumerate(value) if v is not None}
    return value


class EventRecorder:
    """The store's write hook: outbox rows for every trigger a write fires.

    Args:
      triggers: the list to consult (shared and replaceable at runtime).
      next_id: fn() -> unique outbox row id.
    """

    def __init__(self, triggers: list[Trigger], next_id):
        self.triggers = triggers
        self._next_id = next_id

    def __call__(self, change, root_before):
        """Called before the write is applied; returns fn(root_after) -> outbox rows, or None."""
        hits = []
        for trig in self.triggers:
            if trig.instance is not None and trig.instance != change.ns:
                continue
            nodes = set()
            for path, value in change.sets:
                nodes.update(_touched_nodes(trig, path, root_before, value))
            for node in sorted(nodes):
                before = values.render(tree.get(root_before, node))
                hits.append((trig, node, before))
        if not hits:
            return None

        def finish(root_after):
            rows = []
            for trig, node, before in hits:
                after = values.render(tree.get(root_after, node))
                if before == after or not _fires(trig.event_type, before, after):
                    continue
                event = self._event(trig, change, node, before, after)
                rows.append((self._next_id(), trig.name, f"{trig.name}:{change.ns}:{'/'.join(node)}", values.dumps(event)))
            return rows

        return finish

    def _event(self, trig, change, node, before, after):
        ref = "/".join(node)
        auth = change.auth
        authtype = {"admin": "admin", "user": "app_user"}.get(auth.kind, "unauthenticated")
        attrs = {
            "id": uuid.uuid4().hex,
            "source": f"//firebasedatabase.googleapis.com/projects/_/locations/{LOCATION}/instances/{change.ns}",
            "type": trig.event_type,
            "specversion": "1.0",
            "subject": f"refs/{ref}",
            "time": datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z"),
            "datacontenttype": "application/json",
            "instance": change.ns,
            "ref": ref,
            "firebasedatabasehost": "firebaseio.com",
            "location": LOCATION,
            "authtype": authtype,
        }
        if auth.uid:
            attrs["authid"] = auth.uid
        before_obj, after_obj = _as_object(before), _as_object(after)
        data = {"@type": DATA_TYPE, "data": before_obj, "delta": delta(before_obj, after_obj)}
        return {"attributes": attrs, "data": data, "params": trig.params(node)}


def _fires(event_type: str, before, after) -> bool:
    kind = event_type.removeprefix(EVENT_PREFIX)
    if kind == "created":
        return before is None and after is not None
    if kind == "deleted":
        return before is not None and after is None
    if kind == "updated":
        return before is not None and after is not None
    return True


def _touched_nodes(trig: Trigger, path: tuple[str, ...], root_before, value):
    """Trigger nodes a set at `path` can change: the one above it, or every one below it."""
    n = len(trig.pattern)
    if len(path) >= n:
        node = path[:n]
        return [node] if trig.matches(node) else []
    if not all(w or seg == key for seg, key, w in zip(trig.pattern, path, trig._wild)):
        return []
    found = []
    for source in (tree.get(root_before, path), value):
        _collect(trig, path, source, found)
    return found


def _collect(trig, prefix, node, found):
    depth = len(prefix)
    if depth == len(trig.pattern):
        if node is not None and trig.matches(prefix):
            found.append(prefix)
        return
    seg, wild = trig.pattern[depth], trig._wild[depth]
    kids = values.children(node)
    for key in (kids if wild else ([seg] if seg in kids else [])):
        _collect(trig, prefix + (key,), kids[key], found)
