"""Run a checked rule: the syntax tree is compiled once into nested closures over an `Env`.

Values are JSON primitives, `Snapshot`s, objects (auth, auth.token, query) as dicts, compiled regexes
and arrays (hasChildren's argument). Any error while evaluating - a type mismatch, a method called on
null, a missing parent - makes the whole rule false (`evaluate` never raises), as Firebase does.
What is not an error, because production Firebase does not make it one (see `members`): a property
of null (null), a child path with characters keys cannot hold (a child that does not exist), and
division by zero (NaN). `x["name"]` is `x.name`, so `root["exists"]()` calls exists().
Each condition (an operand of && or ||, the test of ? :) counts its runs and results on a `Probe`,
and `evaluate` counts the rule's, for the coverage report.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Callable

from emulator.rules.members import call, fail, index, is_number, member, number, utf16
from emulator.rules.parser import (Array, Binary, Call, Conditional, Index, Literal, Logical, Member, Node,
                                   Regex, Unary, Var, method_name)
from emulator.rules.probes import Probe, Probes
from emulator.rules.regex import RulesRegex
from emulator.rules.snapshot import Snapshot

Compiled = Callable[["Env"], object]
# JavaScript writes a number in plain decimal when its decimal point falls in this range
# (the point's position counted from the first significant digit; ECMA-262 Number::toString).
_JS_PLAIN_POINTS = range(-5, 22)
_PRIMITIVES = (type(None), bool, int, float, str)


@dataclass
class Env:
    """The variables a rule sees."""

    auth: dict | None
    now: int
    root: Snapshot
    data: Snapshot
    new_data: Snapshot | None = None
    query: dict | None = None
    wildcards: dict[str, str] = field(default_factory=dict)


def compile_rule(node: Node, probes: Probes | None = None) -> Compiled:
    """Turn a checked syntax tree into a function of an Env.

    Args:
      node: the checked tree.
      probes: collects a Probe per condition, which the compiled function counts on (None: not kept).
    """
    return _COMPILERS[type(node)](node, Probes("") if probes is None else probes)


def evaluate(rule: Compiled, env: Env, probe: Probe | None = None) -> bool:
    """True only if the rule runs without error and yields exactly true; the run is counted on `probe`."""
    try:
        value = rule(env)
    except Exception:  # noqa: BLE001 - any failure inside a rule denies, as in Firebase
        value = None
    if probe is not None:
        probe.runs += 1
        if value is True:
            probe.true += 1
        elif value is False:
            probe.false += 1
    return value is True


def js_number_text(value) -> str:
    """A number as JavaScript's String(n) writes it (for "text" + number)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"
    if isinstance(value, int) or value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    _, digits, exponent = Decimal(repr(abs(value))).normalize().as_tuple()
    text, point = "".join(map(str, digits)), len(digits) + exponent
    sign = "-" if value < 0 else ""
    if point in _JS_PLAIN_POINTS:
        return sign + (text[:point] + "." + text[point:] if point > 0 else "0." + "0" * -point + text)
    mantissa, power = text[0] + ("." + text[1:] if len(text) > 1 else ""), point - 1
    return f"{sign}{mantissa}e{'+' if power > 0 else '-'}{abs(power)}"


def _equal(a, b) -> bool:
    """Strict equality (Firebase's == is JavaScript's ===); objects and arrays equal nothing."""
    for side in (a, b):
        if isinstance(side, (Snapshot, RulesRegex)):
            fail("only values can be compared")
    if not (isinstance(a, _PRIMITIVES) and isinstance(b, _PRIMITIVES)):
        return False
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
        return type(a) is type(b) and a == b
    return isinstance(a, str) == isinstance(b, str) and a == b


def _add(a, b):
    if is_number(a) and is_number(b):
        return number(a + b)
    if isinstance(a, str) and isinstance(b, str):
        return a + b
    if isinstance(a, str) and is_number(b):
        return a + js_number_text(b)
    if is_number(a) and isinstance(b, str):
        return js_number_text(a) + b
    return fail("+ takes numbers or strings")


def _arithmetic(op):
    def apply(a, b):
        if not (is_number(a) and is_number(b)):
            fail("arithmetic takes numbers")
        return number(op(a, b))
    return apply


def _divide(a, b):
    if b == 0:  # NaN whatever the dividend: recorded, `1/0 > 2` and `1/0 < 2` are both false in Firebase
        return math.nan
    return a / b


def _remainder(a, b):
    if b == 0 or not math.isfinite(a):
        return math.nan
    if isinstance(a, int) and isinstance(b, int):
        rest = abs(a) % abs(b)
        return -rest if a < 0 else rest
    return math.fmod(a, b)


def _ordering(op):
    def apply(a, b):
        if is_number(a) and is_number(b):
            return op(a, b)
        if isinstance(a, str) and isinstance(b, str):
            return op(utf16(a), utf16(b))
        return fail("only two numbers or two strings can be ordered")
    return apply


_BINARY = {
    "+": _add, "-": _arithmetic(operator.sub), "*": _arithmetic(operator.mul),
    "/": _arithmetic(_divide), "%": _arithmetic(_remainder),
    "<": _ordering(operator.lt), "<=": _ordering(operator.le),
    ">": _ordering(operator.gt), ">=": _ordering(operator.ge),
    "==": _equal, "===": _equal, "!=": lambda a, b: not _equal(a, b), "!==": lambda a, b: not _equal(a, b),
}


def _compile_var(node: Var, _probes: Probes) -> Compiled:
    name = node.name
    if name.startswith("$"):
        return lambda env: env.wildcards[name]
    attribute = {"newData": "new_data"}.get(name, name)
    return operator.attrgetter(attribute)


def _compile_unary(node: Unary, probes: Probes) -> Compiled:
    operand = compile_rule(node.operand, probes)
    if node.op == "!":
        def negate(env):
            value = operand(env)
            return (not value) if isinstance(value, bool) else fail("! takes a boolean")
        return negate

    def minus(env):
        value = operand(env)
        return number(-value) if is_number(value) else fail("- takes a number")
    return minus


def _compile_logical(node: Logical, probes: Probes) -> Compiled:
    operands = [(compile_rule(operand, probes), probes.add(operand)) for operand in node.operands]
    decisive = node.op == "||"  # the value that ends the evaluation early

    def logical(env):
        for operand, probe in operands:
            probe.runs += 1
            value = operand(env)
            if value is True:
                probe.true += 1
            elif value is False:
                probe.false += 1
            else:
                fail(f"{node.op} takes booleans")
            if value is decisive:
                return decisive
        return not decisive
    return logical


def _compile_conditional(node: Conditional, probes: Probes) -> Compiled:
    test, probe = compile_rule(node.test, probes), probes.add(node.test)
    then, otherwise = compile_rule(node.then, probes), compile_rule(node.otherwise, probes)

    def conditional(env):
        probe.runs += 1
        chosen = test(env)
        if chosen is True:
            probe.true += 1
            return then(env)
        if chosen is False:
            probe.false += 1
            return otherwise(env)
        return fail("? needs a boolean")
    return conditional


def _compile_binary(node: Binary, probes: Probes) -> Compiled:
    left, right, apply = compile_rule(node.left, probes), compile_rule(node.right, probes), _BINARY[node.op]
    return lambda env: apply(left(env), right(env))


def _compile_call(node: Call, probes: Probes) -> Compiled:
    obj, name = compile_rule(node.callee.obj, probes), method_name(node.callee)
    args = [compile_rule(arg, probes) for arg in node.args]
    return lambda env: call(obj(env), name, [arg(env) for arg in args])


def _compile_member(node: Member, probes: Probes) -> Compiled:
    obj, name = compile_rule(node.obj, probes), node.name
    return lambda env: member(obj(env), name)


def _compile_index(node: Index, probes: Probes) -> Compiled:
    obj, position = compile_rule(node.obj, probes), compile_rule(node.index, probes)
    return lambda env: index(obj(env), position(env))


def _compile_array(node: Array, probes: Probes) -> Compiled:
    items = [compile_rule(item, probes) for item in node.items]
    return lambda env: [item(env) for item in items]


def _compile_constant(value) -> Compiled:
    return lambda env: value


_COMPILERS: dict[type, Callable[[Node, Probes], Compiled]] = {
    Literal: lambda node, _probes: _compile_constant(node.value),
    Regex: lambda node, _probes: _compile_constant(node.pattern),
    Var: _compile_var, Unary: _compile_unary, Logical: _compile_logical, Conditional: _compile_conditional,
    Binary: _compile_binary, Call: _compile_call, Member: _compile_member, Index: _compile_index,
    Array: _compile_array,
}
