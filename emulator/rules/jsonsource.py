"""A JSON reader that remembers where every value sits in the text (rules files allow comments).

`read(source)` returns a tree of `JsonValue`s so the rules parser can point its errors at the
line and column of a key, a value, or a character inside an expression string.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from emulator.rules.errors import Source

MAX_NESTING = 100
_WHITESPACE = " \t\r\n"
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_LITERALS = {"true": True, "false": False, "null": None}
_HEX4 = re.compile(r"[0-9a-fA-F]{4}")
# A \uD83D\uDE00 pair is one character (JSON writes astral characters as UTF-16 surrogate pairs).
_HIGH_SURROGATES = range(0xD800, 0xDC00)
_LOW_SURROGATE = re.compile(r"\\u[dD][c-fC-F][0-9a-fA-F]{2}")
_BYTE_ORDER_MARK = "\ufeff"


@dataclass
class JsonValue:
    """A parsed JSON value and its place in the source.

    Attributes:
      value: a str/int/float/bool/None, a dict of key -> JsonValue, or a list of JsonValue.
      offset: where the value starts in the source text.
      key_offsets: for objects, where each key's opening quote sits.
      char_offsets: for strings, the source offset of each decoded character, then of the
        closing quote (escapes make the two differ).
    """

    value: object
    offset: int
    key_offsets: dict[str, int] = field(default_factory=dict)
    char_offsets: list[int] = field(default_factory=list)

    @property
    def kind(self) -> str:
        """The JSON type name: object, array, string, number, boolean or null."""
        value = self.value
        if isinstance(value, dict):
            return "object"
        if isinstance(value, list):
            return "array"
        if isinstance(value, str):
            return "string"
        if isinstance(value, bool):
            return "boolean"
        return "null" if value is None else "number"


def read(source: Source) -> JsonValue:
    """Parse the whole text as one JSON value, allowing // and /* */ comments.

    Raises:
      RulesError: the text is not valid JSON (the message names line and column).
    """
    reader = _Reader(source)
    if source.text.startswith(_BYTE_ORDER_MARK):
        reader.pos = 1
    value = reader.value(0)
    reader.skip_space()
    if reader.pos < len(source.text):
        raise reader.fail(f'Unexpected "{source.text[reader.pos]}" after the end of the document')
    return value


class _Reader:
    def __init__(self, source: Source):
        self.source = source
        self.text = source.text
        self.pos = 0

    def fail(self, detail: str, offset: int | None = None):
        return self.source.error(self.pos if offset is None else offset, f"{detail}.")

    def skip_space(self) -> None:
        text = self.text
        while self.pos < len(text):
            ch = text[self.pos]
            if ch in _WHITESPACE:
                self.pos += 1
            elif text.startswith("//", self.pos):
                end = text.find("\n", self.pos)
                self.pos = len(text) if end < 0 else end + 1
            elif text.startswith("/*", self.pos):
                end = text.find("*/", self.pos + 2)
                if end < 0:
                    raise self.fail("Unterminated /* comment")
                self.pos = end + 2
            else:
                return

    def value(self, depth: int) -> JsonValue:
        self.skip_space()
        if depth > MAX_NESTING:
            raise self.fail(f"Invalid nesting: deeper than {MAX_NESTING} levels. Rules cannot nest that deep")
        if self.pos >= len(self.text):
            raise self.fail("Unexpected end of the document, expected a value")
        ch = self.text[self.pos]
        if ch == "{":
            return self.object(depth)
        if ch == "[":
            return self.array(depth)
        if ch == '"':
            return self.string()
        match = _NUMBER.match(self.text, self.pos)
        if match:
            start, self.pos = self.pos, match.end()
            number = float(match.group()) if any(c in match.group() for c in ".eE") else int(match.group())
            return JsonValue(number, start)
        for word, literal in _LITERALS.items():
            if self.text.startswith(word, self.pos):
                start, self.pos = self.pos, self.pos + len(word)
                return JsonValue(literal, start)
        raise self.fail(f'Unexpected "{ch}", expected a value')

    def object(self, depth: int) -> JsonValue:
        node = JsonValue({}, self.pos)
        self.pos += 1
        self.skip_space()
        if self.text.startswith("}", self.pos):
            self.pos += 1
            return node
        while True:
            self.skip_space()
            if not self.text.startswith('"', self.pos):
                raise self.fail("Expected a quoted key")
            key_node = self.string()
            key = key_node.value
            if key in node.value:
                raise self.fail(f'Invalid key: "{key}". A key can appear only once in an object', key_node.offset)
            self.skip_space()
            if not self.text.startswith(":", self.pos):
                raise self.fail('Expected ":" after a key')
            self.pos += 1
            node.value[key] = self.value(depth + 1)
            node.key_offsets[key] = key_node.offset
            if self.separator("}"):
                return node

    def array(self, depth: int) -> JsonValue:
        node = JsonValue([], self.pos)
        self.pos += 1
        self.skip_space()
        if self.text.startswith("]", self.pos):
            self.pos += 1
            return node
        while True:
            node.value.append(self.value(depth + 1))
            if self.separator("]"):
                return node

    def separator(self, closer: str) -> bool:
        """Consume "," (False: more follows) or the closer (True)."""
        self.skip_space()
        if self.text.startswith(",", self.pos):
            self.pos += 1
            return False
        if self.text.startswith(closer, self.pos):
            self.pos += 1
            return True
        raise self.fail(f'Expected "," or "{closer}"')

    def string(self) -> JsonValue:
        text, start = self.text, self.pos
        chars, offsets = [], []
        pos = start + 1
        while True:
            if pos >= len(text):
                raise self.fail("Unterminated string", start)
            ch = text[pos]
            if ch == '"':
                break
            if ch < " ":
                raise self.fail("Invalid control character in a string (escape it)", pos)
            offsets.append(pos)
            if ch != "\\":
                chars.append(ch)
                pos += 1
                continue
            escape = text[pos + 1:pos + 2]
            if escape in _ESCAPES:
                chars.append(_ESCAPES[escape])
                pos += 2
            elif escape == "u" and _HEX4.fullmatch(text, pos + 2, pos + 6):
                code, pos = int(text[pos + 2:pos + 6], 16), pos + 6
                if code in _HIGH_SURROGATES and _LOW_SURROGATE.fullmatch(text, pos, pos + 6):
                    low = int(text[pos + 2:pos + 6], 16)
                    code, pos = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00), pos + 6
                chars.append(chr(code))
            else:
                raise self.fail(f'Invalid escape "\\{escape}" in a string', pos)
        offsets.append(pos)
        self.pos = pos + 1
        return JsonValue("".join(chars), start, char_offsets=offsets)
