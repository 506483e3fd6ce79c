"""A small reference model of one Realtime Database namespace, written from RTDB.md, not from the emulator.

The tree is kept in Firebase's export form: an object is a dict of children (plus `.priority`), a
leaf is a JSON primitive, or `{".value": v, ".priority": p}` when it has a priority. Every write
builds a new tree (nothing is mutated), so "an invalid request changes nothing" holds by
construction: `Invalid` is raised before anything is replaced.

Rules encoded here (RTDB.md, "Values" and "Methods"):
- keys are non-empty, at most 768 UTF-8 bytes, without `. $ # [ ] /` or ASCII control characters;
- at most 32 keys deep; the emulator reads that as "no object or array at depth 32 or below", even
  one that would delete or resolve to a leaf, and the model does the same (Firebase is silent on it);
- strings at most 10 MB; numbers are finite doubles (integers past 2**53 round);
- null and {} delete, and a parent left without children vanishes;
- arrays are stored as objects keyed "0", "1", ... and rendered back as arrays when every key is a
  canonical non-negative integer and the largest is below twice the count;
- `{".sv": "timestamp"}` and `{".sv": {"increment": n}}` resolve against the tree before the write;
- a multi-path PATCH is applied all at once, and refused whole if any part is invalid or two paths overlap.
"""

from __future__ import annotations

import json
import math
import re
import sys
from dataclasses import dataclass

MAX_DEPTH = 32
MAX_KEY_BYTES = 768
MAX_STRING_BYTES = 10 * 1024 * 1024
MAX_SAFE_INT = 2**53
PRIORITY, VALUE, SV = ".priority", ".value", ".sv"
_FORBIDDEN = frozenset(".$#[]/" + "".join(map(chr, range(0x20))) + "\x7f")
_ARRAY_INDEX = re.compile(r"0|[1-9][0-9]*")
PUSH_ID = re.compile(r"[-0-9A-Z_a-z]{20}")


class Invalid(Exception):
    """The request must be refused (a 4xx) and leave the tree as it was."""


@dataclass(frozen=True)
class Stamp:
    """A server timestamp not yet observed: some number of ms in [low, high]."""

    low: int
    high: int


@dataclass(frozen=True)
class ServerValue:
    """An unresolved `.sv` placeholder: "timestamp", or ("increment", n)."""

    spec: object


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def valid_key(key: str) -> bool:
    """A storable key (RTDB.md, Values)."""
    if not key or any(ch in _FORBIDDEN for ch in key):
        return False
    try:
        return len(key.encode("utf-8")) <= MAX_KEY_BYTES
    except UnicodeEncodeError:
        return False


def as_double(value):
    """A number as a double holds it, integral values written without a fraction."""
    if isinstance(value, int):
        return float(value) if abs(value) > MAX_SAFE_INT else value
    return int(value) if value.is_integer() and abs(value) < MAX_SAFE_INT else value


# ---- parsing and normalising a request ------------------------------------------------------


def parse_json(body: bytes):
    """A request body as one strict JSON value: UTF-8, finite numbers, no lone surrogates."""
    try:
        value = json.loads(body.decode("utf-8"), parse_constant=reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise Invalid(f"not JSON: {exc}") from None
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, float) and not math.isfinite(node):
            raise Invalid("non-finite number")
        if is_number(node) and isinstance(node, int) and abs(node) > sys.float_info.max:
            raise Invalid("integer beyond any double")
        if isinstance(node, str):
            _utf8(node)
        elif isinstance(node, dict):
            for key in node:
                _utf8(key)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return value


def reject_constant(name):
    """json.loads hook: NaN and Infinity are not JSON."""
    raise ValueError(name)


def _utf8(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise Invalid("lone surrogate") from None


def normalize(value, depth: int):
    """The stored form of a value written at `depth` keys below the root (None deletes)."""
    if value is None or isinstance(value, bool):
        return value
    if is_number(value):
        return as_double(value)
    if isinstance(value, str):
        if len(value.encode("utf-8")) > MAX_STRING_BYTES:
            raise Invalid("string too long")
        return value
    if depth >= MAX_DEPTH:
        raise Invalid("nested too deep")
    if isinstance(value, list):
        value = {str(i): item for i, item in enumerate(value)}
    if SV in value:
        spec = value[SV]
        if len(value) == 1 and spec == "timestamp":
            return ServerValue("timestamp")
        if (len(value) == 1 and isinstance(spec, dict) and list(spec) == ["increment"]
                and is_number(spec["increment"])):
            return ServerValue(("increment", spec["increment"]))
        raise Invalid("bad server value")
    children = {}
    for key, child in value.items():
        if key in (PRIORITY, VALUE):
            continue
        if not valid_key(key):
            raise Invalid(f"bad key {key!r}")
        stored = normalize(child, depth + 1)
        if stored is not None:
            children[key] = stored
    priority = value.get(PRIORITY)
    if priority is not None and not (isinstance(priority, str) or is_number(priority)):
        raise Invalid("bad priority")
    if is_number(priority):
        priority = as_double(priority)
    if VALUE in value:
        if children:
            raise Invalid(".value with children")
        inner = normalize(value[VALUE], depth)
        if inner is None or priority is None:
            return inner
        return {**inner, PRIORITY: priority} if isinstance(inner, dict) else {VALUE: inner, PRIORITY: priority}
    if not children:
        return None
    if priority is not None:
        children[PRIORITY] = priority
    return children


def parse_path(keys: list[str]) -> tuple[str, ...]:
    """A URL path (decoded keys; empty segments dropped) as a location, or Invalid."""
    path = tuple(key for key in keys if key != "")
    if not all(valid_key(key) for key in path) or len(path) > MAX_DEPTH:
        raise Invalid("bad path")
    return path


def patch_sets(base: tuple[str, ...], body) -> list[tuple[tuple[str, ...], object]]:
    """The (path, stored value) pairs of a multi-path update, or Invalid."""
    if not isinstance(body, dict):
        raise Invalid("PATCH body must be an object")
    sets = []
    for raw, value in body.items():
        rel = tuple(part for part in raw.split("/") if part)
        if not rel or not all(valid_key(k) for k in rel) or len(base) + len(rel) > MAX_DEPTH:
            raise Invalid(f"bad update path {raw!r}")
        sets.append((base + rel, normalize(value, len(base) + len(rel))))
    paths = [p for p, _ in sets]
    for i, a in enumerate(paths):
        for b in paths[i + 1:]:
            if a[:len(b)] == b or b[:len(a)] == a:
                raise Invalid("overlapping update paths")
    return sets


# ---- the tree -------------------------------------------------------------------------------


def is_object(node) -> bool:
    return isinstance(node, dict) and VALUE not in node


def leaf_value(node):
    """The primitive of a leaf (with or without priority), else None."""
    if isinstance(node, dict):
        return node.get(VALUE)
    return node


def priority_of(node):
    return node.get(PRIORITY) if isinstance(node, dict) else None


def kids(node) -> dict:
    return {k: v for k, v in node.items() if k != PRIORITY} if is_object(node) else {}


def get(tree, path: tuple[str, ...]):
    node = tree
    for key in path:
        node = kids(node).get(key)
        if node is None:
            return None
    return node


def set_at(tree, path: tuple[str, ...], value):
    """A new tree with `value` (stored form, None deletes) at `path`."""
    if not path:
        return value
    if is_object(tree):
        node = dict(tree)
    elif value is None:
        return tree  # deleting below a leaf or below nothing changes nothing
    else:
        node = {} if priority_of(tree) is None else {PRIORITY: priority_of(tree)}  # a leaf keeps its priority
    child = set_at(node.get(path[0]), path[1:], value)
    if child is None:
        node.pop(path[0], None)
    else:
        node[path[0]] = child
    return node if kids(node) else None


def resolve(tree, path: tuple[str, ...], value, now: Stamp):
    """Replace server values in `value` (to be written at `path`) against `tree` before the write."""
    if isinstance(value, ServerValue):
        if value.spec == "timestamp":
            return now
        delta = value.spec[1]
        current = leaf_value(get(tree, path))
        if not is_number(current):
            return as_double(delta)
        result = float(current) + float(delta) if isinstance(current, float) or isinstance(delta, float) \
            or abs(delta) > MAX_SAFE_INT else current + delta
        if isinstance(result, float) and not math.isfinite(result):
            raise Invalid("increment overflows")
        return as_double(result)
    if isinstance(value, dict):
        return {k: (v if k == PRIORITY else resolve(tree, path + (k,), v, now)) for k, v in value.items()}
    return value


def write(tree, sets, now: Stamp):
    """The tree after applying `sets` (already validated) together."""
    resolved = [(path, resolve(tree, path, value, now)) for path, value in sets]
    for path, value in resolved:
        tree = set_at(tree, path, value)
    return tree


def stamps(tree, path=()):
    """(path, Stamp) for every timestamp not yet observed."""
    if isinstance(tree, Stamp):
        yield path, tree
    elif is_object(tree):
        for key, child in kids(tree).items():
            yield from stamps(child, path + (key,))


# ---- rendering ------------------------------------------------------------------------------


def _array_like(keys) -> bool:
    keys = list(keys)
    return bool(keys) and all(_ARRAY_INDEX.fullmatch(k) for k in keys) and max(map(int, keys)) < 2 * len(keys)


def render(node, export: bool = False):
    """The JSON a GET answers (priorities only with format=export; arrays restored)."""
    if isinstance(node, Stamp):
        raise AssertionError("render before the timestamp was observed")
    if not isinstance(node, dict):
        return node
    if VALUE in node:
        return {VALUE: node[VALUE], PRIORITY: node[PRIORITY]} if export else node[VALUE]
    out = {k: render(v, export) for k, v in kids(node).items()}
    if export and PRIORITY in node:
        out[PRIORITY] = node[PRIORITY]
        return out
    if _array_like(out):
        items = [None] * (max(map(int, out)) + 1)
        for key, child in out.items():
            items[int(key)] = child
        return items
    return out


def shallow(node):
    """What `?shallow=true` answers: children as true, leaves as their value."""
    children = kids(node)
    if not children:
        return leaf_value(node)
    return {k: True if is_object(v) else leaf_value(v) for k, v in children.items()}


# ---- comparing ------------------------------------------------------------------------------


def difference(expected, actual, where: str = "/") -> str | None:
    """None if two JSON values are equal (numbers as doubles, bools apart), else where they differ."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        same = type(expected) is type(actual) and expected == actual
    elif is_number(expected) and is_number(actual):
        same = expected == actual or math.isclose(expected, actual, rel_tol=1e-15)
    elif isinstance(expected, dict) and isinstance(actual, dict):
        if set(expected) != set(actual):
            missing, extra = set(expected) - set(actual), set(actual) - set(expected)
            return f"at {where}: keys missing {sorted(missing)[:5]!r}, unexpected {sorted(extra)[:5]!r}"
        for key in expected:
            found = difference(expected[key], actual[key], f"{where.rstrip('/')}/{key[:40]}")
            if found:
                return found
        return None
    elif isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            return f"at {where}: {len(expected)} items expected, {len(actual)} found"
        for i, (a, b) in enumerate(zip(expected, actual)):
            found = difference(a, b, f"{where.rstrip('/')}/{i}")
            if found:
                return found
        return None
    else:
        same = type(expected) is type(actual) and expected == actual
    return None if same else f"at {where}: expected {_short(expected)}, found {_short(actual)}"


def _short(value) -> str:
    text = json.dumps(value, ensure_ascii=True)
    return text if len(text) < 200 else text[:200] + "..."


def bad_keys(exported, path=()) -> list:
    """Keys in an exported tree that no write may store, and nodes deeper than allowed."""
    found = []
    if isinstance(exported, list):
        exported = {str(i): v for i, v in enumerate(exported) if v is not None}
    if isinstance(exported, dict):
        for key, child in exported.items():
            if key in (PRIORITY, VALUE):
                continue
            if not valid_key(key) or len(path) >= MAX_DEPTH:
                found.append(path + (key,))
            found += bad_keys(child, path + (key,))
    return found
