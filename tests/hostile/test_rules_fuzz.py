"""The rules engine under generated input: parsing fails only with a located RulesError, evaluation never raises.

Rule documents and expressions are generated from the grammar (objects of rules, wildcards,
.indexOn, children; JavaScript-like expressions with members, calls, regexes and operators), then
now and then damaged (a character dropped, inserted or the text cut short). A second generator
builds only well-typed rules, which must load. Parsed rules are evaluated against random trees,
auth objects, queries and writes. `bench/fuzz_rules.py` runs the same checks under libFuzzer.
"""

from __future__ import annotations

import functools
import json

from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from emulator.query import QueryError, parse_query
from emulator.rules import Context, Decision, RuleSet, RulesError
from tests.hostile.conftest import LONG
from tests.hostile.strategies import weighted

FUZZ = settings(max_examples=2500 if LONG else 250, deadline=None, suppress_health_check=list(HealthCheck))

# ---- expressions from the grammar ---------------------------------------------------------------

NAMES = st.sampled_from(["auth", "now", "root", "data", "newData", "query", "$a", "$b", "$undeclared", "x",
                         "undefined", "this", "Math"])
MEMBERS = st.sampled_from(["val", "child", "parent", "hasChild", "hasChildren", "exists", "getPriority", "isNumber",
                           "isString", "isBoolean", "length", "contains", "beginsWith", "endsWith", "replace",
                           "toLowerCase", "toUpperCase", "matches", "uid", "token", "provider", "orderByChild",
                           "orderByKey", "startAt", "limitToFirst", "email_verified", "constructor", "__class__"])
NUMBER_TEXT = st.one_of(st.integers(-10, 10).map(str), st.sampled_from(
    ["0", "1.5", ".5", "5.", "1e3", "1e400", "1" * 30, "9007199254740993", "0.1e-400", "00", "1e", "1.2.3"]))
STRING_TEXT = st.one_of(
    st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="'\\\n\r"), max_size=6).map(lambda s: f"'{s}'"),
    st.sampled_from(["'a/b'", "''", '"x"', "'\\x41'", "'\\u00e9'", "'\\u12'", "'\\x4'", "'\\q'", "'unterminated",
                     "'\\ud800'", "'a\\'b'", '"\\"', "'\\0'"]),
)
REGEX_TEXT = st.tuples(
    st.text(st.sampled_from("ab^$[]()?*+{}|\\.-dwDW0-9"), max_size=8),
    st.sampled_from(["", "", "i", "g", "ii", "m"]),
).map(lambda t: f"/{t[0]}/{t[1]}")
ATOMS = st.one_of(NAMES, NAMES, NUMBER_TEXT, STRING_TEXT, REGEX_TEXT, st.sampled_from(["true", "false", "null"]))
BINARY_OPS = st.sampled_from(["&&", "||", "==", "!=", "===", "!==", "<", "<=", ">", ">=", "+", "-", "*", "/", "%",
                              "=", "&", "|", "^", "in", "#"])


def _extend(inner):
    return st.one_of(
        st.tuples(inner, BINARY_OPS, inner).map(" ".join),
        st.tuples(st.sampled_from(["!", "-", "!!", "+", "~"]), inner).map("".join),
        st.tuples(inner, inner, inner).map(lambda t: f"{t[0]} ? {t[1]} : {t[2]}"),
        inner.map(lambda e: f"({e})"),
        st.tuples(inner, MEMBERS).map(lambda t: f"{t[0]}.{t[1]}"),
        st.tuples(inner, MEMBERS, st.lists(inner, max_size=3)).map(lambda t: f"{t[0]}.{t[1]}({', '.join(t[2])})"),
        st.tuples(inner, inner).map(lambda t: f"{t[0]}[{t[1]}]"),
        st.lists(inner, max_size=3).map(lambda items: f"[{', '.join(items)}]"),
    )


EXPRESSIONS = st.recursive(ATOMS, _extend, max_leaves=12)


@st.composite
def damaged(draw, texts):
    """A text, sometimes with one character dropped, inserted, or the end cut off."""
    text = draw(texts)
    how = draw(st.sampled_from(["none", "none", "none", "drop", "insert", "cut"]))
    if how == "none" or not text:
        return text
    at = draw(st.integers(0, len(text) - 1))
    if how == "drop":
        return text[:at] + text[at + 1:]
    if how == "insert":
        return text[:at] + draw(st.sampled_from(list("()[]{}'\"/\\.,:?!$#\n\t\x00é😀"))) + text[at:]
    return text[:at]


# ---- rule documents from the grammar -------------------------------------------------------------

RULE_VALUES = weighted((8, damaged(EXPRESSIONS)), (3, st.booleans()),
                       (1, st.one_of(st.integers(), st.none(), st.lists(st.booleans(), max_size=2))))
CHILD_NAMES = st.sampled_from(["a", "b", "tickets", "0", "é", "$a", "$b", "$id", "$", "$a.b", ".Read", ".writes",
                               ".other", "", "a.b", "a/b", "#", "\x01", "\ud800", "$\ud800"])
INDEX_ON = st.one_of(st.sampled_from(["a", "", "$key"]), st.lists(st.sampled_from(["a", "b", ""]), max_size=3),
                     st.integers(), st.lists(st.integers(), max_size=2))


def _node(inner):
    """An object of rules, .indexOn and children, as (key, value) pairs; now and then a key repeats."""
    unique = st.tuples(
        st.dictionaries(st.sampled_from([".read", ".write", ".validate"]), RULE_VALUES, max_size=3),
        st.lists(INDEX_ON, max_size=1),
        st.dictionaries(CHILD_NAMES, inner, max_size=3),
    ).map(lambda t: [*t[0].items(), *((".indexOn", i) for i in t[1]), *t[2].items()])
    return weighted((30, unique), (1, st.tuples(unique, unique).map(lambda t: t[0] + t[1][:1])))


RULE_NODES = st.recursive(
    st.dictionaries(st.sampled_from([".read", ".write", ".validate"]), RULE_VALUES, max_size=2).map(lambda d: [*d.items()]),
    _node, max_leaves=8)


def _write_json(value, draw, depth=0) -> str:
    """JSON text for `value`, where a list of pairs is an object (keys may repeat), with comments here and there."""
    space = draw(st.sampled_from(["", " ", "\n  ", " // note\n", " /* note */ ", "\t"]))
    if isinstance(value, list) and all(isinstance(p, tuple) and len(p) == 2 for p in value) and (value or depth):
        items = [f"{json.dumps(k, ensure_ascii=draw(st.booleans()))}:{space}{_write_json(v, draw, depth + 1)}"
                 for k, v in value]
        return "{" + space + ("," + space).join(items) + space + "}"
    if isinstance(value, list):
        return "[" + ",".join(_write_json(v, draw, depth + 1) for v in value) + "]"
    return json.dumps(value, ensure_ascii=draw(st.booleans()))


@st.composite
def rule_documents(draw):
    node = draw(RULE_NODES)
    text = _write_json([("rules", node)], draw)
    return draw(damaged(st.just(text)))


# ---- well-typed rules, which must load -----------------------------------------------------------


@functools.cache
def well_typed(kind: str, wildcards: tuple[str, ...]):
    """Boolean expressions that type-check for a rule of `kind` under `wildcards`."""
    snapshots = [base + step for base in ["root", "data"] + (["newData"] if kind != ".read" else [])
                 for step in ["", ".child('a')", ".child('a/b')", ".parent()",
                              f".child({wildcards[-1]})" if wildcards else ".child('0')"]]
    strings = ["'abc'", "auth.uid", "auth.token.email", *wildcards, *(f"{s}.val()" for s in snapshots[:4])]
    numbers = ["now", "1", "2.5", "-3", "'abc'.length", "auth.uid.length", "data.val()"]
    atoms = ["true", "false", "auth != null", "auth.uid == 'u1'"]
    for snap in snapshots:
        atoms += [f"{snap}.exists()", f"{snap}.hasChildren()", f"{snap}.hasChildren(['a', 'b'])",
                  f"{snap}.hasChild('a')", f"{snap}.isNumber()", f"{snap}.isString()", f"{snap}.val() == null",
                  f"{snap}.getPriority() != 5"]
    for text in strings:
        atoms += [f"{text}.contains('a')", f"{text}.beginsWith('-')", f"{text}.toLowerCase() == 'x'",
                  f"{text}.replace('a', 'b').length > 0", f"{text}.matches(/^[a-z0-9_-]+$/i)", f"{text} + 1 == 'a1'"]
    for number in numbers:
        atoms += [f"{number} < now", f"{number} + 1 >= now - 100", f"({number} % 2) == 0"]
    if kind == ".read":
        atoms += ["query.orderByKey", "query.limitToFirst <= 10", "query.orderByChild == 'a'"]
    return st.recursive(st.sampled_from(atoms), lambda inner: st.one_of(
        inner.map(lambda e: f"!({e})"),
        st.tuples(inner, inner).map(lambda t: f"{t[0]} && {t[1]}"),
        st.tuples(inner, inner).map(lambda t: f"({t[0]}) || ({t[1]})"),
        st.tuples(inner, inner, inner).map(lambda t: f"({t[0]}) ? ({t[1]}) : ({t[2]})"),
    ), max_leaves=6)


@st.composite
def well_typed_documents(draw, wildcards=(), depth=0):
    node = {}
    for kind in draw(st.sets(st.sampled_from([".read", ".write", ".validate"]))):
        node[kind] = draw(st.booleans() | well_typed(kind, wildcards) | well_typed(kind, wildcards))
    if draw(st.booleans()):
        node[".indexOn"] = draw(st.sampled_from(["a", ["a", "b"]]))
    if depth < 2:
        for name in draw(st.sets(st.sampled_from(["a", "b", "tickets", "é"]), max_size=2)):
            node[name] = draw(well_typed_documents(wildcards, depth + 1))
        if draw(st.booleans()):
            wildcard = f"$w{depth}"
            node[wildcard] = draw(well_typed_documents(wildcards + (wildcard,), depth + 1))
    return node if depth else {"rules": node}


# ---- data to evaluate against ----------------------------------------------------------------------

PRIMITIVES = st.one_of(st.booleans(), st.integers(-3, 3), st.floats(allow_nan=False, allow_infinity=False),
                       st.sampled_from(["", "a", "abc", "u1", "-Nx", "é", "\ud800", "x" * 50]))
TREE_KEYS = st.sampled_from(["a", "b", "0", "1", "tickets", "u1", "é", "x"])
STORED = st.recursive(
    st.one_of(PRIMITIVES, st.builds(lambda v, p: {".value": v, ".priority": p}, PRIMITIVES,
                                    st.one_of(st.integers(), st.text(max_size=3)))),
    lambda inner: st.builds(lambda d, p: {**d, ".priority": p} if p is not None and d else d,
                            st.dictionaries(TREE_KEYS, inner, min_size=1, max_size=3), st.none() | st.integers()),
    max_leaves=10,
)
TREES = st.none() | STORED
JSONISH = st.recursive(st.none() | PRIMITIVES, lambda inner: st.lists(inner, max_size=2)
                       | st.dictionaries(st.text(max_size=3), inner, max_size=2), max_leaves=5)
AUTHS = st.none() | st.fixed_dictionaries({
    "uid": st.sampled_from(["u1", "", "x"]) | st.text(max_size=3),
    "provider": st.sampled_from(["anonymous", "password", "custom"]),
    "token": st.dictionaries(st.sampled_from(["email", "agent", "admin", "firebase", "sub"]), JSONISH, max_size=3),
})
PATHS = st.lists(TREE_KEYS, max_size=4).map(tuple)


@st.composite
def writes(draw):
    """Non-overlapping (path, stored value or None) sets, as a multi-path update would give."""
    sets = []
    for path in draw(st.lists(PATHS, max_size=3)):
        if all(path[:len(p)] != p and p[:len(path)] != path for p, _ in sets):
            sets.append((path, draw(st.none() | STORED)))
    return sets


QUERIES = st.fixed_dictionaries({"orderBy": st.sampled_from(['"$key"', '"$value"', '"$priority"', '"a"'])}, optional={
    "limitToFirst": st.sampled_from(["1", "5"]), "startAt": st.sampled_from(['"a"', "1", "null"]),
    "equalTo": st.sampled_from(['"u1"', "true"]),
})


def _query(params):
    try:
        return parse_query(params)
    except QueryError:
        return None


def _exercise(ruleset: RuleSet, root, auth, now, read_paths, sets, query) -> None:
    context = Context(auth=auth, root=root, now=now)
    for path in read_paths:
        assert isinstance(ruleset.can_read(path, context, query), bool)
        assert isinstance(ruleset.index_on(path), list)
    decision = ruleset.check_write(sets, context)
    assert isinstance(decision, Decision) and isinstance(decision.allowed, bool)


def _check_error(text: str, error: RulesError) -> None:
    """A RulesError names a real line and column of the text, in its message too."""
    lines = text.split("\n")
    assert 1 <= error.line <= len(lines), (error.line, len(lines), str(error))
    assert 1 <= error.column <= len(lines[error.line - 1]) + 1, (error.column, lines[error.line - 1][:80], str(error))
    assert str(error).startswith(f"Invalid rules: line {error.line}, column {error.column}: "), str(error)


def _load(text: str) -> RuleSet | None:
    note(f"rules: {text!r}")
    try:
        return RuleSet.parse(text)
    except RulesError as error:
        _check_error(text, error)
        return None


# ---- the properties ------------------------------------------------------------------------------


@FUZZ
@given(document=rule_documents(), root=TREES, auth=AUTHS, read_paths=st.lists(PATHS, max_size=3), sets=writes(),
       query=QUERIES.map(_query))
def test_generated_documents_load_or_fail_with_a_located_error_and_never_crash_evaluation(
        document, root, auth, read_paths, sets, query):
    ruleset = _load(document)
    if ruleset is not None:
        _exercise(ruleset, root, auth, 1_700_000_000_000, read_paths, sets, query)


@FUZZ
@given(expression=damaged(EXPRESSIONS), kind=st.sampled_from([".read", ".write", ".validate"]), root=TREES,
       auth=AUTHS, sets=writes())
def test_generated_expressions_load_or_fail_with_a_located_error(expression, kind, root, auth, sets):
    rules = {kind: expression, "$a": {kind: expression, "$b": {kind: expression}}}
    document = json.dumps({"rules": rules}, indent=1)
    ruleset = _load(document)
    if ruleset is not None:
        _exercise(ruleset, root, auth, 0, [(), ("a",), ("a", "b"), ("x", "u1", "z")], sets, None)


@FUZZ
@given(document=well_typed_documents(), root=TREES, auth=AUTHS, read_paths=st.lists(PATHS, max_size=3),
       sets=writes(), query=QUERIES.map(_query))
def test_well_typed_rules_always_load_and_evaluate(document, root, auth, read_paths, sets, query):
    text = json.dumps(document, indent=2, ensure_ascii=False)
    note(text)
    try:
        ruleset = RuleSet.parse(text)
    except RulesError as error:
        raise AssertionError(f"well-typed rules refused: {error}") from None
    _exercise(ruleset, root, auth, 1_700_000_000_000, read_paths, sets, query)


@FUZZ
@given(text=st.text(st.sampled_from('{}[]:,"\\/*\n .$abrulesadwitvn0123456789eE+-truefalsenull\ud800\ufeff'),
                    max_size=80))
def test_json_shaped_noise_fails_only_with_a_located_error(text):
    _load(text)


def test_a_lone_surrogate_key_is_a_located_rules_error_not_a_crash():
    for text in ('{"rules": {"\\ud800": {".read": true}}}', '{"rules": {"$\\udc00": {".read": true}}}'):
        try:
            RuleSet.parse(text)
        except RulesError as error:
            _check_error(text, error)
        else:
            raise AssertionError(f"{text} loaded")
