"""Tests for emulator.rules.probes: what each rule and condition counts, and where its text sits."""

import json

from emulator.rules import Context, RuleSet

U1 = {"uid": "u1", "provider": "anonymous", "token": {}}


def probes_of(ruleset: RuleSet) -> dict:
    """{(rule location, condition text): probe} for every rule and condition."""
    return {(path, probe.text): probe for path, rule in ruleset.rules() for probe in rule.probe.walk()}


def counts(probe) -> tuple[int, int, int, int]:
    return probe.runs, probe.true, probe.false, probe.errors


def test_rules_are_listed_with_their_locations_in_source_order():
    ruleset = RuleSet.parse(json.dumps({"rules": {
        "b": {"$id": {".write": "true", "x": {".validate": False}}}, ".read": True, "a": {".read": "false"}}}))
    assert [path for path, _ in ruleset.rules()] == ["/b/$id/.write", "/b/$id/x/.validate", "/.read", "/a/.read"]


def test_conditions_nest_under_the_condition_that_encloses_them():
    source = '{"rules": {".read": "auth != null && (auth.uid == \'a\' || !(auth.uid == \'b\')) ? true : false"}}'
    [(_, rule)] = RuleSet.parse(source).rules()

    def shape(probe):
        return [probe.text, [shape(child) for child in probe.children]]

    assert shape(rule.probe) == [
        "auth != null && (auth.uid == 'a' || !(auth.uid == 'b')) ? true : false", [
            ["auth != null && (auth.uid == 'a' || !(auth.uid == 'b'))", [
                ["auth != null", []],
                ["auth.uid == 'a' || !(auth.uid == 'b')", [["auth.uid == 'a'", []], ["!(auth.uid == 'b')", []]]],
            ]],
        ]]


def test_spans_point_into_the_source_even_through_json_escapes():
    source = '{\n  "rules": {\n    ".read": "auth.uid === \\"a\\" ||  auth.uid === \'\\u0062\'"\n  }\n}'
    [(_, rule)] = RuleSet.parse(source).rules()
    spans = [source[probe.start:probe.end] for probe in rule.probe.walk()]
    assert spans == ['auth.uid === \\"a\\" ||  auth.uid === \'\\u0062\'', 'auth.uid === \\"a\\"',
                     "auth.uid === '\\u0062'"]
    assert [probe.text for probe in rule.probe.walk()][1:] == ['auth.uid === "a"', "auth.uid === 'b'"]


def test_each_evaluation_counts_the_rule_and_the_conditions_it_reached():
    ruleset = RuleSet.parse(json.dumps({"rules": {"$k": {".read": "auth != null && auth.uid == $k"}}}))
    for auth, key in ((None, "u1"), (U1, "u1"), (U1, "u2"), (U1, "u1")):
        ruleset.can_read((key,), Context(auth, None, 0))
    probes = probes_of(ruleset)
    assert counts(probes["/$k/.read", "auth != null && auth.uid == $k"]) == (4, 2, 2, 0)
    assert counts(probes["/$k/.read", "auth != null"]) == (4, 3, 1, 0)
    assert counts(probes["/$k/.read", "auth.uid == $k"]) == (3, 2, 1, 0)  # short-circuited once


def test_a_failing_or_non_boolean_expression_counts_as_an_error():
    ruleset = RuleSet.parse(json.dumps({"rules": {
        ".write": True,
        "s": {".validate": "newData.val().length > 1 || newData.val() == 'x'"},
        "v": {".validate": "newData.exists() ? newData.val() : false"}}}))
    for value in ("abc", None, 5, "x"):
        ruleset.check_write([(("s",), value)], Context(U1, None, 0))
    ruleset.check_write([(("v",), 7)], Context(U1, None, 0))
    probes = probes_of(ruleset)
    # None deletes: .validate does not run. 5 has no length: an error in the first operand, and in the rule.
    assert counts(probes["/s/.validate", "newData.val().length > 1 || newData.val() == 'x'"]) == (3, 2, 0, 1)
    assert counts(probes["/s/.validate", "newData.val().length > 1"]) == (3, 1, 1, 1)
    assert counts(probes["/s/.validate", "newData.val() == 'x'"]) == (1, 1, 0, 0)
    assert counts(probes["/v/.validate", "newData.exists() ? newData.val() : false"]) == (1, 0, 0, 1)
    assert counts(probes["/v/.validate", "newData.exists()"]) == (1, 1, 0, 0)


def test_a_write_rule_is_counted_once_per_location_and_constants_are_counted_too():
    ruleset = RuleSet.parse(json.dumps({"rules": {".write": False, "a": {".write": "auth != null"}}}))
    ruleset.check_write([(("a", "x"), 1), (("a", "y"), 2)], Context(U1, None, 0))
    probes = probes_of(ruleset)
    assert counts(probes["/.write", "false"]) == (1, 0, 1, 0)
    assert counts(probes["/a/.write", "auth != null"]) == (1, 1, 0, 0)


def test_a_fresh_parse_starts_from_zero():
    source = json.dumps({"rules": {".read": "auth != null"}})
    first = RuleSet.parse(source)
    first.can_read((), Context(U1, None, 0))
    assert first.rules()[0][1].probe.runs == 1
    assert RuleSet.parse(source).rules()[0][1].probe.runs == 0
