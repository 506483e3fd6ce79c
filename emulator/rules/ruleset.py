"""Decide reads and writes under a namespace's security rules, as Firebase does.

`.read`/`.write` cascade: the first rule that is true on the way from the root down to the location
grants, and nothing deeper can take the grant back; rules deeper than the location never grant it
(rules are not filters). `.validate` must hold at every non-null node a write changes - the
location, everything written inside it, and its ancestors - and is skipped for deletes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from emulator.query import ORDER_BY_KEY, ORDER_BY_PRIORITY, ORDER_BY_VALUE
from emulator.rules import document
from emulator.rules.document import READ, VALIDATE, WRITE, Rule, RulesNode
from emulator.rules.evaluator import Env, evaluate
from emulator.rules.snapshot import Snapshot, TreeView
from emulator.values import children, path_str

_SPECIAL_ORDERS = (ORDER_BY_KEY, ORDER_BY_PRIORITY, ORDER_BY_VALUE)
_NO_WRITE_RULE = "No .write rule allowed the write at {path}"
_VALIDATE_FAILED = ".validate failed at {path}: {rule}"


@dataclass
class Context:
    """Who asks, and the data they ask about.

    Attributes:
      auth: None when unauthenticated, else {"uid": ..., "provider": ..., "token": {...claims}}.
      root: the namespace's stored tree before the operation; never mutated.
      now: the server time in ms since the epoch (the `now` variable).
    """

    auth: dict | None
    root: object
    now: int


@dataclass
class Decision:
    """The verdict on a write: where it was denied (None when allowed) and why, for logging."""

    allowed: bool
    path: tuple | None
    reason: str


class RuleSet:
    """A parsed, compiled rules document."""

    def __init__(self, root: RulesNode, source: str):
        self._root = root
        self.source = source

    @classmethod
    def parse(cls, source: str) -> "RuleSet":
        """Parse rules JSON text (// and /* */ comments allowed).

        Raises:
          RulesError: the rules are invalid; the message names the line and column.
        """
        return cls(document.build(source), source)

    def can_read(self, path: tuple[str, ...], ctx: Context, query=None) -> bool:
        """True if a .read rule at `path` or above grants the read.

        Args:
          path: the location read.
          ctx: who reads, the data, the time.
          query: the `emulator.query.Query` of the read, or None (the `query` variable).
        """
        path = tuple(path)
        before = TreeView(ctx.root)
        root, query_vars = Snapshot(before, ()), query_variable(query)
        for depth, node, captures in self._walk(path):
            rule = node.rules.get(READ)
            if rule is not None and evaluate(rule.run, Env(ctx.auth, ctx.now, root, Snapshot(before, path[:depth]),
                                                           None, query_vars, captures), rule.probe):
                return True
        return False

    def check_write(self, sets: list[tuple[tuple[str, ...], object]], ctx: Context) -> Decision:
        """Decide a write of one or more locations, all or nothing.

        Args:
          sets: (absolute path, stored-form value or None to delete), non-overlapping, with server
            values already resolved; `newData` sees all of them applied.
          ctx: who writes, the tree before the write, the time.

        Returns:
          The Decision; when denied, the first location that failed and why.

        Raises:
          ValueError: two sets overlap.
        """
        sets = [(tuple(path), value) for path, value in sets]
        check = _WriteCheck(ctx, TreeView(ctx.root), TreeView(ctx.root, sets))
        for path, _ in sets:
            if not any(check.passes(node.rules.get(WRITE), path[:depth], captures)
                       for depth, node, captures in self._walk(path)):
                return Decision(False, path, _NO_WRITE_RULE.format(path=path_str(path)))
        validated: set[tuple[str, ...]] = set()
        for path, value in sets:
            for depth, node, captures in self._walk(path):
                location = path[:depth]
                if depth < len(path) and location not in validated:
                    validated.add(location)
                    if not check.validates(node.rules.get(VALIDATE), location, captures):
                        return check.denial(node, location)
                elif depth == len(path) and value is not None:
                    failure = self._validate_written(check, node, location, value, captures)
                    if failure is not None:
                        return failure
        return Decision(True, None, "")

    def rules(self) -> list[tuple[str, Rule]]:
        """Every rule with its location, e.g. ("/tickets/$ticketId/.write", rule), in source order."""
        found: list[tuple[str, Rule]] = []

        def visit(node: RulesNode, path: str) -> None:
            found.extend((f"{path}/{kind}", rule) for kind, rule in node.rules.items())
            named = list(node.children.items()) + ([node.wildcard] if node.wildcard is not None else [])
            for key, child in named:
                visit(child, f"{path}/{key}")

        visit(self._root, "")
        return sorted(found, key=lambda item: item[1].probe.start)

    def index_on(self, path: tuple[str, ...]) -> list[str]:
        """The .indexOn list of the rules at `path` ([] when none)."""
        path = tuple(path)
        for depth, node, _ in self._walk(path):
            if depth == len(path):
                return list(node.index_on)
        return []

    def _walk(self, path: tuple[str, ...]) -> Iterator[tuple[int, RulesNode, dict[str, str]]]:
        """(depth, rules node, $wildcard captures) from the root down to `path`, while rules exist."""
        node, captures = self._root, {}
        for depth in range(len(path) + 1):
            yield depth, node, captures
            if depth == len(path):
                return
            node, captures = node.descend(path[depth], captures)
            if node is None:
                return

    def _validate_written(self, check: "_WriteCheck", node: RulesNode, location: tuple[str, ...], value,
                          captures: dict[str, str]) -> Decision | None:
        if not check.validates(node.rules.get(VALIDATE), location, captures):
            return check.denial(node, location)
        for key, child in children(value).items():
            child_node, child_captures = node.descend(key, captures)
            if child_node is not None:
                failure = self._validate_written(check, child_node, location + (key,), child, child_captures)
                if failure is not None:
                    return failure
        return None


class _WriteCheck:
    """Evaluates write-time rules with `data` before and `newData` after the write, memoising .write."""

    def __init__(self, ctx: Context, before: TreeView, after: TreeView):
        self.ctx = ctx
        self.before = before
        self.after = after
        self.root = Snapshot(before, ())
        self.granted: dict[tuple[str, ...], bool] = {}

    def env(self, location: tuple[str, ...], captures: dict[str, str]) -> Env:
        return Env(self.ctx.auth, self.ctx.now, self.root, Snapshot(self.before, location),
                   Snapshot(self.after, location), None, captures)

    def passes(self, rule: Rule | None, location: tuple[str, ...], captures: dict[str, str]) -> bool:
        if rule is None:
            return False
        if location not in self.granted:
            self.granted[location] = evaluate(rule.run, self.env(location, captures), rule.probe)
        return self.granted[location]

    def validates(self, rule: Rule | None, location: tuple[str, ...], captures: dict[str, str]) -> bool:
        if rule is None or not Snapshot(self.after, location).exists():
            return True
        return evaluate(rule.run, self.env(location, captures), rule.probe)

    def denial(self, node: RulesNode, location: tuple[str, ...]) -> Decision:
        reason = _VALIDATE_FAILED.format(path=path_str(location), rule=node.rules[VALIDATE].source)
        return Decision(False, location, reason)


def query_variable(query) -> dict:
    """The `query` variable of a read: Firebase's orderBy*/startAt/endAt/equalTo/limitTo* members.

    A plain read (no query) is ordered by key: `query.orderByKey` is true and the other orderBy*
    false, as recorded against Firebase, though its reference describes orderByKey only as true for
    queries that order by key (the README says so). Bounds and limits are null when absent.
    """
    order_by = ORDER_BY_KEY if query is None else query.order_by

    def bound(name: str):
        value = getattr(query, name, None)
        return value[0] if value is not None else None

    return {
        "orderByKey": order_by == ORDER_BY_KEY,
        "orderByPriority": order_by == ORDER_BY_PRIORITY,
        "orderByValue": order_by == ORDER_BY_VALUE,
        "orderByChild": order_by if order_by not in _SPECIAL_ORDERS else None,
        "startAt": bound("start_at"),
        "endAt": bound("end_at"),
        "equalTo": bound("equal_to"),
        "limitToFirst": getattr(query, "limit_to_first", None),
        "limitToLast": getattr(query, "limit_to_last", None),
    }
