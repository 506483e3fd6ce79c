"""In-memory tree operations on the stored form of a namespace (see `values.normalize`).

Writes replace subtrees rather than mutate them, so a value handed out before a write (an undo
record) keeps its contents; parents left empty by a delete are pruned, as Firebase does.
"""

from emulator import values


def get(root, path: tuple[str, ...]):
    """The stored node at `path`, or None."""
    node = root
    for key in path:
        node = values.children(node).get(key)
        if node is None:
            return None
    return node


def set_at(root, path: tuple[str, ...], value):
    """Store `value` (stored form, None deletes) at `path`.

    Returns:
      (new_root, undo): undo is `(path, old_value)`; writing old_value back at that path
      restores the tree exactly (it names the highest node whose old value the write lost).
    """
    if not path:
        return value, ((), root)
    # Find the deepest existing object along the path: below it everything is created anew.
    node, parents = root, []
    for i, key in enumerate(path[:-1]):
        if not isinstance(node, dict) or values.strip_priority(node) is not node:
            return _replace_leaf(root, path, i, node, value)
        parents.append(node)
        node = node.get(key)
        if node is None:
            if value is None:
                return root, (path, None)
            return _create_below(root, path, i + 1, parents, value)
    if not isinstance(node, dict) or values.strip_priority(node) is not node:
        return _replace_leaf(root, path, len(path) - 1, node, value)
    parents.append(node)
    last = path[-1]
    old = node.get(last)
    if value is None:
        node.pop(last, None)
        root = _prune(root, path, parents)
    else:
        node[last] = value
    return root, (path, old)


def _replace_leaf(root, path, depth, leaf, value):
    """The write goes through a leaf (or nothing) at path[:depth]: replace that node whole."""
    if value is None:
        return root, (path, None)
    subtree = value
    for key in reversed(path[depth:]):
        subtree = {key: subtree}
    priority = values.priority_of(leaf)
    if priority is not None:
        subtree[".priority"] = priority
    new_root, _ = set_at(root, path[:depth], subtree)
    return new_root, (path[:depth], leaf)


def _create_below(root, path, depth, parents, value):
    """path[:depth] is missing under an existing object: build the branch and attach it."""
    subtree = value
    for key in reversed(path[depth:]):
        subtree = {key: subtree}
    parents[-1][path[depth - 1]] = subtree
    return root, (path[:depth], None)


def _prune(root, path, parents):
    for depth in range(len(parents) - 1, -1, -1):
        node = parents[depth]
        if values.children(node):
            return root
        if depth == 0:
            return None
        parents[depth - 1].pop(path[depth - 1], None)
    return root


def resolve_server_values(root, path: tuple[str, ...], value, now_ms: int):
    """Replace `.sv` placeholders in `value` (to be written at `path`) with their results."""
    if values.is_server_value(value):
        return values.server_value_result(value, get(root, path), now_ms)
    if isinstance(value, dict):
        for key, child in list(value.items()):
            if isinstance(child, dict):
                value[key] = resolve_server_values(root, path + (key,), child, now_ms)
    return value


def snapshot_parts(root, limit: int):
    """Yield `(path, part)` pieces of a stored tree that `assemble` puts back together: `part` is a dict of at most
    `limit` children of the node at `path`, or, for a root that is not an object, the root itself. A child that
    has more than `limit` children of its own is split the same way instead of going into its parent's part.

    Lazy: each node's keys are listed when it is reached and each child is read when its part is made, so the
    caller may let the tree change between parts, as long as it serialises each part before it does.
    """
    if root is None:
        return
    if not isinstance(root, dict):
        yield (), root
        return
    yield from _node_parts(root, (), limit)


def _node_parts(node: dict, path: tuple[str, ...], limit: int):
    keys = list(node)
    for start in range(0, len(keys), limit):
        part, large = {}, []
        for key in keys[start:start + limit]:
            child = node.get(key)
            if isinstance(child, dict) and len(child) > limit:
                large.append((key, child))
            elif child is not None:
                part[key] = child
        if part:
            yield path, part
        for key, child in large:
            yield from _node_parts(child, path + (key,), limit)


def assemble(parts) -> object:
    """The tree whose `snapshot_parts` are `parts` (in their order), or None for none."""
    root = None
    for path, part in parts:
        if not path and not isinstance(part, dict):
            root = part
            continue
        if not isinstance(root, dict):
            root = {}
        node = root
        for key in path:
            child = node.get(key)
            if not isinstance(child, dict):
                child = node[key] = {}
            node = child
        node.update(part)
    return root
