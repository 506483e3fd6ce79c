"""Ordered indexes of a location's children, so a query costs what it returns, not what is stored.

An index holds one location's children sorted by one ordering (`$key`, `$value`, `$priority`, or a child
path named in the rules' `.indexOn`), as `query.sort_key` positions in a `SortedList`. It is built on the
first query that needs it and kept in step with every write at apply time (a store write hook), so a query
with a limit costs O(log N + k): two bisections and k steps. A write at or above an indexed location drops
its index (rebuilt on the next query); a rolled-back write drops every index of its namespace. Results are
those of `query.apply_query`, the reference path that unindexed queries still take.

`Window` describes what a query listener last saw, so the fan-out can skip the listeners a change does
not touch (`touches`).
"""

from collections import OrderedDict
from dataclasses import dataclass

from sortedcontainers import SortedList

from emulator import query as queries
from emulator import tree, values

MAX_INDEXES = 512  # built indexes kept (least recently used dropped first); each costs O(children)


class ChildIndex:
    """The children of one location in one ordering."""

    def __init__(self, order_by: str, node):
        self.order_by = order_by
        kids = values.children(node) if _is_object(node) else {}
        self._position = {name: self._key(name, child) for name, child in kids.items()}
        self._sorted = SortedList(self._position.values())
        self._names = {position: name for name, position in self._position.items()}

    def __len__(self) -> int:
        return len(self._sorted)

    def _key(self, name, child) -> tuple:
        return queries.sort_key(self.order_by, name, child, values.priority_of(child))

    def update(self, name: str, child) -> None:
        """The child `name` now stores `child` (None: removed)."""
        old = self._position.pop(name, None)
        if old is not None:
            self._sorted.remove(old)
            del self._names[old]
        if child is not None:
            position = self._key(name, child)
            self._position[name] = position
            self._sorted.add(position)
            self._names[position] = name

    def select(self, query: queries.Query) -> list[str]:
        """The names `query` returns, in order."""
        lower, upper = queries._bounds(query)
        start, end = 0, len(self._sorted)
        for position, strict in lower:
            start = max(start, (self._sorted.bisect_right if strict else self._sorted.bisect_left)(position))
        for position, strict in upper:
            end = min(end, (self._sorted.bisect_left if strict else self._sorted.bisect_right)(position))
        if end <= start:
            return []
        if query.limit_to_first is not None:
            end = min(end, start + query.limit_to_first)
        if query.limit_to_last is not None:
            start = max(start, end - query.limit_to_last)
        return [self._names[p] for p in self._sorted.islice(start, end)]


@dataclass(frozen=True)
class Window:
    """What a query listener was last sent: its children's names and the range of their positions.

    `names` is the listener's own set: a query without a limit keeps it up to date child by child (`inside`).
    """

    names: set
    first: tuple | None
    last: tuple | None
    full: bool  # a limit query that returned as many children as its limit


class Indexes:
    """Every built index of a database, kept in step with its writes.

    Args:
      db: the store (`Database`); the index registers itself as a write hook and a rollback hook.
      is_indexed: fn(ns, path, order_by) -> bool, whether the rules index a child ordering there.
    """

    def __init__(self, db, is_indexed):
        self.db, self.is_indexed = db, is_indexed
        self._built: OrderedDict = OrderedDict()  # (ns, path, order_by) -> ChildIndex
        self._by_location: dict = {}  # (ns, path) -> set of order_by built there
        db.write_hooks.append(self._on_write)
        db.rollback_hooks.append(self._on_rollback)

    def select(self, ns: str, path: tuple, query: queries.Query):
        """The children of the node at `path` that `query` returns, in order, and the Window they make.

        Returns:
          (dict of name -> stored child, or None when the node is not an object; Window or None).
        """
        node = self.db.get(ns, path)
        if not _is_object(node):
            return None, None
        kids = values.children(node)
        index = self._index(ns, path, query.order_by, node)
        if index is None:
            picked = queries.apply_query(query, kids, lambda key: values.priority_of(kids.get(key)))
            names = list(picked)
        else:
            names = index.select(query)
            picked = {name: kids[name] for name in names}
        return picked, self._window(query, names, kids)

    def _index(self, ns, path, order_by, node) -> ChildIndex | None:
        key = (ns, path, order_by)
        index = self._built.get(key)
        if index is not None:
            self._built.move_to_end(key)
            return index
        if order_by not in (queries.ORDER_BY_KEY, queries.ORDER_BY_PRIORITY, queries.ORDER_BY_VALUE) and \
                not self.is_indexed(ns, path, order_by):
            return None  # unindexed: the reference path, as Firebase's emulator serves it (with a warning)
        index = self._built[key] = ChildIndex(order_by, node)
        self._by_location.setdefault((ns, path), set()).add(order_by)
        while len(self._built) > MAX_INDEXES:
            (old_ns, old_path, old_order), _ = self._built.popitem(last=False)
            self._by_location.get((old_ns, old_path), set()).discard(old_order)
        return index

    def _window(self, query, names, kids) -> Window:
        if not names:
            return Window(set(), None, None, False)
        limit = query.limit_to_first if query.limit_to_first is not None else query.limit_to_last
        position = lambda name: queries.sort_key(query.order_by, name, kids[name], values.priority_of(kids[name]))
        return Window(set(names), position(names[0]), position(names[-1]),
                      limit is not None and len(names) >= limit)

    def _on_write(self, change, _root_before):
        locations = [loc for (ns, loc) in self._by_location if ns == change.ns and self._by_location[(ns, loc)]]
        if not locations:
            return None

        def finish(root_after):
            for location in locations:
                n = len(location)
                touched = set()
                for path, _ in change.sets:
                    if len(path) > n and path[:n] == location:
                        touched.add(path[n])
                    elif location[:len(path)] == path:  # at or above: the whole location changed
                        self._drop(change.ns, location)
                        touched = None
                        break
                if touched:
                    node = tree.get(root_after, location)
                    kids = values.children(node) if _is_object(node) else {}
                    for order_by in self._by_location.get((change.ns, location), ()):
                        index = self._built[(change.ns, location, order_by)]
                        for name in touched:
                            index.update(name, kids.get(name))
            return []

        return finish

    def _drop(self, ns, location) -> None:
        for order_by in self._by_location.pop((ns, location), set()):
            self._built.pop((ns, location, order_by), None)

    def _on_rollback(self, ns: str) -> None:
        for (index_ns, location) in list(self._by_location):
            if index_ns == ns:
                self._drop(ns, location)


def touches(query: queries.Query, window: Window, name: str, child) -> bool:
    """Whether writing `child` (None: deleted) as the child `name` can change a listener's window."""
    if name in window.names:
        return True
    if not inside(query, name, child):
        return False
    if window.full:
        position = queries.sort_key(query.order_by, name, child, values.priority_of(child))
        if query.limit_to_first is not None:
            return position < window.last
        return position > window.first
    return True


def unlimited(query: queries.Query) -> bool:
    """True for a query without limitToFirst or limitToLast: its result is every child within its bounds."""
    return query.limit_to_first is None and query.limit_to_last is None


def inside(query: queries.Query, name: str, child) -> bool:
    """Whether the child `name`, stored as `child` (None: absent), is within `query`'s bounds (start, end, equal)."""
    if child is None:
        return False
    position = queries.sort_key(query.order_by, name, child, values.priority_of(child))
    lower, upper = queries._bounds(query)
    return (all(queries._after(position, b, strict) for b, strict in lower)
            and all(queries._after(b, position, strict) for b, strict in upper))


def _is_object(node) -> bool:
    return isinstance(node, dict) and values.strip_priority(node) is node
