"""Regex literals of the rules language (`/pattern/i`): JavaScript's syntax, run by RE2 in linear time.

A rule's regex runs on data any client writes, on the emulator's event loop. A backtracking engine
(Python's `re`) can take exponential time on a pattern such as `/^(a+)+$/` and a string of forty
`a`s and a `!`, stalling every client; RE2 (the `google-re2` package) matches in time linear in the
text, whatever the pattern. So a literal is parsed here with JavaScript's grammar (non-Unicode mode,
with the web-compatibility rules of Annex B, e.g. a `{` that starts no quantifier is a literal) and
rewritten in RE2's syntax, every literal character but ASCII letters, digits and `_` written as an
`\\x{...}` escape, so that nothing JavaScript reads literally can mean something else to RE2 (`[` or
`&&` inside a class; `\\A`, `\\z`, `\\p` are identity escapes, so the letters themselves).

Firebase's subset (docs: "Regular expressions in Realtime Database security rules"): `^` only as the
first character, `$` only as the last, the `i` flag only, no `(?...)` groups (so no lookaround, no
named groups), and no empty alternative beside a `|`: Firebase refuses `/^(up|down|)$/` with "Illegal
regular expression, expected ')' at position 10" (reported in the targaryen project, issue 143), so
`a|`, `|a` and `(a|)` are refused here, at the same position; an empty group `()`, never recorded,
is accepted. RE2 cannot run backreferences (`\\N` where the pattern has an N-th group): they are
refused too (with fewer groups `\\N` is an octal escape or the digit, as in JavaScript). Every refusal
is a `RegexError` with the position of the offending character, which the rules loader reports as a
line and column of the rules file.

Meaning kept from JavaScript: `.` excludes the line terminators \\n \\r \\u2028 \\u2029; `\\d` and `\\w`
are ASCII; `\\s` is JavaScript's whitespace set; `$` is the very end of the string; `\\uHHHH` escapes
of a surrogate pair name one character; the `i` flag equates the characters JavaScript's non-Unicode
mode does (`/s/i` does not match the long s, nor `/k/i` the Kelvin sign), spelled out as classes, so
RE2's own case folding stays off. One difference remains: strings are sequences of characters, not
UTF-16 code units (`.` matches one emoji; a lone surrogate, which no stored string can hold, matches
nothing).
"""

from __future__ import annotations

import bisect
import functools
import re

import re2

_REGEX_FLAGS = "i"
# RE2 refuses repetition counts above 1000 (nested counts multiply).
MAX_REPEAT = 1000
# Groups nested deeper are refused (the parser recurses once per level).
MAX_GROUP_NESTING = 100
_MAX_CODE_POINT = 0x10FFFF
_SURROGATES = (0xD800, 0xDFFF)
_LINE_TERMINATORS = ((0x0A, 0x0A), (0x0D, 0x0D), (0x2028, 0x2029))
# JavaScript's \s: WhiteSpace and LineTerminator (ECMA-262, with Unicode's Zs as of today).
_JS_SPACE = ((0x09, 0x0D), (0x20, 0x20), (0xA0, 0xA0), (0x1680, 0x1680), (0x2000, 0x200A), (0x2028, 0x2029),
             (0x202F, 0x202F), (0x205F, 0x205F), (0x3000, 0x3000), (0xFEFF, 0xFEFF))
_WORD_CHARS = re.compile(r"[A-Za-z0-9_]")
_QUANTIFIER = re.compile(r"\{([0-9]+)(,([0-9]*))?\}")
_HEX_DIGITS = "0123456789abcdefABCDEF"
_DIGITS = re.compile(r"[0-9]+")
_CONTROL_ESCAPES = {"f": 0x0C, "n": 0x0A, "r": 0x0D, "t": 0x09, "v": 0x0B}
_EMPTY_ALTERNATIVE = ('An alternative cannot be empty: Firebase refuses "a|", "|a" and "(a|)"; '
                      "make the part optional instead, e.g. /^(up|down)?$/")


class RegexError(ValueError):
    """A regex literal outside the supported subset.

    Attributes:
      detail: what is wrong, naming the literal.
      hint: what is allowed instead.
      position: offset in the pattern of the offending character, or None for the flags.
    """

    def __init__(self, detail: str, hint: str, position: int | None = None):
        super().__init__(f"{detail}. {hint}.")
        self.detail = detail
        self.hint = hint
        self.position = position


class RulesRegex:
    """A compiled rules regex: `search(text)` finds a match anywhere, as JavaScript's `test` does.

    Attributes:
      source: the pattern as written between the slashes.
      flags: the flags after the closing slash ("" or "i").
      translated: the equivalent RE2 pattern.
    """

    __slots__ = ("source", "flags", "translated", "_compiled")

    def __init__(self, source: str, flags: str, translated: str, compiled):
        self.source, self.flags, self.translated, self._compiled = source, flags, translated, compiled

    def search(self, text: str):
        """The first match in `text`, or None; time linear in len(text) whatever the pattern.

        Raises:
          UnicodeEncodeError: `text` holds a lone surrogate (it has no UTF-8 form for RE2).
        """
        return self._compiled.search(text)

    def __repr__(self) -> str:
        return f"RulesRegex(/{self.source}/{self.flags})"


def translate_regex(source: str, flags: str) -> RulesRegex:
    """Compile a rules regex literal with JavaScript's meaning, on RE2.

    Args:
      source: the pattern between the slashes, e.g. `^[a-z]+$`.
      flags: the flags after the closing slash.

    Raises:
      RegexError: the pattern or flags are outside the supported subset, or invalid JavaScript.
    """
    if any(flag not in _REGEX_FLAGS for flag in flags) or len(set(flags)) != len(flags):
        raise RegexError(f'Invalid regular expression flags: "{flags}"', "Only the i flag is supported")
    translated = _Translator(source, fold_case="i" in flags).translate()
    options = re2.Options()  # case-sensitive: the translation spells out JavaScript's case folding
    options.never_capture = True  # only whether it matches counts
    options.log_errors = False
    try:
        compiled = re2.compile(translated, options)
    except re2.error as exc:  # e.g. nested repetitions past RE2's limits, or a program too large
        reason = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise RegexError(f'Invalid regular expression: "/{source}/"',
                         f"RE2 cannot compile it ({reason}); simplify the pattern") from None
    return RulesRegex(source, flags, translated, compiled)


# ---- JavaScript pattern -> RE2 pattern --------------------------------------------------------------


class _Translator:
    """One pass over a JavaScript pattern (recursive descent), emitting RE2 syntax."""

    def __init__(self, source: str, fold_case: bool):
        self.src = source
        self.fold_case = fold_case
        self.pos = 0
        self.nesting = 0
        self.groups = _count_groups(source)
        self.pairs = 0  # surrogate pairs \uHHHH\uHHHH read by the last escape

    def char(self, code: int) -> str:
        """A literal character; with the i flag, a class of the characters JavaScript deems equal to it."""
        if self.fold_case and code in _case_variants():
            return _set(_as_ranges(_case_variants()[code]))
        return _char(code)

    def fail(self, hint: str, position: int | None = None) -> RegexError:
        return RegexError(f'Invalid regular expression: "/{self.src}/"', hint,
                          self.pos if position is None else position)

    def peek(self, offset: int = 0) -> str:
        i = self.pos + offset
        return self.src[i] if i < len(self.src) else ""

    def translate(self) -> str:
        out = self.disjunction()
        if self.pos < len(self.src):  # only a ")" stops a disjunction early
            raise self.fail('Unmatched ")"')
        return out

    def disjunction(self) -> str:
        alternatives, empty_at = [], None
        while True:
            start = self.pos
            alternatives.append(self.alternative())
            if self.pos == start and empty_at is None:
                empty_at = start
            if self.peek() != "|":
                break
            self.pos += 1
        if len(alternatives) > 1 and empty_at is not None:
            raise self.fail(_EMPTY_ALTERNATIVE, empty_at)
        return "|".join(alternatives)

    def alternative(self) -> str:
        terms = []
        while self.pos < len(self.src) and self.peek() not in "|)":
            terms.append(self.term())
        return "".join(terms)

    def term(self) -> str:
        start, ch = self.pos, self.peek()
        if ch == "^":
            if start != 0:
                raise self.fail("^ can only be the first character")
            self.pos += 1
            return "^"  # an assertion: a quantifier after it is "nothing to repeat"
        if ch == "$":
            if start != len(self.src) - 1:
                raise self.fail("$ can only be the last character")
            self.pos += 1
            return r"\z"
        if ch in "*+?" or (ch == "{" and _QUANTIFIER.match(self.src, start)):
            raise self.fail(f'Nothing to repeat before "{ch}"')
        if ch == "(":
            atom = self.group()
        elif ch == "[":
            atom = self.character_class()
        elif ch == ".":
            self.pos += 1
            atom = _set(_complement(_LINE_TERMINATORS))
        elif ch == "\\":
            self.pairs = 0
            atom = self.atom_escape()
            if atom in (r"\b", r"\B"):
                return atom  # assertions take no quantifier
            if self.pairs:
                # JavaScript repeats only the pair's low half, and a lone half matches nothing: the
                # character matches once if the quantifier allows one repetition, else never.
                return atom if _allows_once(self.quantifier()) else _set(())
        else:
            self.pos += 1
            atom = self.char(ord(ch))
        return atom + self.quantifier()

    def group(self) -> str:
        start = self.pos
        if self.peek(1) == "?":
            raise self.fail("(? groups are not supported (no lookahead, lookbehind, non-capturing or named "
                            "groups); use plain ( ) groups")
        if self.nesting >= MAX_GROUP_NESTING:
            raise self.fail(f"Groups can be nested at most {MAX_GROUP_NESTING} deep")
        self.pos += 1
        self.nesting += 1
        inner = self.disjunction()
        self.nesting -= 1
        if self.peek() != ")":
            raise self.fail('Unterminated group: close it with ")"', start)
        self.pos += 1
        return f"(?:{inner})"

    def quantifier(self) -> str:
        ch, start = self.peek(), self.pos
        if ch in ("*", "+", "?"):
            self.pos += 1
            out = ch
        elif ch == "{" and (m := _QUANTIFIER.match(self.src, start)):
            low, comma, high = int(m.group(1)), m.group(2), m.group(3)
            high_value = int(high) if high else None
            if high_value is not None and high_value < low:
                raise self.fail("Numbers out of order in {} quantifier", start)
            if max(low, high_value or 0) > MAX_REPEAT:
                raise self.fail(f"Repetition counts above {MAX_REPEAT} are not supported", start)
            self.pos = m.end()
            out = f"{{{low}{',' if comma else ''}{high or ''}}}"
        else:
            return ""
        if self.peek() == "?":  # lazy: the same matches, only the preferred one differs
            self.pos += 1
            out += "?"
        return out

    # ---- escapes ---------------------------------------------------------------------------------

    def atom_escape(self) -> str:
        start = self.pos
        escape = self.peek(1)
        if not escape:
            raise self.fail("\\ at end of pattern: escape it as \\\\", start)
        if escape in "bB":
            self.pos += 2
            return "\\" + escape
        if escape in "123456789":
            digits = _DIGITS.match(self.src, start + 1).group()
            if int(digits) <= self.groups:
                raise self.fail(f"Backreferences such as \\{digits} are not supported: rules regexes run on RE2, "
                                "which matches in linear time and has none", start)
            if escape in "89":  # Annex B: past the group count, \8 and \9 are the digits themselves
                self.pos += 2
                return self.char(ord(escape))
            # ... and \1 to \7 start a legacy octal escape (character_escape reads it)
        if escape in "dDwW":  # ASCII in JavaScript and in RE2 alike
            self.pos += 2
            return "\\" + escape
        if escape in "sS":
            self.pos += 2
            return _set(_JS_SPACE if escape == "s" else _complement(_JS_SPACE))
        if escape == "c" and not _is_ascii_letter(self.peek(2)):
            self.pos += 1  # Annex B: a "\" that starts no escape is itself; "c" is read next
            return self.char(ord("\\"))
        return self.char(self.character_escape())

    def character_escape(self) -> int:
        """The code point of the character escape at self.pos (a backslash), consumed."""
        escape = self.peek(1)
        self.pos += 2
        if escape in _CONTROL_ESCAPES:
            return _CONTROL_ESCAPES[escape]
        if escape == "c":  # \cX: X's code modulo 32 (the caller checked what follows)
            self.pos += 1
            return ord(self.src[self.pos - 1]) % 32
        if escape == "x" and self.hex_digits(2):
            self.pos += 2
            return int(self.src[self.pos - 2:self.pos], 16)
        if escape == "u" and self.hex_digits(4):
            unit = int(self.src[self.pos:self.pos + 4], 16)
            self.pos += 4
            if 0xD800 <= unit <= 0xDBFF and self.src.startswith("\\u", self.pos):
                self.pos += 2
                if self.hex_digits(4) and 0xDC00 <= (low := int(self.src[self.pos:self.pos + 4], 16)) <= 0xDFFF:
                    self.pos += 4
                    self.pairs += 1
                    return 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                self.pos -= 2
            return unit
        if escape in "01234567":  # Annex B legacy octal: up to \377
            digits = escape
            limit = 3 if escape in "0123" else 2
            while len(digits) < limit and self.peek() in "01234567" and self.peek():
                digits += self.peek()
                self.pos += 1
            return int(digits, 8)
        return ord(escape)  # an identity escape: \/ \. \- \a \z ... stand for the character itself

    def hex_digits(self, count: int) -> bool:
        digits = self.src[self.pos:self.pos + count]
        return len(digits) == count and all(c in _HEX_DIGITS for c in digits)

    # ---- character classes -----------------------------------------------------------------------

    def character_class(self) -> str:
        start = self.pos
        self.pos += 1
        negated = self.peek() == "^"
        if negated:
            self.pos += 1
        if self.peek() == "]":
            raise self.fail("Empty character classes are not supported", start)
        ranges: list[tuple[int, int]] = []
        sets: list[str] = []  # \d \D \w \W, which RE2 reads inside a class as JavaScript does
        while True:
            if self.pos >= len(self.src):
                raise self.fail('Unterminated character class: close it with "]"', start)
            if self.peek() == "]":
                self.pos += 1
                break
            first_at = self.pos
            first = self.class_atom()
            if self.peek() == "-" and self.peek(1) not in ("]", ""):
                self.pos += 1
                second = self.class_atom()
                if isinstance(first, int) and isinstance(second, int):
                    if second < first:
                        raise self.fail("Range out of order in character class", first_at)
                    ranges.append((first, second))
                    continue
                # Annex B: a range with a class escape at either end is the two ends and a "-".
                for item in (first, ord("-"), second):
                    _add_class_item(item, ranges, sets)
                continue
            _add_class_item(first, ranges, sets)
        if self.fold_case:  # \d \D \w \W \s \S need no folding: no character folds into or out of them
            ranges = _with_case_variants(ranges)
        if sets:
            ranges = _without_surrogates(_as_ranges(ranges))
            return "[" + ("^" if negated else "") + "".join(_range(r) for r in ranges) + "".join(sets) + "]"
        return _set(_complement(ranges) if negated else ranges)

    def class_atom(self):
        """One class atom, consumed: a code point, or a class escape's ranges/RE2 set text."""
        ch = self.peek()
        if ch != "\\":
            self.pos += 1
            return ord(ch)
        escape = self.peek(1)
        if not escape:
            raise self.fail("\\ at end of pattern: escape it as \\\\")
        if escape == "b":
            self.pos += 2
            return 0x08
        if escape in "dDwW":
            self.pos += 2
            return "\\" + escape
        if escape in "sS":
            self.pos += 2
            return _JS_SPACE if escape == "s" else _complement(_JS_SPACE)
        if escape == "c":
            follower = self.peek(2)
            if not (_is_ascii_letter(follower) or follower.isascii() and (follower.isdigit() or follower == "_")):
                self.pos += 1  # Annex B: a lone "\" in a class is itself
                return ord("\\")
        if escape in "89":
            self.pos += 2
            return ord(escape)
        return self.character_escape()


@functools.cache
def _case_variants() -> dict[int, tuple[int, ...]]:
    """For each character JavaScript's i flag equates with another, all the characters equal to it.

    Non-Unicode JavaScript compares Canonicalize(ch): ch.toUpperCase() when that is one character,
    and not an ASCII one made from a non-ASCII one (so the long s and the Kelvin sign stay apart from s
    and k); code units outside the BMP are surrogates, which have no case.
    """
    groups: dict[int, list[int]] = {}
    for code in range(0x10000):
        if _SURROGATES[0] <= code <= _SURROGATES[1]:
            continue
        upper = chr(code).upper()
        canonical = ord(upper) if len(upper) == 1 and not (code >= 128 and ord(upper) < 128) else code
        groups.setdefault(canonical, []).append(code)
    return {code: tuple(members) for members in groups.values() if len(members) > 1 for code in members}


def _with_case_variants(ranges) -> list[tuple[int, int]]:
    """Class ranges plus every character the i flag equates with a member."""
    variants = _case_variants()
    foldable = _foldable()
    extra = []
    for first, last in ranges:
        for code in foldable[bisect.bisect_left(foldable, first):bisect.bisect_right(foldable, last)]:
            extra.extend(variants[code])
    return list(ranges) + _as_ranges(extra)


@functools.cache
def _foldable() -> list[int]:
    return sorted(_case_variants())


def _as_ranges(items) -> list[tuple[int, int]]:
    """Code points, or (first, last) ranges of them, as sorted, merged ranges."""
    out: list[list[int]] = []
    for first, last in sorted((item, item) if isinstance(item, int) else item for item in items):
        if out and first <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], last)
        else:
            out.append([first, last])
    return [(first, last) for first, last in out]


def _allows_once(quantifier: str) -> bool:
    """Whether a translated quantifier ("", "*", "{2,}?", ...) allows exactly one repetition."""
    bounds = _QUANTIFIER.match(quantifier)
    if bounds is None:
        return True  # none, *, + or ?
    low, comma, high = bounds.groups()
    most = int(low) if not comma else int(high) if high else 1
    return int(low) <= 1 <= most


def _count_groups(source: str) -> int:
    """How many capturing groups a pattern has (JavaScript reads \\N as a backreference only up to it)."""
    count, i, in_class = 0, 0, False
    while i < len(source):
        ch = source[i]
        if ch == "\\":
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch == "(" and not source.startswith("(?", i):
            count += 1
        i += 1
    return count


def _add_class_item(item, ranges: list, sets: list) -> None:
    if isinstance(item, int):
        ranges.append((item, item))
    elif isinstance(item, str):
        sets.append(item)
    else:
        ranges.extend(item)


def _is_ascii_letter(ch: str) -> bool:
    return len(ch) == 1 and ch.isascii() and ch.isalpha()


def _without_surrogates(ranges) -> list[tuple[int, int]]:
    low, high = _SURROGATES
    out = []
    for first, last in ranges:
        if first < low:
            out.append((first, min(last, low - 1)))
        if last > high:
            out.append((max(first, high + 1), last))
    return out


def _complement(ranges) -> tuple[tuple[int, int], ...]:
    out, next_start = [], 0
    for first, last in sorted(ranges):
        if first > next_start:
            out.append((next_start, first - 1))
        next_start = max(next_start, last + 1)
    if next_start <= _MAX_CODE_POINT:
        out.append((next_start, _MAX_CODE_POINT))
    return tuple(out)


def _char(code: int) -> str:
    """One literal character in RE2 syntax (a surrogate, which no string holds, matches nothing)."""
    if _SURROGATES[0] <= code <= _SURROGATES[1]:
        return _set(())
    ch = chr(code)
    return ch if _WORD_CHARS.fullmatch(ch) else f"\\x{{{code:X}}}"


def _range(r: tuple[int, int]) -> str:
    first, last = r
    return f"\\x{{{first:X}}}" if first == last else f"\\x{{{first:X}}}-\\x{{{last:X}}}"


def _set(ranges) -> str:
    """An RE2 class of these code point ranges; no ranges make a class that matches nothing."""
    ranges = _without_surrogates(_as_ranges(ranges))
    if not ranges:
        return f"[^\\x{{0}}-\\x{{{_MAX_CODE_POINT:X}}}]"
    if len(ranges) == 2 and all(first == last for first, last in ranges) and chr(ranges[0][0]).swapcase() == chr(
            ranges[1][0]) and chr(ranges[0][0]).isascii():
        # RE2 reads a class of one ASCII letter in both cases as that letter with case folding, and an
        # alternation of single characters then widens it by Unicode's folding: /x|[kK]/ would match the
        # Kelvin sign, /x|[sS]/ the long s. Two alternatives keep the class to exactly two letters.
        return f"(?:{_char(ranges[0][0])}|{_char(ranges[1][0])})"
    return "[" + "".join(_range(r) for r in ranges) + "]"
