"""Load-time checks of a parsed rule: known variables, methods and argument counts, boolean result.

Firebase type-checks rules when they are deployed; this does the part that can be known without
data (a snapshot is never a number, `newData` does not exist in `.read`, ...). Whatever depends on
the data is left to evaluation, where an error makes the rule false. Where recordings of what
Firebase refuses to deploy exist (the README's Security rules section), the checks follow them:

- `val()` gives a primitive (string, number, boolean or null), never an object, so only a string's
  members can follow it: `root.val().notFound` is refused, `data.val().length` is not. `auth` and
  its members are objects whose shape only evaluation knows, so `auth.foo.bar` loads.
- Every way a rule can end must be a boolean (or unknown until evaluation): `x ? 7 : true` is
  refused, as a number is a possible result; the same holds for an operand of `&&`, `||` and `!`.
- `x["name"]` with a string literal is `x.name`: `root["exists"]()` loads, `root[$k]()` does not.
- Ordering (`<`, `<=`, `>`, `>=`) takes numbers or strings: `root.val() > true` is refused (recorded);
  `data.val() > null` is refused too, by the same rule (Firebase's verdict on it was not recorded).
"""

from __future__ import annotations

from emulator.rules.lexer import ExpressionError
from emulator.rules.parser import (Array, Binary, Call, Conditional, Index, Literal, Logical, Member, Node,
                                   Regex, Unary, Var, method_name)

READ, WRITE, VALIDATE = ".read", ".write", ".validate"
# Static types; ANY is whatever only evaluation can tell (auth's members, getPriority(), ...).
ANY, BOOLEAN, NUMBER, STRING, NULL, SNAPSHOT, QUERY = "any", "boolean", "number", "string", "null", "snapshot", "query"
# What val() gives: a string, number, boolean or null, known only when the rule runs, but never an object.
PRIMITIVE = "primitive"
# Types whose value only evaluation knows: every operator accepts them at load time.
_UNKNOWN = frozenset({ANY, PRIMITIVE})
# name -> (fewest arguments, most arguments, result type)
SNAPSHOT_METHODS = {
    "val": (0, 0, PRIMITIVE), "child": (1, 1, SNAPSHOT), "parent": (0, 0, SNAPSHOT), "hasChild": (1, 1, BOOLEAN),
    "hasChildren": (0, 1, BOOLEAN), "exists": (0, 0, BOOLEAN), "getPriority": (0, 0, ANY),
    "isNumber": (0, 0, BOOLEAN), "isString": (0, 0, BOOLEAN), "isBoolean": (0, 0, BOOLEAN),
}
STRING_METHODS = {
    "contains": (1, 1, BOOLEAN), "beginsWith": (1, 1, BOOLEAN), "endsWith": (1, 1, BOOLEAN),
    "replace": (2, 2, STRING), "toLowerCase": (0, 0, STRING), "toUpperCase": (0, 0, STRING),
    "matches": (1, 1, BOOLEAN),
}
STRING_PROPERTIES = {"length": NUMBER}
QUERY_PROPERTIES = {
    "orderByKey": BOOLEAN, "orderByPriority": BOOLEAN, "orderByValue": BOOLEAN, "orderByChild": ANY,
    "startAt": ANY, "endAt": ANY, "equalTo": ANY, "limitToFirst": ANY, "limitToLast": ANY,
}
VARIABLES = {"auth": ANY, "now": NUMBER, "root": SNAPSHOT, "data": SNAPSHOT, "newData": SNAPSHOT, "query": QUERY}
_METHODS = {SNAPSHOT: SNAPSHOT_METHODS, STRING: STRING_METHODS, PRIMITIVE: STRING_METHODS}
_ONLY_IN = {"newData": (WRITE, VALIDATE), "query": (READ,)}
_COMPARABLE = frozenset({NUMBER, STRING, ANY})
_WILDCARDS_HINT = "Only the $wildcards on the path to this rule are defined"
_VARIABLES_HINT = "Variables are auth, now, root, data, newData, query and the $wildcards on the path to this rule"


def check(node: Node, kind: str, wildcards: frozenset[str]) -> None:
    """Check a parsed rule for `kind` (.read, .write or .validate) under the given $wildcards.

    Raises:
      ExpressionError: at the offending sub-expression.
    """
    _Checker(kind, wildcards).result(node)


def _fail(node: Node, detail: str, hint: str) -> ExpressionError:
    return ExpressionError(node.offset, detail, hint)


class _Checker:
    def __init__(self, kind: str, wildcards: frozenset[str]):
        self.kind = kind
        self.wildcards = wildcards

    def type_of(self, node: Node) -> str:
        handler = getattr(self, "_" + type(node).__name__.lower())
        return handler(node)

    def expect(self, node: Node, allowed: set | frozenset, what: str) -> str:
        """The type of `node`, refused unless it is in `allowed`; each branch of a ? : on its own."""
        if isinstance(node, Conditional):
            self.expect(node.test, {BOOLEAN}, 'a boolean before "?"')
            then, otherwise = self.expect(node.then, allowed, what), self.expect(node.otherwise, allowed, what)
            return then if then == otherwise else ANY
        return _require(node, self.type_of(node), allowed, what)

    def result(self, node: Node) -> None:
        """Refuse a rule that can end with something other than a boolean (each ? : branch checked)."""
        if isinstance(node, Conditional):
            self.expect(node.test, {BOOLEAN}, 'a boolean before "?"')
            self.result(node.then)
            self.result(node.otherwise)
            return
        found = self.type_of(node)
        if found != BOOLEAN and found not in _UNKNOWN:
            raise _fail(node, f"Rule evaluates to {_a(found)}", "A rule must evaluate to a boolean")

    def _literal(self, node: Literal) -> str:
        value = node.value
        if value is None:
            return NULL
        if isinstance(value, bool):
            return BOOLEAN
        return STRING if isinstance(value, str) else NUMBER

    def _regex(self, node: Regex) -> str:
        raise _fail(node, "Unexpected regular expression", "A regex literal can only be the argument of matches()")

    def _array(self, node: Array) -> str:
        raise _fail(node, "Unexpected array", "An array literal can only be the argument of hasChildren()")

    def _var(self, node: Var) -> str:
        name = node.name
        if name.startswith("$"):
            if name not in self.wildcards:
                raise _fail(node, f'Unknown wildcard "{name}"', _WILDCARDS_HINT)
            return STRING
        if name not in VARIABLES:
            raise _fail(node, f'Unknown variable "{name}"', _VARIABLES_HINT)
        if self.kind not in _ONLY_IN.get(name, (self.kind,)):
            kinds = " and ".join(_ONLY_IN[name])
            raise _fail(node, f'Invalid variable "{name}"', f"{name} is only defined in {kinds} rules")
        return VARIABLES[name]

    def _unary(self, node: Unary) -> str:
        if node.op == "!":
            self.expect(node.operand, {BOOLEAN}, 'a boolean after "!"')
            return BOOLEAN
        self.expect(node.operand, {NUMBER}, 'a number after "-"')
        return NUMBER

    def _logical(self, node: Logical) -> str:
        for operand in node.operands:
            self.expect(operand, {BOOLEAN}, f'booleans on both sides of "{node.op}"')
        return BOOLEAN

    def _binary(self, node: Binary) -> str:
        op = node.op
        sides = ((node.left, self.type_of(node.left)), (node.right, self.type_of(node.right)))
        if op in ("==", "!=", "===", "!=="):
            for side, found in sides:
                if found in (SNAPSHOT, QUERY):
                    raise _fail(side, f'Invalid comparison: "{op}" with {_a(found)}',
                                "Compare values, e.g. call val() on a snapshot")
            return BOOLEAN
        numeric = op in ("-", "*", "/", "%")
        allowed, what = ({NUMBER}, "numbers") if numeric else (_COMPARABLE, "numbers or strings")
        for side, found in sides:
            _require(side, found, allowed, f'{what} on both sides of "{op}"')
        (_, left), (_, right) = sides
        if numeric:
            return NUMBER
        if op == "+":
            return STRING if STRING in (left, right) else NUMBER if left == right == NUMBER else ANY
        if not _UNKNOWN & {left, right} and left != right:
            raise _fail(node, f'Invalid comparison: {_a(left)} "{op}" {_a(right)}',
                        "Compare two numbers or two strings")
        return BOOLEAN

    def _conditional(self, node: Conditional) -> str:
        self.expect(node.test, {BOOLEAN}, 'a boolean before "?"')
        then, otherwise = self.type_of(node.then), self.type_of(node.otherwise)
        return then if then == otherwise else ANY

    def _member(self, node: Member) -> str:
        return self.property(node, self.type_of(node.obj), node.name)

    def property(self, node: Node, owner: str, name: str) -> str:
        """The type of property `name` of a value of type `owner` (read, not called)."""
        if owner == ANY:
            return ANY
        properties = {STRING: STRING_PROPERTIES, PRIMITIVE: STRING_PROPERTIES, QUERY: QUERY_PROPERTIES}.get(owner, {})
        if name in properties:
            return properties[name]
        if name in _METHODS.get(owner, {}):
            raise _fail(node, f'Invalid property "{name}" of {_a(owner)}', f"{name} is a method: call it, {name}()")
        raise _fail(node, f'Invalid property "{name}" of {_a(owner)}', _members_hint(owner))

    def _index(self, node: Index) -> str:
        owner, name = self.type_of(node.obj), method_name(node)
        self.expect(node.index, {STRING, NUMBER}, "a string or a number inside [ ]")
        if owner == SNAPSHOT and name not in SNAPSHOT_METHODS:
            raise _fail(node, "Invalid [ ] on a snapshot", "Use child() to reach a snapshot's children")
        if name is not None:  # x["name"] is x.name
            return self.property(node, owner, name)
        if owner not in (ANY, PRIMITIVE, QUERY):
            raise _fail(node, f"Invalid [ ] on {_a(owner)}", "Only objects such as auth.token can be indexed")
        return ANY

    def _call(self, node: Call) -> str:
        callee, name = node.callee, method_name(node.callee)
        if name is None:
            raise _fail(node, "Invalid call", "Only methods can be called, e.g. data.child('x').val() or "
                                              "data['child']('x').val()")
        owner = self.type_of(callee.obj)
        tables = {SNAPSHOT: (SNAPSHOT_METHODS,), STRING: (STRING_METHODS,), PRIMITIVE: (STRING_METHODS,),
                  ANY: (SNAPSHOT_METHODS, STRING_METHODS)}.get(owner, ())
        table = next((t for t in tables if name in t), None)
        if table is None:
            raise _fail(callee, f'Unknown method "{name}" of {_a(owner)}', _members_hint(owner))
        fewest, most, result = table[name]
        if not fewest <= len(node.args) <= most:
            count = str(fewest) if fewest == most else f"{fewest} to {most}"
            raise _fail(node, f"Invalid call of {name}(): {len(node.args)} arguments", f"{name}() takes {count}")
        self.check_arguments(name, node.args)
        return result

    def check_arguments(self, name: str, args: list[Node]) -> None:
        if name == "matches":
            if not isinstance(args[0], Regex):
                raise _fail(args[0], "Invalid argument of matches()", "Pass a regex literal, e.g. matches(/^[a-z]+$/)")
        elif name == "hasChildren" and args:
            if not isinstance(args[0], Array):
                raise _fail(args[0], "Invalid argument of hasChildren()",
                            "Pass an array literal, e.g. hasChildren(['a', 'b'])")
            for item in args[0].items:
                self.expect(item, {STRING}, "child names (strings) in hasChildren([...])")
        else:
            for arg in args:
                self.expect(arg, {STRING}, f"strings as the arguments of {name}()")


def _require(node: Node, found: str, allowed: set | frozenset, what: str) -> str:
    if found not in allowed and found not in _UNKNOWN:
        raise _fail(node, f"Invalid operand: {_a(found)}", f"Expected {what}")
    return found


def _members_hint(owner: str) -> str:
    string_members = [*STRING_PROPERTIES, *(f"{m}()" for m in STRING_METHODS)]
    members = {SNAPSHOT: [f"{m}()" for m in SNAPSHOT_METHODS], STRING: string_members,
               QUERY: list(QUERY_PROPERTIES)}.get(owner)
    if owner == PRIMITIVE:
        return ("val() gives a string, number, boolean or null, and only strings have members: "
                + ", ".join(string_members))
    if owner == ANY:
        return "Methods are those of snapshots and strings: " + ", ".join(
            f"{m}()" for m in (*SNAPSHOT_METHODS, *STRING_METHODS))
    if members is None:
        return f"{_a(owner).capitalize()} has no properties or methods"
    return f"{_a(owner).capitalize()} has " + ", ".join(members)


def _a(kind: str) -> str:
    """A static type as a phrase: "a snapshot", "null", "a value" (unknown until evaluation)."""
    return {ANY: "a value", NULL: "null", PRIMITIVE: "val()'s value"}.get(kind, f"a {kind}")
