"""Tests for emulator.rules.evaluator and members: values, strict equality, strings, variables, errors."""

import pytest

from emulator.query import parse_query
from emulator.rules.evaluator import js_number_text

TRUE_EXPRESSIONS = [
    # arithmetic and concatenation
    "1 + 2 == 3", "7 - 10 == -3", "2 * 3.5 == 7", "1 / 2 == 0.5", "7 % 3 == 1", "-7 % 3 == -1", "7.5 % 2 == 1.5",
    "1 + 2 * 3 == 7", "(1 + 2) * 3 == 9", "10 / 4 * 2 == 5", "- 3 == -3", "0.1 + 0.2 != 0.3",
    "'a' + 'b' == 'ab'", "'n' + 1 == 'n1'", "1 + 'n' == '1n'", "'x' + 0.5 == 'x0.5'", "'x' + 2.0 == 'x2'",
    "1 + 2 + 'a' == '3a'", "'a' + 1 + 2 == 'a12'",
    # strict equality: no coercion
    "1 == 1.0", "1 === 1", "'1' != 1", "1 !== '1'", "true != 1", "0 != false", "'' != false", "null == null",
    "null != false", "null != 0", "null != ''", "'a' == 'a'", "true == true", "false != true",
    # ordering
    "1 < 2", "2 <= 2", "3 > 2", "'a' < 'b'", "'B' < 'a'", "'abc' >= 'abc'", "'10' < '9'",
    # logic
    "true && true", "!false", "false || true", "!(1 > 2)", "true ? true : false", "false ? false : true",
    "true || 1 / 0 > 0", "!(false && 1 / 0 > 0)",
    # division by zero is NaN (Firebase), unequal to everything and neither above nor below anything
    "1 / 0 + '' == 'NaN'", "0 / 0 != 0 / 0", "!(1 / 0 > 2) && !(1 / 0 < 2) && !(1 / 0 == 1 / 0)",
    "-1 / 0 + '' == 'NaN'", "5 % 0 + '' == 'NaN'", "(1 / 0) * 0 + '' == 'NaN'",
    # past the largest double: Infinity, as doubles do
    "1e308 * 10 > 1e308", "1e308 * 10 + '' == 'Infinity'", "-1e308 * 10 + '' == '-Infinity'",
    "(1e308 * 10) % 2 + '' == 'NaN'", "5 % (1e308 * 10) == 5",
    # a property of null (signed out) or a missing one is null, not an error
    "auth.uid == null", "auth.uid !== 'eviluser'", "auth.foo.baz == null", "auth['foo'] == null",
    "!(auth.uid == 'x')", "'foo' != auth.foo",
    # x['name'] is x.name, for calls too
    "root['exists']() == false", "'abc'['length'] == 3", "'abc'['contains']('b')",
    # keys no stored node can have name a child that does not exist
    "!root.child('banned/bob@example.com').exists()", "root.child('a.b#c$d[e]').val() == null",
    "!root.hasChild('x.y')", "!root.hasChildren(['x.y'])",
    # strings
    "'hello'.length == 5", "''.length == 0", "'😀'.length == 2", "'é'.length == 1",
    "'hello'.contains('ell')", "!'hello'.contains('xyz')", "'hello'.contains('')",
    "'hello'.beginsWith('he')", "'hello'.endsWith('lo')", "!'hello'.beginsWith('lo')",
    "'a-b-c'.replace('-', '+') == 'a+b+c'", "'aaa'.replace('a', 'b') == 'bbb'", "'abc'.replace('x', 'y') == 'abc'",
    "'MiXeD'.toLowerCase() == 'mixed'", "'MiXeD'.toUpperCase() == 'MIXED'",
    "'foobar'.matches(/^foo/)", "!'barfoo'.matches(/^foo/)", "'2024-01-31'.matches(/^\\d{4}-\\d{2}-\\d{2}$/)",
    "'ANN@Example.com'.matches(/^[a-z]+@[a-z]+\\.[a-z]{2,4}$/i)", "!'ann@example.com\\n'.matches(/^[a-z@.]+$/)",
    "'a.b'.matches(/a\\.b/)", "!'axb'.matches(/a\\.b/)",
    # variables
    "now == 1700000000000", "now > 0",
]


@pytest.mark.parametrize("expression", TRUE_EXPRESSIONS)
def test_expression_is_true(run, expression):
    assert run(expression, now=1700000000000) is True


FALSE_EXPRESSIONS = [
    "1 == '1'", "true == 1", "0 == false", "null == false", "null == 0", "'a' > 'b'", "2 < 1", "false && true",
    "true ? false : true", "'abc'.contains('d')",
]


@pytest.mark.parametrize("expression", FALSE_EXPRESSIONS)
def test_expression_is_false(run, expression):
    assert run(expression) is False


# Each of these fails while evaluating; a failing rule is false, and so is its negation.
ERRORS = [
    "auth.uid.contains('u')",                   # a method of null (unauthenticated)
    "auth.uid.length > 0",                      # null > 0 (null's length is null)
    "'users/' + auth.uid == 'users/'",          # string + null
    "-auth.foo == -1",                          # unary minus on null
    "auth.token.admin > 1",                     # null > 1
    "data.val().length > 0",                    # idem (no data)
    "data.val().contains('x')",                 # method of null
    "data.child('missing').val() + 1 > 0",      # null + 1
    "data.child('s').val() < 1",                # string < number
    "data.child('n').val() > 'a'",              # number > string
    "data.child('n').val() - data.child('s').val() == 0",  # arithmetic on a string
    "data.child('b').val() && true",            # && on a non-boolean
    "!data.child('s').val()",                   # ! on a non-boolean
    "data.child('n').val() ? true : false",     # ?: on a non-boolean
    "data.child('s').val()",                    # rule result not a boolean
    "data.child(data.child('n').val()).exists()",  # child() of a number
    "data.child('').exists()",                  # empty path (Firebase's answer was not recorded)
    "data.child('/').exists()",
    "root.parent().exists()",                   # the root has no parent
    "data.child('obj').val() + '' == 'x'",      # val() of an object is opaque
    "data.child('n').val().length > 0",         # a number has no length
    "data.child('n').val().contains('5')",      # nor string methods
    "root.child('n').val() / 0 > 0 || root.child('s').val() / 0 > 0",  # still a string / 0
    "data.child('s').val().contains(data.child('n').val())",  # wrong argument type
    "data.hasChildren([data.child('n').val()])",  # child names must be strings
    "-data.child('s').val() < 0",               # unary minus on a string
]


@pytest.mark.parametrize("expression", ERRORS)
def test_an_error_makes_the_rule_false_and_so_does_its_negation(run, expression):
    root = {"n": 5, "s": "text", "b": "yes", "obj": {"x": 1}}
    assert run(expression, root=root) is False
    assert run(f"!({expression})", root=root) is False


def test_only_null_and_objects_have_any_property(run):
    auth = {"uid": "u", "provider": "custom", "token": {"flag": True, "name": "ann"}}
    assert run("auth.token.missing.nope == null && auth.token.name.length == 3", auth=auth) is True
    for expression in ("auth.token.flag.nope == null", "auth.token.name.nope == null"):
        assert run(expression, auth=auth) is False
        assert run(f"!({expression})", auth=auth) is False


def test_short_circuit_skips_the_failing_side(run):
    assert run("auth == null || auth.uid == 'x'") is True
    assert run("auth != null && auth.uid == 'x'") is False
    assert run("!(auth != null && auth.uid == 'x')") is True


def test_an_error_on_the_left_of_or_is_not_rescued(run):
    assert run("auth.uid.contains('x') || true") is False


def test_val_of_an_object_equals_nothing(run):
    root = {"a": {"x": 1}, "b": {"x": 1}}
    assert run("data.child('a').val() == data.child('b').val()", root=root) is False
    assert run("data.child('a').val() != null", root=root) is True


@pytest.mark.parametrize("expression, auth", [
    ("auth == null", None),
    ("auth != null && auth.uid == 'u1'", {"uid": "u1", "provider": "anonymous", "token": {}}),
    ("auth.provider == 'anonymous'", {"uid": "u1", "provider": "anonymous", "token": {}}),
    ("auth.token.agent === true", {"uid": "a", "provider": "custom", "token": {"agent": True}}),
    ("auth.token.agent != true", {"uid": "u", "provider": "anonymous", "token": {}}),
    ("auth.token.email_verified == true && auth.token.email.endsWith('@example.com')",
     {"uid": "u", "provider": "password", "token": {"email": "a@example.com", "email_verified": True}}),
    ("auth.token.firebase.sign_in_provider == 'anonymous'",
     {"uid": "u", "provider": "anonymous", "token": {"firebase": {"sign_in_provider": "anonymous"}}}),
    ("auth.token['firebase']['sign_in_provider'] == 'anonymous'",
     {"uid": "u", "provider": "anonymous", "token": {"firebase": {"sign_in_provider": "anonymous"}}}),
    ("auth.token.missing == null", {"uid": "u", "provider": "anonymous", "token": {}}),
])
def test_auth_variable(run, expression, auth):
    assert run(expression, auth=auth) is True


def test_wildcards_are_strings_captured_from_the_path(run):
    assert run("$id == 'abc' && $id.beginsWith('a') && $id.length == 3", wildcards={"$id": "abc"}) is True
    assert run("$n == '5' && $n != 5", wildcards={"$n": "5"}) is True


def test_root_is_the_tree_before_the_write(run):
    root = {"users": {"u1": {"admin": True}}, "x": 1}
    assert run("root.child('users/' + auth.uid + '/admin').val() == true", root=root, auth={"uid": "u1"}) is True
    assert run("root.child('x').val() == 1 && newData.val() == 2", root=root, location=("x",),
               sets=[(("x",), 2)]) is True


def _query(**params):
    return parse_query({name: value for name, value in params.items()})


@pytest.mark.parametrize("expression, query", [
    # a plain read is ordered by key (recorded against Firebase)
    ("query.orderByKey && !query.orderByValue && !query.orderByPriority && query.orderByChild == null"
     " && query.startAt == null && query.endAt == null && query.equalTo == null"
     " && query.limitToFirst == null && query.limitToLast == null", None),
    ("query.orderByChild == 'uid' && query.equalTo == 'u1' && !query.orderByKey",
     _query(orderBy='"uid"', equalTo='"u1"')),
    ("query.orderByChild == 'a/b' && query.startAt == 3 && query.endAt == 9 && query.limitToLast == 5",
     _query(orderBy='"a/b"', startAt="3", endAt="9", limitToLast="5")),
    ("query.orderByKey && query.orderByChild == null && query.limitToFirst <= 100",
     _query(orderBy='"$key"', limitToFirst="100")),
    ("query.orderByValue && query.startAt == true", _query(orderBy='"$value"', startAt="true")),
    ("query.orderByPriority && query.endAt == 'p'", _query(orderBy='"$priority"', endAt='"p"')),
])
def test_query_variable_describes_the_read(run, expression, query):
    assert run(expression, kind=".read", query=query) is True


@pytest.mark.parametrize("value, text", [
    (1, "1"), (-2, "-2"), (0.5, "0.5"), (2.0, "2"), (1e21, "1e+21"), (1.5e22, "1.5e+22"), (1e-6, "0.000001"),
    (1e-7, "1e-7"), (-0.25, "-0.25"), (123.456, "123.456"),
    (float("nan"), "NaN"), (float("inf"), "Infinity"), (float("-inf"), "-Infinity"),
])
def test_numbers_concatenate_as_javascript_writes_them(value, text):
    assert js_number_text(value) == text
