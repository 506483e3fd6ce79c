"""Tests for emulator.rules.checker: what is refused when the rules load, before any data exists."""

import pytest

from emulator.rules import checker, members
from emulator.rules.checker import check
from emulator.rules.lexer import ExpressionError
from emulator.rules.parser import parse

REFUSED = [
    # (kind, expression, offset, start of the detail)
    (".read", "foo == 1", 0, 'Unknown variable "foo"'),
    (".read", "undefined == null", 0, 'Unknown variable "undefined"'),
    (".read", "$uid == auth.uid", 0, 'Unknown wildcard "$uid"'),
    (".read", "newData.exists()", 0, 'Invalid variable "newData"'),
    (".write", "query.limitToFirst < 10", 0, 'Invalid variable "query"'),
    (".validate", "query.orderByKey", 0, 'Invalid variable "query"'),
    (".read", "data.foo()", 5, 'Unknown method "foo" of a snapshot'),
    (".read", "data.exists", 5, 'Invalid property "exists" of a snapshot'),
    (".read", "data.length > 1", 5, 'Invalid property "length" of a snapshot'),
    (".read", "'abc'.size > 1", 6, 'Invalid property "size" of a string'),
    (".read", "'abc'.val() == 1", 6, 'Unknown method "val" of a string'),
    (".read", "auth.uid.nope()", 9, 'Unknown method "nope" of a value'),
    (".read", "query.orderBy == 'x'", 6, 'Invalid property "orderBy" of a query'),
    (".read", "now.x == 1", 4, 'Invalid property "x" of a number'),
    (".read", "data.child()", 10, "Invalid call of child(): 0 arguments"),
    (".read", "data.hasChildren('a', 'b')", 16, "Invalid call of hasChildren(): 2 arguments"),
    (".read", "data.hasChildren('a')", 17, "Invalid argument of hasChildren()"),
    (".read", "data.child(1).exists()", 11, "Invalid operand: a number"),
    (".read", "data.val().matches('a')", 19, "Invalid argument of matches()"),
    (".read", "auth.uid()", 5, 'Unknown method "uid" of a value'),
    (".read", "(auth)()", 6, "Invalid call"),
    (".read", "/a/ == 1", 0, "Unexpected regular expression"),
    (".read", "['a'] == 1", 0, "Unexpected array"),
    (".read", "data", 0, "Rule evaluates to a snapshot"),
    (".read", "now", 0, "Rule evaluates to a number"),
    (".read", "'yes'", 0, "Rule evaluates to a string"),
    (".read", "null", 0, "Rule evaluates to null"),
    (".read", "true ? 1 : 2", 7, "Rule evaluates to a number"),            # the branch that is not boolean
    (".read", "auth.x === 'one' ? 7 : true", 19, "Rule evaluates to a number"),
    (".read", "auth.x ? true : 'no'", 16, "Rule evaluates to a string"),
    (".read", "(auth.x ? 1 : true) && true", 10, "Invalid operand: a number"),
    (".read", "root.val().notFound == false", 11, 'Invalid property "notFound" of val()\'s value'),
    (".read", "data.val().contains", 11, 'Invalid property "contains" of val()\'s value'),
    (".read", "data.val().exists()", 11, 'Unknown method "exists" of val()\'s value'),
    (".read", "data.val().child('a').exists()", 11, 'Unknown method "child" of val()\'s value'),
    (".read", "root['exi' + 'sts']()", 19, "Invalid call"),
    (".read", "root[$k]()", 8, "Invalid call"),
    (".read", "root['nope']()", 4, 'Unknown method "nope" of a snapshot'),
    (".read", "root['exists'] == true", 4, 'Invalid property "exists" of a snapshot'),
    (".read", "auth['x']['nope']() == 1", 9, 'Unknown method "nope" of a value'),
    (".read", "'abc'['nope']('x')", 5, 'Unknown method "nope" of a string'),
    (".read", "data.val() > null", 13, "Invalid operand: null"),
    (".read", "root.val() > true", 13, "Invalid operand: a boolean"),
    (".read", "data == null", 0, 'Invalid comparison: "==" with a snapshot'),
    (".read", "!now", 1, "Invalid operand: a number"),
    (".read", "-'a' < 1", 1, "Invalid operand: a string"),
    (".read", "'a' && true", 0, "Invalid operand: a string"),
    (".read", "data + 1 > 2", 0, "Invalid operand: a snapshot"),
    (".read", "'a' * 2 > 1", 0, "Invalid operand: a string"),
    (".read", "'a' < 1", 4, 'Invalid comparison: a string "<" a number'),
    (".read", "data['a'].exists()", 4, "Invalid [ ] on a snapshot"),
    (".read", "'ab'[0] == 'a'", 4, "Invalid [ ] on a string"),
]


@pytest.mark.parametrize("kind, expression, offset, detail", REFUSED)
def test_rules_that_cannot_work_are_refused_at_load(kind, expression, offset, detail):
    with pytest.raises(ExpressionError) as caught:
        check(parse(expression), kind, frozenset())
    assert caught.value.detail.startswith(detail)
    assert caught.value.offset == offset
    assert caught.value.hint


ACCEPTED = [
    (".read", "auth != null && auth.uid == $uid"),
    (".read", "auth.token.agent === true"),
    (".read", "auth.token['firebase']['sign_in_provider'] == 'anonymous'"),
    (".read", "query.orderByChild == 'uid' && query.equalTo == auth.uid && query.limitToFirst <= 50"),
    (".write", "!data.exists() && newData.child('a/b').val() == now"),
    (".validate", "newData.isString() && newData.val().length <= 100"),
    (".validate", "newData.val().matches(/^[a-z]+$/i) && newData.val().toLowerCase().contains('x')"),
    (".validate", "newData.hasChildren() || newData.hasChildren(['a', $uid])"),
    (".validate", "root.child('users/' + auth.uid).exists() ? newData.val() > 0 : false"),
    (".validate", "newData.parent().parent().child('x').getPriority() == null"),
    (".validate", "data.val() + 1 > 2 || -now < 0 || now % 2 == 0"),
    (".validate", "auth.uid"),
    (".read", "auth.foo.baz == null && auth.uid !== 'x'"),      # auth's members are objects of unknown shape
    (".read", "root['exists']() == false"),                        # x["name"] is x.name
    (".read", "auth.token['email']['endsWith']('@x.com') && data['child']('a')['exists']()"),
    (".read", "data.val().length > 0 && data.val() > 1 && data.val() == true && data.val()"),
    (".read", "auth.x ? data.val() : auth.y"),
    (".read", "(1 / 0 + '') == 'NaN'"),
]


@pytest.mark.parametrize("kind, expression", ACCEPTED)
def test_valid_rules_pass_the_checks(kind, expression):
    check(parse(expression), kind, frozenset({"$uid"}))


def test_checker_and_evaluator_know_the_same_methods():
    assert set(checker.SNAPSHOT_METHODS) == set(members.SNAPSHOT_METHODS)
    assert set(checker.STRING_METHODS) == set(members.STRING_METHODS)
