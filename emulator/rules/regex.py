"""Regex literals of the rules language (`/pattern/i`) compiled to Python's `re` with JavaScript's meaning.

Firebase supports a subset: `^` only first, `$` only last, the `i` flag only, no `(?...)` groups.
"""

from __future__ import annotations

import re

_REGEX_FLAGS = "i"
# JavaScript's \d and \w are ASCII-only; Python's are Unicode-wide.
_CLASS_ESCAPES = {"d": "0-9", "w": "A-Za-z0-9_"}
_ESCAPES = {"d": "[0-9]", "D": "[^0-9]", "w": "[A-Za-z0-9_]", "W": "[^A-Za-z0-9_]"}


class RegexError(ValueError):
    """A regex literal outside Firebase's subset: `detail` names it, `hint` says what is allowed."""

    def __init__(self, detail: str, hint: str):
        super().__init__(f"{detail}. {hint}.")
        self.detail = detail
        self.hint = hint


def translate_regex(source: str, flags: str) -> re.Pattern:
    """Compile a rules regex literal with JavaScript's meaning (anchors only where Firebase allows).

    Raises:
      RegexError: the pattern or flags are outside Firebase's regex subset.
    """
    if any(flag not in _REGEX_FLAGS for flag in flags) or len(set(flags)) != len(flags):
        raise RegexError(f'Invalid regular expression flags: "{flags}"', "Only the i flag is supported")
    out, i, in_class = [], 0, False
    while i < len(source):
        ch = source[i]
        if ch == "\\" and i + 1 < len(source):
            escape = source[i + 1]
            table = _CLASS_ESCAPES if in_class else _ESCAPES
            out.append(table.get(escape, ch + escape))
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
            if source.startswith("[^]", i) or source.startswith("[]", i):
                raise RegexError(f'Invalid regular expression: "/{source}/"',
                                 "Empty character classes are not supported")
        elif ch == "^" and i != 0:
            raise RegexError(f'Invalid regular expression: "/{source}/"', "^ can only be the first character")
        elif ch == "$":
            if i != len(source) - 1:
                raise RegexError(f'Invalid regular expression: "/{source}/"', "$ can only be the last character")
            ch = r"\Z"
        elif source.startswith("(?", i):
            raise RegexError(f'Invalid regular expression: "/{source}/"', "(? groups are not supported")
        out.append(ch)
        i += 1
    try:
        return re.compile("".join(out), re.IGNORECASE if "i" in flags else 0)
    except (re.error, RecursionError, OverflowError) as exc:
        raise RegexError(f'Invalid regular expression: "/{source}/"', str(exc).rstrip(".")) from None
