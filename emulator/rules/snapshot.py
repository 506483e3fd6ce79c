"""Read-only views of a namespace tree for rules: `data`/`root` (before) and `newData` (after a write).

A `TreeView` over the stored tree may carry pending sets; it answers lookups by walking the base
tree and the sets together, so evaluating `newData` never copies or mutates the stored tree. The
merge follows the store (`emulator.tree`): a delete under a leaf changes nothing, a value under a
leaf replaces it (keeping its priority), and objects left without children vanish.
"""

from __future__ import annotations

from emulator import values

NONE, LEAF, OBJECT = "none", "leaf", "object"
_PRIORITY = ".priority"


class _Set:
    """A value written at a trie position (None deletes)."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


class TreeView:
    """The stored tree `base` as it would be after writing `sets` ([(path, value)], non-overlapping)."""

    def __init__(self, base, sets=()):
        self._base = base
        self._trie = None
        for path, value in sets:
            self._trie = _insert(self._trie, path, value)
        # Rules look up the same few locations many times (each `newData.child(...).val()` of a ticket's
        # .validate rules): each is resolved once, from its parent's resolution. The base tree and the
        # sets never change under a view, so what was resolved stays true.
        self._resolved: dict[tuple[str, ...], tuple] = {(): _unwrap(base, self._trie)}

    def resolve(self, path: tuple[str, ...]):
        """(base node, pending trie or None) for the node at `path`."""
        found = self._resolved.get(path)
        if found is None:
            base, trie = self.resolve(path[:-1])
            key = path[-1]
            if trie is None:
                found = (_child(base, key), None)
            else:
                found = _unwrap(_child(base, key), trie.get(key))
            self._resolved[path] = found
        return found


class Snapshot:
    """The node at `path` in a view, with the RuleDataSnapshot methods rules call."""

    __slots__ = ("view", "path")

    def __init__(self, view: TreeView, path: tuple[str, ...]):
        self.view = view
        self.path = path

    def shape(self) -> str:
        """NONE, LEAF or OBJECT."""
        return _shape(*self.view.resolve(self.path))

    def exists(self) -> bool:
        return self.shape() != NONE

    def val(self):
        """The primitive value; OBJECT_VALUE for a node with children (as Firebase's sentinel)."""
        base, trie = self.view.resolve(self.path)
        shape = _shape(base, trie)
        if shape == OBJECT:
            return OBJECT_VALUE
        return values.strip_priority(base) if shape == LEAF else None

    def priority(self):
        base, trie = self.view.resolve(self.path)
        return values.priority_of(base) if _shape(base, trie) != NONE else None

    def child(self, keys: tuple[str, ...]) -> "Snapshot":
        return Snapshot(self.view, self.path + keys)

    def parent(self) -> "Snapshot | None":
        return Snapshot(self.view, self.path[:-1]) if self.path else None

    def has_children(self) -> bool:
        return self.shape() == OBJECT


class _ObjectValue:
    """What val() gives for a node with children: equal to nothing, usable for nothing."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<object>"


OBJECT_VALUE = _ObjectValue()


def _insert(trie, path: tuple[str, ...], value):
    overlap = ValueError(f'Invalid sets: "{values.path_str(path)}" overlaps another set. '
                         "The paths of a multi-path update must not overlap.")
    if not path:
        if trie is not None:
            raise overlap
        return _Set(value)
    if isinstance(trie, _Set):
        raise overlap
    trie = {} if trie is None else trie
    node = trie
    for key in path[:-1]:
        child = node.setdefault(key, {})
        if isinstance(child, _Set):
            raise overlap
        node = child
    if path[-1] in node:
        raise overlap
    node[path[-1]] = _Set(value)
    return trie


def _unwrap(base, trie):
    return (trie.value, None) if isinstance(trie, _Set) else (base, trie)


def _is_object(node) -> bool:
    return isinstance(node, dict) and values.strip_priority(node) is node


def _child(node, key: str):
    # Not values.children(): that copies an object carrying a priority, on every lookup.
    return node.get(key) if _is_object(node) and key != _PRIORITY else None


def _shape(base, trie) -> str:
    if trie is None:
        return NONE if base is None else OBJECT if _is_object(base) else LEAF
    if _is_object(base):
        # Only the first len(trie) + 2 keys can all be overwritten (or be .priority): this stops early.
        if any(key not in trie and key != _PRIORITY for key in base):
            return OBJECT
        return OBJECT if any(_shape(*_unwrap(base.get(k), sub)) != NONE for k, sub in trie.items()) else NONE
    if any(_shape(*_unwrap(None, sub)) != NONE for sub in trie.values()):
        return OBJECT
    return NONE if base is None else LEAF
