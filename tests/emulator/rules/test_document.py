"""Tests for emulator.rules.document and jsonsource: which rules files load, and where errors point."""

import pytest

from emulator.rules import Context, RuleSet, RulesError

INDEX_ON_RULE = ".indexOn must be a child name or an array of child names."
# Line 10 holds the body under test; its first key starts at column 9.
TEMPLATE = """{
  // Support tickets: customers create, agents read.
  "rules": {
    ".read": false,
    /* nobody writes
       the root */
    "tickets": {
      ".indexOn": ["created_at", "status"],
      "$ticketId": {
        %s
      }
    }
  }
}"""

ERRORS = [
    # (line 10 body, column, exact message after "Invalid rules: line 10, column N: ")
    ('".write": "auth != null && )"', 36,
     'Unexpected token ")" in ".write": "auth != null && )". Expected an expression.'),
    # escapes in the JSON string: the column is the character's place in the file, not in the expression
    ('".read": "data.child(\\"uid\\").val() == auth.uid &&"', 59,
     'Unexpected end of expression in ".read": "data.child(\\"uid\\").val() == auth.uid &&". '
     "Expected an expression."),
    ('".read": "data.child(\\"uid\\").val() == auth.ui d"', 56,
     'Unexpected token "d" in ".read": "data.child(\\"uid\\").val() == auth.ui d". '
     "Expected an operator or the end of the expression."),
    ('".reed": true', 9, 'Invalid key: ".reed". Rule keys are .read, .write, .validate and .indexOn.'),
    ('".validate": 5', 22, 'Invalid ".validate": 5. A rule must be a boolean or a string expression.'),
    ('".read": ["auth != null"]', 18, 'Invalid ".read": an array. A rule must be a boolean or a string expression.'),
    ('".read": "newData.exists()"', 19,
     'Invalid variable "newData" in ".read": "newData.exists()". '
     "newData is only defined in .write and .validate rules."),
    ('".write": "$uid == auth.uid"', 20,
     'Unknown wildcard "$uid" in ".write": "$uid == auth.uid". '
     "Only the $wildcards on the path to this rule are defined."),
    ('"$other": {}, "$more": {}', 23,
     'Invalid wildcard: "$more". Only one $wildcard is allowed per level, and "$other" is already defined here.'),
    ('"$ticketId": {}', 9,
     'Invalid wildcard: "$ticketId". It is already defined above; give nested wildcards distinct names.'),
    ('"title": {".validate": "newData.val().matches(/^a$/g)"}', 55,
     'Invalid regular expression flags: "g" in ".validate": "newData.val().matches(/^a$/g)". '
     "Only the i flag is supported."),
    # regex features RE2 cannot run are refused at load, pointing at the character in the file
    ('"title": {".validate": "newData.val().matches(/^(a)\\\\1$/)"}', 60,
     'Invalid regular expression: "/^(a)\\1$/" in ".validate": "newData.val().matches(/^(a)\\\\1$/)". '
     "Backreferences such as \\1 are not supported: rules regexes run on RE2, which matches in linear time "
     "and has none."),
    ('"title": {".validate": "newData.val().matches(/^(?=a)a/)"}', 57,
     'Invalid regular expression: "/^(?=a)a/" in ".validate": "newData.val().matches(/^(?=a)a/)". '
     "(? groups are not supported (no lookahead, lookbehind, non-capturing or named groups); use plain ( ) groups."),
    # an empty alternative: Firebase refuses /^(up|down|)$/ at the ")" after the "|"
    ('"title": {".validate": "newData.val().matches(/^(up|down|)$/)"}', 66,
     'Invalid regular expression: "/^(up|down|)$/" in ".validate": "newData.val().matches(/^(up|down|)$/)". '
     'An alternative cannot be empty: Firebase refuses "a|", "|a" and "(a|)"; make the part optional instead, '
     "e.g. /^(up|down)?$/."),
    ('"title": true', 18,
     'Invalid rules for "/tickets/$ticketId/title": true. Expected an object of rules and children.'),
    ('"a/b": {}', 9, 'Invalid key: "a/b". Child names cannot be empty or contain . $ # [ ] / or control characters.'),
    ('"": {}', 9, 'Invalid key: "". Child names cannot be empty or contain . $ # [ ] / or control characters.'),
    ('".read": true ".write": true', 23, 'Expected "," or "}".'),
    ('".indexOn": ["ok", 5]', 28, f'Invalid ".indexOn" entry: 5. {INDEX_ON_RULE}'),
    ('".indexOn": {"a": 1}', 21, f'Invalid ".indexOn": an object. {INDEX_ON_RULE}'),
    ('".read": true, ".read": false', 24, 'Invalid key: ".read". A key can appear only once in an object.'),
    ('".validate": "newData.val() == \'x\' ? 1 : 2"', 46,
     "Rule evaluates to a number in \".validate\": \"newData.val() == 'x' ? 1 : 2\". "
     "A rule must evaluate to a boolean."),
    ('".read": "auth.uid == \\u0027x\\u0027 &&"', 47,
     "Unexpected end of expression in \".read\": \"auth.uid == 'x' &&\". Expected an expression."),
    ('".read": "a\tb"', 20, "Invalid control character in a string (escape it)."),
]


@pytest.mark.parametrize("body, column, message", ERRORS)
def test_errors_name_line_and_column_in_the_file(body, column, message):
    with pytest.raises(RulesError) as caught:
        RuleSet.parse(TEMPLATE % body)
    assert str(caught.value) == f"Invalid rules: line 10, column {column}: {message}"
    assert (caught.value.line, caught.value.column) == (10, column)


@pytest.mark.parametrize("source, line, column, message", [
    ("[]", 1, 1, 'Invalid rules document: an array. The document must be an object with a "rules" key.'),
    ("{}", 1, 1, 'Invalid rules document: no "rules" key. The document must be an object with a "rules" key.'),
    ('{"rules": {}, "extra": 1}', 1, 15, 'Invalid key: "extra". The document may only contain "rules".'),
    ('{"rules": "x"}', 1, 11, 'Invalid rules for "/": "x". Expected an object of rules and children.'),
    ('{"rules": {}} x', 1, 15, 'Unexpected "x" after the end of the document.'),
    ('{"rules": {/* open', 1, 12, "Unterminated /* comment."),
    ("", 1, 1, "Unexpected end of the document, expected a value."),
    ('{\n  "rules": {\n    ".read": tru\n  }\n}', 3, 14, 'Unexpected "t", expected a value.'),
    ('{\n  "rules": {\n    ".read": "x\n  }\n}', 3, 16, "Invalid control character in a string (escape it)."),
    ('{"rules": {".read": "\\x"}}', 1, 22, 'Invalid escape "\\x" in a string.'),
    ('{"rules": {".read": "abc', 1, 21, "Unterminated string."),
    ('{"rules": {".read": true,}}', 1, 26, "Expected a quoted key."),
])
def test_document_structure_errors(source, line, column, message):
    with pytest.raises(RulesError) as caught:
        RuleSet.parse(source)
    assert str(caught.value) == f"Invalid rules: line {line}, column {column}: {message}"


def test_a_rules_error_is_a_value_error():
    assert issubclass(RulesError, ValueError)


def test_comments_booleans_and_index_on_forms_load():
    rules = RuleSet.parse("""
    /* leading comment */ {
      "rules": {  // trailing comment with "quotes" and /* markers
        ".read": "true", ".write": false,
        "a": {".indexOn": "height", "b": {".indexOn": [".value", "x/y"]}},
        "url": {".validate": "newData.val().beginsWith('http://')"}
      }
    } // done""")
    assert rules.index_on(("a",)) == ["height"]
    assert rules.index_on(("a", "b")) == [".value", "x/y"]
    assert rules.index_on(()) == []
    assert rules.index_on(("nope", "deeper")) == []
    assert "// done" in rules.source


def test_byte_order_mark_and_surrogate_pair_escapes():
    rules = RuleSet.parse('\ufeff{"rules": {".read": "auth.uid == \'\\ud83d\\ude00\' && auth.uid.length == 2"}}')
    assert rules.can_read((), Context({"uid": "😀"}, None, 0))
