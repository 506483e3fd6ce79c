"""Keys, paths and JSON values as the Realtime Database accepts them.

Parsing and validating request paths and bodies, normalising a value into the stored form
(no nulls, no empty objects, arrays as integer-keyed objects) and rendering the stored form
back as Firebase answers it (arrays restored, priorities hidden unless exporting).
"""

import json
import math
import re
import sys
from urllib.parse import unquote

import orjson

from emulator.errors import BadRequest

MAX_KEY_BYTES = 768
MAX_DEPTH = 32
MAX_STRING_BYTES = 10 * 1024 * 1024
# Firebase stores numbers as IEEE doubles; integers beyond 2**53 lose precision there too.
_MAX_SAFE_INT = 2**53
_MAX_DOUBLE = sys.float_info.max
_FORBIDDEN_KEY_CHARS = re.compile(r"[.$#\[\]/\x00-\x1f\x7f]")
# A \uD800-\uDFFF escape may leave a lone surrogate in a string, which has no UTF-8 form.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
# Keys and short values (a status, a label, a category) are interned: every stored ticket then shares one
# copy of "status" and "open" instead of holding its own (a tenth of the memory of 20k realistic tickets).
_INTERN_MAX = 24
_intern = sys.intern
_PRIORITY = ".priority"
_VALUE = ".value"
_SERVER_VALUE = ".sv"

INVALID_JSON = "Invalid data; couldn't parse JSON object, array, or value."
INVALID_PATH = "Invalid path: Invalid token in path"
_INVALID_KEY = (
    "Invalid data; couldn't parse key beginning at {pos}. "
    "Key value can't be empty or contain $ # [ ] / or ."
)


def parse_path(raw: str) -> tuple[str, ...]:
    """Split a URL path (without the `.json` suffix) into validated keys.

    Args:
      raw: the percent-encoded path, e.g. `/tickets/-Nx1`.

    Returns:
      The keys, empty for the root.

    Raises:
      BadRequest: a segment is not a valid key.
    """
    try:
        keys = tuple(unquote(part, errors="strict") for part in raw.split("/") if part)
    except UnicodeDecodeError:  # a percent-escape that is not UTF-8 names no key
        raise BadRequest(INVALID_PATH) from None
    for key in keys:
        if not is_valid_key(key):
            raise BadRequest(INVALID_PATH)
    if len(keys) > MAX_DEPTH:
        raise BadRequest(f'Invalid path: "/{"/".join(keys)}". Paths can be at most {MAX_DEPTH} keys deep.')
    return keys


def split_child_path(raw: str, what: str) -> tuple[str, ...]:
    """Split a relative path used inside a body (a multi-path update key) into validated keys."""
    keys = tuple(part for part in raw.split("/") if part)
    if not keys or not all(is_valid_key(k) for k in keys):
        raise BadRequest(f'Invalid {what}: "{raw}". Each segment must be a non-empty key without . $ # [ ] / or control characters.')
    return keys


def is_valid_key(key: str) -> bool:
    """True if `key` is a storable key (non-empty, <= 768 bytes, no forbidden characters)."""
    if not key or _FORBIDDEN_KEY_CHARS.search(key):
        return False
    try:
        return len(key.encode("utf-8")) <= MAX_KEY_BYTES
    except UnicodeEncodeError:  # a lone surrogate (from a \uD800 escape) has no UTF-8 form
        return False


def path_str(path: tuple[str, ...]) -> str:
    """The canonical `/a/b` form of a path (`/` for the root)."""
    return "/" + "/".join(path)


def _reject_constant(name: str):
    raise ValueError(f"non-finite number {name}")


def parse_body(body: bytes) -> object:
    """Parse a request body as JSON, rejecting non-finite numbers and bad encodings.

    Raises:
      BadRequest: the body is not a single valid JSON value.
    """
    try:
        text = body.decode("utf-8")
        value = json.loads(text, parse_constant=_reject_constant)
        if _SURROGATE_ESCAPE.search(body):
            dumps(value).encode("utf-8")
    except (UnicodeError, ValueError, RecursionError):
        raise BadRequest(INVALID_JSON) from None
    _check_numbers(value)
    return value


def _check_numbers(value) -> None:
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, float) and not math.isfinite(node):
            raise BadRequest(INVALID_JSON)
        if isinstance(node, int) and not isinstance(node, bool) and abs(node) > _MAX_DOUBLE:
            raise BadRequest(INVALID_JSON)  # no double can hold it (Firebase numbers are doubles)
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def key_position(body: bytes, bad_key: str) -> str:
    """Line:column (1-based) where `bad_key` first appears as an object key in the raw JSON body.

    Firebase names the position of the offending key in its error; this is only computed on the
    error path, so a small hand scan of the text is fine.
    """
    text = body.decode("utf-8", errors="replace")
    i, line, col_base = 0, 1, 0
    while i < len(text):
        ch = text[i]
        if ch == "\n":
            line, col_base = line + 1, i + 1
        elif ch == '"':
            start, j = i, i + 1
            while j < len(text) and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            rest = text[j + 1:].lstrip()
            if rest.startswith(":"):
                try:
                    if json.loads(text[start:j + 1]) == bad_key:
                        return f"{line}:{start - col_base + 1}"
                except ValueError:
                    pass
            i = j
        i += 1
    return "1:1"


def normalize(value, base_depth: int, body: bytes | None = None):
    """Validate a written value and convert it to the stored form.

    Arrays become objects keyed "0", "1", ...; nulls and empty objects vanish; `.value`/
    `.priority` pairs are kept (a leaf with a priority is `{".value": v, ".priority": p}`);
    server values (`.sv`) are left in place for the store to resolve.

    Args:
      value: the parsed JSON value.
      base_depth: number of keys in the path the value is written at.
      body: the raw body, to name the position of an invalid key as Firebase does.

    Returns:
      The stored form, or None when the value deletes.

    Raises:
      BadRequest: an invalid key, a value nested deeper than 32 levels, an oversized string,
        or a malformed `.sv`/`.value`/`.priority` object.
    """
    return _normalize(value, base_depth, body)


def _normalize(value, depth, body):
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return _number(value)
    if isinstance(value, str):
        if len(value) > MAX_STRING_BYTES // 4 and len(value.encode("utf-8")) > MAX_STRING_BYTES:
            raise BadRequest(f"Invalid data; a string is {len(value.encode('utf-8'))} bytes. Strings can be at most {MAX_STRING_BYTES} bytes.")
        return _intern(value) if len(value) <= _INTERN_MAX else value
    if depth >= MAX_DEPTH:
        raise BadRequest(f"Invalid data; data is nested deeper than {MAX_DEPTH} levels. Paths plus nested values can be at most {MAX_DEPTH} keys deep.")
    if isinstance(value, list):
        value = {str(i): v for i, v in enumerate(value)}
    if _SERVER_VALUE in value:
        return _server_value(value)
    out = {}
    for key, child in value.items():
        if key in (_PRIORITY, _VALUE):
            continue
        if not is_valid_key(key):
            pos = key_position(body, key) if body is not None else "1:1"
            raise BadRequest(_INVALID_KEY.format(pos=pos))
        child = _normalize(child, depth + 1, body)
        if child is not None:
            out[_intern(key)] = child
    priority = value.get(_PRIORITY)
    if priority is not None and (isinstance(priority, bool) or not isinstance(priority, (int, float, str))):
        raise BadRequest(f'Invalid data; .priority must be a string, a number or null. Found: {json.dumps(priority)}.')
    if isinstance(priority, (int, float)):
        priority = _number(priority)
    if _VALUE in value:
        if out:
            raise BadRequest("Invalid data; an object with .value cannot have other children.")
        inner = _normalize(value[_VALUE], depth, body)
        if inner is None or priority is None:
            return inner
        if isinstance(inner, dict):
            return {**inner, _PRIORITY: priority}
        return {_VALUE: inner, _PRIORITY: priority}
    if not out:
        return None
    if priority is not None:
        out[_PRIORITY] = priority
    return out


def _number(value):
    """A JSON number as a double holds it: integral values as int, integers past 2**53 as float."""
    if isinstance(value, int):
        return float(value) if abs(value) > _MAX_SAFE_INT else value
    return int(value) if value.is_integer() and abs(value) < _MAX_SAFE_INT else value


def _server_value(value: dict):
    spec = value[_SERVER_VALUE]
    if len(value) != 1:
        raise BadRequest("Invalid data; an object with .sv cannot have other children.")
    if spec == "timestamp":
        return value
    if isinstance(spec, dict) and list(spec) == ["increment"]:
        delta = spec["increment"]
        if isinstance(delta, (int, float)) and not isinstance(delta, bool):
            return value
    raise BadRequest(f'Invalid data; unknown server value: {json.dumps(spec)}. Supported: "timestamp" and {{"increment": <number>}}.')


def is_server_value(node) -> bool:
    """True if `node` is an unresolved `{".sv": ...}` placeholder."""
    return isinstance(node, dict) and _SERVER_VALUE in node


def server_value_result(node: dict, current, now_ms: int):
    """Resolve one `.sv` placeholder given the current stored value at its location."""
    spec = node[_SERVER_VALUE]
    if spec == "timestamp":
        return now_ms
    delta = spec["increment"]
    current = strip_priority(current)
    if isinstance(current, (int, float)) and not isinstance(current, bool):
        result = current + delta
        if isinstance(result, float) and not math.isfinite(result):
            raise BadRequest(f"Invalid data; increment by {delta} overflows the current value {current}. "
                             "Numbers must be finite.")
        return _number(result)
    return _number(delta)


def strip_priority(node):
    """The value of a leaf that may carry a priority."""
    if isinstance(node, dict) and _VALUE in node:
        return node[_VALUE]
    return node


def children(node) -> dict:
    """The real children of a stored node (priority keys excluded)."""
    if not isinstance(node, dict) or _VALUE in node:
        return {}
    if _PRIORITY in node:
        return {k: v for k, v in node.items() if k != _PRIORITY}
    return node


def priority_of(node):
    """The priority of a stored node, or None."""
    return node.get(_PRIORITY) if isinstance(node, dict) else None


def render(node, export: bool = False):
    """Render a stored node as Firebase answers: arrays restored, priorities only when exporting."""
    if not isinstance(node, dict):
        return node
    if _VALUE in node:
        return {_VALUE: node[_VALUE], _PRIORITY: node[_PRIORITY]} if export else node[_VALUE]
    out = {}
    for key, child in node.items():
        if key == _PRIORITY:
            if export:
                out[key] = child
            continue
        out[key] = render(child, export)
    if _PRIORITY not in out and _is_array_like(out):
        items = [None] * (max(int(k) for k in out) + 1)
        for key, child in out.items():
            items[int(key)] = child
        return items
    return out


def _is_array_like(obj: dict) -> bool:
    if not obj:
        return False
    top = -1
    for key in obj:
        if not (key.isascii() and key.isdigit()) or (len(key) > 1 and key[0] == "0"):
            return False
        top = max(top, int(key))
    return top < 2 * len(obj)


def dumps(value, pretty: bool = False) -> str:
    """Serialise a rendered value as Firebase does (compact, or pretty with `" : "`).

    Compact output comes from orjson, ten times faster than the standard library on a page of tickets and
    byte for byte the same but for the exponent form of some floats (`1e-7` where Python writes `1e-07`,
    `0.00001` for `1e-05`), which parse to the same number. orjson refuses what the standard library writes
    anyway (a lone surrogate in a string, an integer past 64 bits), and those go through the latter.
    """
    if pretty:
        return json.dumps(value, indent=2, separators=(",", " : "), ensure_ascii=False)
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def loads(text: str | bytes):
    """Parse JSON that this process wrote (the journal, the outbox): orjson, or the standard library for
    what orjson refuses (an escaped lone surrogate, from a journal written before strings were checked)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
