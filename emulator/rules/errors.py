"""The rules engine's one exception, and where in the rules source an error points.

`RulesError` is what the emulator reports when it refuses a rules file; `Source` turns an
offset in the source text into the line and column that message names.
"""

from __future__ import annotations

PREFIX = "Invalid rules"


class RulesError(ValueError):
    """The rules source is invalid; the message names the line and column (both 1-based).

    Attributes:
      line: line of the offending text in the rules source.
      column: column of the offending text (counted in characters).
    """

    def __init__(self, message: str, line: int, column: int):
        super().__init__(message)
        self.line = line
        self.column = column


class Source:
    """A rules document's text, to report positions in it."""

    def __init__(self, text: str):
        self.text = text

    def line_col(self, offset: int) -> tuple[int, int]:
        """The 1-based (line, column) of a character offset."""
        offset = max(0, min(offset, len(self.text)))
        line_start = self.text.rfind("\n", 0, offset) + 1
        return self.text.count("\n", 0, offset) + 1, offset - line_start + 1

    def error(self, offset: int, detail: str) -> RulesError:
        """A RulesError for `detail` at `offset`: 'Invalid rules: line L, column C: <detail>'."""
        line, column = self.line_col(offset)
        return RulesError(f"{PREFIX}: line {line}, column {column}: {detail}", line, column)
