"""Fixtures: evaluate one rules expression against a data tree, as a .read, .write or .validate rule."""

import pytest

from emulator.rules.checker import check
from emulator.rules.evaluator import Env, compile_rule, evaluate
from emulator.rules.parser import parse
from emulator.rules.ruleset import query_variable
from emulator.rules.snapshot import Snapshot, TreeView


def evaluate_expression(expression, *, kind=".validate", root=None, location=(), sets=(), auth=None, now=0,
                        query=None, wildcards=None):
    """Parse, check, compile and run `expression` with `data`/`newData` at `location`."""
    wildcards = dict(wildcards or {})
    tree = parse(expression)
    check(tree, kind, frozenset(wildcards))
    before, after = TreeView(root), TreeView(root, sets)
    env = Env(auth, now, Snapshot(before, ()), Snapshot(before, location),
              None if kind == ".read" else Snapshot(after, location),
              query_variable(query) if kind == ".read" else None, wildcards)
    return evaluate(compile_rule(tree), env)


@pytest.fixture
def run():
    """The expression evaluator: run(expression, root=..., sets=..., auth=..., ...) -> bool."""
    return evaluate_expression
