"""Tokens of the rules expression language (JavaScript-like), with their offsets in the expression.

`tokenize(text)` yields numbers, strings, regex literals (`/.../i`), identifiers (`$wildcards`
included) and punctuation; `ExpressionError` carries the offset the rules parser reports.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

NUMBER, STRING, REGEX, NAME, PUNCT, END = "number", "string", "regex", "name", "punct", "end"
# Longest first, so "===" wins over "==" and "=".
_PUNCTUATION = ("===", "!==", "==", "!=", "<=", ">=", "&&", "||",
                "<", ">", "+", "-", "*", "/", "%", "!", "?", ":", ".", ",", "(", ")", "[", "]")
_NAME = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_NUMBER_LITERAL = re.compile(r"(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
# Longer integer literals are read as doubles, as JavaScript does.
_MAX_EXACT_DIGITS = 15
_REGEX_FLAGS = re.compile(r"[A-Za-z]*")
_STRING_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v", "0": "\0"}
_HEX = {"x": 2, "u": 4}
# After these a "/" divides; anywhere else it opens a regex literal.
_VALUE_ENDS = frozenset({NUMBER, STRING, REGEX, NAME})
_CLOSERS = frozenset({")", "]"})


class ExpressionError(Exception):
    """An invalid expression: `detail` at `offset` (in the expression text), and how to fix it."""

    def __init__(self, offset: int, detail: str, hint: str):
        super().__init__(f"{detail} at {offset}. {hint}.")
        self.offset = offset
        self.detail = detail
        self.hint = hint


@dataclass(frozen=True, slots=True)
class Token:
    """One token: its kind, its value (text, number, or (pattern, flags)), its offset and where it ends."""

    kind: str
    value: object
    offset: int
    end: int


def tokenize(text: str) -> list[Token]:
    """Split an expression into tokens, ending with an END token.

    Raises:
      ExpressionError: an unterminated string or regex, a bad escape, or a stray character.
    """
    tokens: list[Token] = []
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            tokens.append(Token(END, None, pos, pos))
            return tokens
        ch = text[pos]
        if ch in "'\"":
            value, end = _string(text, pos)
            tokens.append(Token(STRING, value, pos, end))
        elif ch == "/" and not _divides(tokens):
            value, end = _regex(text, pos)
            tokens.append(Token(REGEX, value, pos, end))
        elif match := _NUMBER_LITERAL.match(text, pos):
            literal, end = match.group(), match.end()
            number = int(literal) if literal.isdigit() and len(literal) <= _MAX_EXACT_DIGITS else float(literal)
            if not math.isfinite(number):
                raise ExpressionError(pos, f'Invalid number: "{literal}"', "Numbers must be finite")
            tokens.append(Token(NUMBER, number, pos, end))
        elif match := _NAME.match(text, pos):
            end = match.end()
            tokens.append(Token(NAME, match.group(), pos, end))
        else:
            op = next((p for p in _PUNCTUATION if text.startswith(p, pos)), None)
            if op is None:
                raise ExpressionError(pos, f'Unexpected character "{ch}"', _operators_hint())
            end = pos + len(op)
            tokens.append(Token(PUNCT, op, pos, end))
        pos = end


def _operators_hint() -> str:
    return "Expressions use JavaScript operators: " + " ".join(p for p in _PUNCTUATION if p not in ".,()[]")


def _divides(tokens: list[Token]) -> bool:
    if not tokens:
        return False
    last = tokens[-1]
    return last.kind in _VALUE_ENDS or (last.kind == PUNCT and last.value in _CLOSERS)


def _string(text: str, start: int) -> tuple[str, int]:
    quote, out, pos = text[start], [], start + 1
    while pos < len(text):
        ch = text[pos]
        if ch == quote:
            return "".join(out), pos + 1
        if ch in "\n\r":
            break
        if ch != "\\":
            out.append(ch)
            pos += 1
            continue
        escape = text[pos + 1:pos + 2]
        if escape in _HEX:
            digits = text[pos + 2:pos + 2 + _HEX[escape]]
            if len(digits) != _HEX[escape] or not all(c in "0123456789abcdefABCDEF" for c in digits):
                raise ExpressionError(pos, f'Invalid escape "\\{escape}{digits}"',
                                      f"Write \\{escape} followed by {_HEX[escape]} hex digits")
            out.append(chr(int(digits, 16)))
            pos += 2 + _HEX[escape]
        elif escape:
            out.append(_STRING_ESCAPES.get(escape, escape))
            pos += 2
        else:
            break
    raise ExpressionError(start, "Unterminated string", f"Close the string with {quote}")


def _regex(text: str, start: int) -> tuple[tuple[str, str], int]:
    pos, in_class = start + 1, False
    while pos < len(text):
        ch = text[pos]
        if ch == "\\":
            pos += 2
            continue
        if ch in "\n\r":
            break
        if ch == "[":
            in_class = True
        elif ch == "]":
            in_class = False
        elif ch == "/" and not in_class:
            flags = _REGEX_FLAGS.match(text, pos + 1)
            return (text[start + 1:pos], flags.group()), flags.end()
        pos += 1
    raise ExpressionError(start, "Unterminated regular expression", "Close the regular expression with /")
