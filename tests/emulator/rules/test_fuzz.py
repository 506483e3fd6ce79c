"""Property tests: loading never fails with anything but RulesError; evaluation never raises at all."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulator.rules import Context, Decision, RuleSet, RulesError

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TOKENS = [
    "auth", "now", "root", "data", "newData", "query", "$a", "$b", "true", "false", "null", "undefined",
    "1", "0", "-1", "2.5", "1e3", "'x'", '"y"', "'a/b'", "''", "/^a$/", "/x/i", "/[/", "/a/g",
    ".", ",", "(", ")", "[", "]", "!", "-", "+", "*", "/", "%", "<", "<=", ">", ">=", "==", "!=", "===", "!==",
    "&&", "||", "?", ":", "=", "&", "#", "\\", "'", "\n",
    "val", "child", "parent", "hasChild", "hasChildren", "exists", "getPriority", "isNumber", "isString",
    "isBoolean", "length", "contains", "beginsWith", "endsWith", "replace", "toLowerCase", "toUpperCase",
    "matches", "uid", "token", "orderByChild", "equalTo", "limitToFirst",
]
DATA = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(["x", "a", "", "u1"]),
    lambda inner: st.dictionaries(st.sampled_from(["a", "b", "x", "u1", "0"]), inner, min_size=1, max_size=3),
    max_leaves=8,
)
AUTH = st.none() | st.fixed_dictionaries({"uid": st.sampled_from(["u1", "x"]), "provider": st.just("anonymous"),
                                          "token": st.dictionaries(st.sampled_from(["agent", "email"]), DATA)})


def _atoms():
    return st.sampled_from([
        "auth", "auth.uid", "auth.token.agent", "now", "data.val()", "newData.val()", "data.child('a').val()",
        "newData.child('a/b').exists()", "root.child('x').hasChildren()", "data.parent().exists()", "$a",
        "'x'", "1", "2.5", "true", "null", "data.getPriority()", "newData.hasChildren(['a', 'b'])",
        "data.val().length", "newData.val().matches(/^[a-z]+$/i)", "data.val().replace('a', 'b')",
        "auth.token['email'].endsWith('@x')", "newData.isString()", "data.child($a).isNumber()",
    ])


EXPRESSIONS = st.recursive(
    _atoms(),
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["&&", "||", "==", "!=", "<", ">=", "+", "-", "*", "/", "%"]), inner)
        .map(" ".join),
        inner.map(lambda e: f"!({e})"),
        inner.map(lambda e: f"-({e})"),
        st.tuples(inner, inner, inner).map(lambda t: f"({t[0]}) ? ({t[1]}) : ({t[2]})"),
    ),
    max_leaves=6,
)


def _load(source: str):
    try:
        return RuleSet.parse(source)
    except RulesError:
        return None


def _rules_with(expression: str, kinds=(".read", ".write", ".validate")) -> str:
    rules = {kind: expression for kind in kinds}
    return json.dumps({"rules": {"$a": {**rules, "$b": rules}}})


def _exercise(ruleset: RuleSet, root, auth) -> None:
    context = Context(auth=auth, root=root, now=1)
    for where in [(), ("a",), ("x", "u1"), ("a", "b", "c")]:
        assert isinstance(ruleset.can_read(where, context), bool)
    for sets in ([(("a",), {"b": 1})], [(("x", "u1"), None), (("b",), "x")], [((), root)]):
        assert isinstance(ruleset.check_write(sets, context), Decision)
    assert isinstance(ruleset.index_on(("a",)), list)


@FUZZ
@given(st.text())
def test_random_text_is_rejected_only_with_rules_error(text):
    _load(text)


@FUZZ
@given(st.lists(st.sampled_from(TOKENS), max_size=12).map(" ".join))
def test_random_token_soup_is_rejected_only_with_rules_error(expression):
    _load(_rules_with(expression))


@FUZZ
@given(st.text(alphabet=st.sampled_from('{}[]:,"./*$ \ntrue.readwritevalidate'), max_size=60))
def test_random_json_shapes_are_rejected_only_with_rules_error(text):
    _load(text)


@settings(FUZZ, max_examples=600)
@given(EXPRESSIONS, DATA, AUTH)
def test_evaluating_random_expressions_never_raises(expression, root, auth):
    for kinds in ([".read"], [".write", ".validate"]):
        ruleset = _load(_rules_with(expression, kinds))
        if ruleset is not None:
            _exercise(ruleset, root, auth)
