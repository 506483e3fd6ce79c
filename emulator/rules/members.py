"""What rules can call or read on a value: snapshot methods, string members, object properties.

Each member checks its arguments and raises `EvalError` (the rule is then false) instead of
guessing, e.g. `child(5)` or `"a".contains(null)`.
"""

from __future__ import annotations

import math

from emulator import values
from emulator.rules.regex import RulesRegex
from emulator.rules.snapshot import Snapshot

# Firebase numbers are doubles: integers stay exact only up to 2**53.
_MAX_SAFE_INT = 2**53


class EvalError(Exception):
    """An expression failed at run time; the rule evaluates to false."""


def fail(what: str):
    """Raise EvalError (typed as returning, so it can end an expression)."""
    raise EvalError(what)


def is_number(value) -> bool:
    """True for int and float, not bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def number(value):
    """A finite arithmetic result, integral floats as int, integers past 2**53 as float (doubles)."""
    if isinstance(value, float):
        if not math.isfinite(value):
            fail("not a finite number")
        return int(value) if value.is_integer() and abs(value) < _MAX_SAFE_INT else value
    return value if abs(value) < _MAX_SAFE_INT else number(float(value))


def utf16(text: str) -> bytes:
    """The UTF-16 code units of a string (JavaScript measures and orders strings by them)."""
    return text.encode("utf-16-be", "surrogatepass")


def member(obj, name: str):
    """`obj.name` for a property (not a call)."""
    if isinstance(obj, str) and name == "length":
        return len(utf16(obj)) // 2
    if isinstance(obj, dict):
        return obj.get(name)
    return fail(f"no property {name!r} on {type(obj).__name__}")


def index(obj, position):
    """`obj[position]`: an object's property or an array's element (null when absent)."""
    if isinstance(obj, dict) and isinstance(position, str):
        return obj.get(position)
    if isinstance(obj, list) and isinstance(position, int) and not isinstance(position, bool):
        return obj[position] if 0 <= position < len(obj) else None
    return fail("only objects and arrays can be indexed")


def call(obj, name: str, args: list):
    """`obj.name(args...)` for a snapshot or string method."""
    if isinstance(obj, Snapshot):
        method = SNAPSHOT_METHODS.get(name)
    elif isinstance(obj, str):
        method = STRING_METHODS.get(name)
    else:
        method = None
    return method(obj, *args) if method is not None else fail(f"no method {name!r} on {type(obj).__name__}")


def _child_keys(path) -> tuple[str, ...]:
    if not isinstance(path, str):
        fail("a child path must be a string")
    keys = tuple(key for key in path.split("/") if key)
    if not keys or not all(values.is_valid_key(key) for key in keys):
        fail(f"invalid child path {path!r}")
    return keys


def _has_children(snapshot: Snapshot, names=None) -> bool:
    if names is None:
        return snapshot.has_children()
    if not isinstance(names, list):
        fail("hasChildren takes an array of child names")
    return all(snapshot.child(_child_keys(name)).exists() for name in names)


def _parent(snapshot: Snapshot) -> Snapshot:
    parent = snapshot.parent()
    return parent if parent is not None else fail("the root has no parent")


SNAPSHOT_METHODS = {
    "val": Snapshot.val,
    "child": lambda snapshot, path: snapshot.child(_child_keys(path)),
    "parent": _parent,
    "hasChild": lambda snapshot, path: snapshot.child(_child_keys(path)).exists(),
    "hasChildren": _has_children,
    "exists": Snapshot.exists,
    "getPriority": Snapshot.priority,
    "isNumber": lambda snapshot: is_number(snapshot.val()),
    "isString": lambda snapshot: isinstance(snapshot.val(), str),
    "isBoolean": lambda snapshot: isinstance(snapshot.val(), bool),
}


def _text_method(method):
    def apply(text: str, *args):
        if not all(isinstance(arg, str) for arg in args):
            fail("string methods take strings")
        return method(text, *args)
    return apply


def _matches(text: str, pattern) -> bool:
    if not isinstance(pattern, RulesRegex):
        fail("matches takes a regular expression")
    try:
        return pattern.search(text) is not None
    except UnicodeEncodeError:  # a lone surrogate (say from a token claim) has no UTF-8 form for RE2
        return fail("matches cannot read a string holding a lone surrogate")


STRING_METHODS = {
    "contains": _text_method(lambda text, part: part in text),
    "beginsWith": _text_method(str.startswith),
    "endsWith": _text_method(str.endswith),
    # Firebase replaces every occurrence (unlike JavaScript's String.replace with a string).
    "replace": _text_method(str.replace),
    "toLowerCase": _text_method(str.lower),
    "toUpperCase": _text_method(str.upper),
    "matches": _matches,
}
