"""Coverage counters: how often each rule, and each condition inside it, ran and what it gave.

A `Probe` sits on a rule's whole expression and on every condition in it (each operand of `&&`
and `||`, and the test of `? :`). The evaluator bumps its counters as it runs: two integer
increments per run, no allocation. Probes belong to one compiled RuleSet, so replacing the rules
starts every count again at zero. `emulator.coverage` turns them into the coverage report.
"""

from __future__ import annotations

from typing import Callable, Iterator

from emulator.rules.parser import Node


class Probe:
    """The counters of one expression and where its text is.

    Attributes:
      start, end: the expression's text span, [start, end) in the rules source once the document
        is built (offsets in the expression text while it compiles).
      text: the expression as written.
      children: the probes of the conditions directly inside it, in source order.
      runs: how many times it was evaluated.
      true, false: how many of those runs gave true, and false.
    """

    __slots__ = ("start", "end", "text", "children", "runs", "true", "false")

    def __init__(self, start: int, end: int, text: str):
        self.start, self.end, self.text = start, end, text
        self.children: list[Probe] = []
        self.runs = self.true = self.false = 0

    @property
    def errors(self) -> int:
        """Runs that failed or gave something other than a boolean (both deny, as in Firebase)."""
        return self.runs - self.true - self.false

    def walk(self) -> Iterator["Probe"]:
        """This probe, then every probe inside it, in source order."""
        yield self
        for child in self.children:
            yield from child.walk()

    def relocate(self, to_source: Callable[[int], int]) -> None:
        """Map the spans of this probe and those inside it from expression to source offsets."""
        for probe in self.walk():
            probe.start, probe.end = to_source(probe.start), to_source(probe.end)


class Probes:
    """The probes of one expression, collected while it compiles, then nested by their spans.

    Args:
      text: the expression's text (probes quote their part of it).
    """

    def __init__(self, text: str):
        self.text = text
        self._conditions: list[Probe] = []

    def add(self, node: Node) -> Probe:
        """A new probe for the condition `node`."""
        probe = Probe(node.start, node.end, self.text[node.start:node.end])
        self._conditions.append(probe)
        return probe

    def tree(self, root: Node) -> Probe:
        """The probe of the whole expression `root`, with every condition nested under the nearest enclosing one."""
        top = Probe(root.start, root.end, self.text[root.start:root.end])
        stack = [top]
        for probe in sorted(self._conditions, key=lambda p: (p.start, -p.end)):
            while len(stack) > 1 and not (stack[-1].start <= probe.start and probe.end <= stack[-1].end):
                stack.pop()
            stack[-1].children.append(probe)
            stack.append(probe)
        return top
