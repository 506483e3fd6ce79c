"""What rules can call or read on a value: snapshot methods, string members, object properties.

Each member checks its arguments and raises `EvalError` (the rule is then false) instead of
guessing, e.g. `child(5)` or `"a".contains(null)`. Three rules of thumb follow what production
Firebase was recorded doing (the README's Security rules section lists the recordings):

- A property of null is null, as is a missing property of an object: signed out, `auth.uid` and
  `auth.foo.bar` are null, so `auth.uid !== 'x'` is true and `auth.uid == 'x'` false, without error
  (the rules reference's own examples write `auth.uid != null` for "signed in"). Calling a method
  on null, or using null as a number or string, is still an error.
- `child()`, `hasChild()` and `hasChildren()` take any string: a key no stored node can have (with
  `.`, `#`, `$`, `[` or `]`, e.g. an e-mail address) names a child that does not exist, not an error;
  Firebase answers `root.child('banned/bob@example.com').val() != true` with true.
- Numbers are doubles and may become NaN or Infinity: `x / 0` and `x % 0` are NaN in Firebase
  (recorded: `1/0 + ''` is `'NaN'` and `1/0 > 2` and `1/0 < 2` are both false; JavaScript would
  say Infinity for `1/0`), and a result past the largest double is Infinity.
"""

from __future__ import annotations

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
    """An arithmetic result as a double would hold it: integral floats as int, integers past 2**53 as float.

    NaN and the infinities stay floats (`is_integer()` is false for them).
    """
    if isinstance(value, float):
        return int(value) if value.is_integer() and abs(value) < _MAX_SAFE_INT else value
    return value if abs(value) < _MAX_SAFE_INT else number(float(value))


def utf16(text: str) -> bytes:
    """The UTF-16 code units of a string (JavaScript measures and orders strings by them)."""
    return text.encode("utf-16-be", "surrogatepass")


def member(obj, name: str):
    """`obj.name` for a property (not a call); a property of null, or a missing one, is null."""
    if isinstance(obj, str) and name == "length":
        return len(utf16(obj)) // 2
    if isinstance(obj, dict):
        return obj.get(name)
    if obj is None:
        return None
    return fail(f"no property {name!r} on {type(obj).__name__}")


def index(obj, position):
    """`obj[position]`: an object's property or an array's element (null when absent, and on null)."""
    if isinstance(position, str):
        return member(obj, position)
    if obj is None and is_number(position):
        return None
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
    """The keys of a relative path; a key no stored node can have just names a child that is absent.

    Empty segments are skipped (`a//b` is `a/b`). A path with no key at all (`''`, `'/'`) is
    still an error: Firebase's answer to it was not recorded.
    """
    if not isinstance(path, str):
        fail("a child path must be a string")
    keys = tuple(key for key in path.split("/") if key)
    if not keys:
        fail(f"empty child path {path!r}")
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
