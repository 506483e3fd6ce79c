"""The rules document (`{"rules": {...}}`) turned into a tree of `RulesNode`s, or a located error.

Every rule is parsed, checked and compiled here, once; an invalid file raises `RulesError` naming
the line and column of the offending key, value, or character inside an expression. Each rule keeps
the coverage probes of its expression, located in the rules source.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from emulator import values
from emulator.rules import checker, jsonsource
from emulator.rules.errors import RulesError, Source
from emulator.rules.evaluator import Compiled, compile_rule
from emulator.rules.jsonsource import JsonValue
from emulator.rules.lexer import ExpressionError
from emulator.rules.parser import parse
from emulator.rules.probes import Probe, Probes

READ, WRITE, VALIDATE = checker.READ, checker.WRITE, checker.VALIDATE
INDEX_ON = ".indexOn"
RULES_KEY = "rules"
_RULE_KINDS = (READ, WRITE, VALIDATE)
_WILDCARD_PREFIX = "$"


@dataclass
class Rule:
    """One compiled rule, its text (quoted in denial reasons) and its coverage counters."""

    source: str
    run: Compiled
    probe: Probe


@dataclass
class RulesNode:
    """The rules at one level of the tree: its own rules, .indexOn, named children and a $wildcard."""

    rules: dict[str, Rule] = field(default_factory=dict)
    index_on: list[str] = field(default_factory=list)
    children: dict[str, "RulesNode"] = field(default_factory=dict)
    wildcard: tuple[str, "RulesNode"] | None = None

    def descend(self, key: str, captures: dict[str, str]) -> tuple["RulesNode | None", dict[str, str]]:
        """The rules for child `key` (a named child wins over the $wildcard) and the captures there."""
        named = self.children.get(key)
        if named is not None:
            return named, captures
        if self.wildcard is None:
            return None, captures
        name, node = self.wildcard
        return node, {**captures, name: key}


def build(text: str) -> RulesNode:
    """Parse a rules document into the root RulesNode.

    Raises:
      RulesError: the document is not valid rules JSON; the message names line and column.
    """
    source = Source(text)
    document = jsonsource.read(source)
    if document.kind != "object":
        raise source.error(document.offset, f'Invalid rules document: {_shown(document)}. '
                                            'The document must be an object with a "rules" key.')
    for key in document.value:
        if key != RULES_KEY:
            raise source.error(document.key_offsets[key], f'Invalid key: "{key}". '
                                                          'The document may only contain "rules".')
    if RULES_KEY not in document.value:
        raise source.error(document.offset, 'Invalid rules document: no "rules" key. '
                                            'The document must be an object with a "rules" key.')
    return _Builder(source).node(document.value[RULES_KEY], (), "/")


def _join(path: str, key: str) -> str:
    return f"{path.rstrip('/')}/{key}"


def _shown(value: JsonValue) -> str:
    if value.kind in ("object", "array"):
        return f"an {value.kind}"
    return json.dumps(value.value, ensure_ascii=False)


class _Builder:
    def __init__(self, source: Source):
        self.source = source

    def fail(self, offset: int, detail: str) -> RulesError:
        return self.source.error(offset, detail)

    def node(self, value: JsonValue, wildcards: tuple[str, ...], path: str) -> RulesNode:
        if value.kind != "object":
            raise self.fail(value.offset, f'Invalid rules for "{path}": {_shown(value)}. '
                                          "Expected an object of rules and children.")
        node = RulesNode()
        for key, child in value.value.items():
            offset = value.key_offsets[key]
            if key in _RULE_KINDS:
                node.rules[key] = self.rule(key, child, wildcards)
            elif key == INDEX_ON:
                node.index_on = self.index_on(child)
            elif key.startswith("."):
                raise self.fail(offset, f'Invalid key: "{key}". Rule keys are .read, .write, .validate and .indexOn.')
            elif key.startswith(_WILDCARD_PREFIX):
                self.check_wildcard(node, key, wildcards, offset)
                node.wildcard = (key, self.node(child, wildcards + (key,), _join(path, key)))
            elif not values.is_valid_key(key):
                raise self.fail(offset, f'Invalid key: "{key}". Child names cannot be empty or contain '
                                        ". $ # [ ] / or control characters.")
            else:
                node.children[key] = self.node(child, wildcards, _join(path, key))
        return node

    def check_wildcard(self, node: RulesNode, key: str, wildcards: tuple[str, ...], offset: int) -> None:
        if not values.is_valid_key(key[1:]):
            raise self.fail(offset, f'Invalid wildcard: "{key}". A wildcard is "$" followed by a name '
                                    "without . $ # [ ] / or control characters.")
        if node.wildcard is not None:
            raise self.fail(offset, f'Invalid wildcard: "{key}". Only one $wildcard is allowed per level, '
                                    f'and "{node.wildcard[0]}" is already defined here.')
        if key in wildcards:
            raise self.fail(offset, f'Invalid wildcard: "{key}". It is already defined above; '
                                    "give nested wildcards distinct names.")

    def rule(self, kind: str, value: JsonValue, wildcards: tuple[str, ...]) -> Rule:
        if value.kind == "boolean":
            constant, text = value.value, json.dumps(value.value)
            return Rule(text, lambda env: constant, Probe(value.offset, value.offset + len(text), text))
        if value.kind != "string":
            raise self.fail(value.offset, f'Invalid "{kind}": {_shown(value)}. '
                                          "A rule must be a boolean or a string expression.")
        text, probes = value.value, Probes(value.value)
        try:
            tree = parse(text)
            checker.check(tree, kind, frozenset(wildcards))
        except ExpressionError as exc:
            offset = value.char_offsets[min(exc.offset, len(value.char_offsets) - 1)]
            raise self.fail(offset, f'{exc.detail} in "{kind}": {json.dumps(text, ensure_ascii=False)}. '
                                    f"{exc.hint}.") from None
        run = compile_rule(tree, probes)
        probe = probes.tree(tree)
        probe.relocate(value.char_offsets.__getitem__)
        return Rule(text, run, probe)

    def index_on(self, value: JsonValue) -> list[str]:
        rule = ".indexOn must be a child name or an array of child names."
        if value.kind not in ("string", "array"):
            raise self.fail(value.offset, f'Invalid ".indexOn": {_shown(value)}. {rule}')
        items = [value] if value.kind == "string" else value.value
        for item in items:
            if item.kind != "string" or not item.value:
                raise self.fail(item.offset, f'Invalid ".indexOn" entry: {_shown(item)}. {rule}')
        return [item.value for item in items]
