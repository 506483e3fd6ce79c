"""Tests for emulator.rules.snapshot: data/newData snapshots over stored trees and pending writes."""

import copy

import pytest

from emulator import tree
from emulator.rules.snapshot import LEAF, NONE, OBJECT, OBJECT_VALUE, Snapshot, TreeView

ROOT = {
    "tickets": {
        "t1": {"title": "Printer on fire", "impact": 3, "urgent": True, "uid": "u1",
               "tags": {"0": "hw", "1": "fire"}, ".priority": 7},
        "t2": {"title": "VPN", "impact": 1.5, "uid": "u2"},
    },
    "config": {".value": "on", ".priority": "p"},
}


def snap(*path, sets=()):
    return Snapshot(TreeView(ROOT, sets), tuple(path))


@pytest.mark.parametrize("expression, expected", [
    ("data.child('tickets/t1/title').val() == 'Printer on fire'", True),
    ("data.child('tickets').child('t1').child('impact').val() == 3", True),
    ("data.child('tickets/t2/impact').isNumber() && data.child('tickets/t2/impact').val() > 1", True),
    ("data.child('tickets/t1/urgent').isBoolean() && !data.child('tickets/t1/urgent').isString()", True),
    ("data.child('tickets/t1/title').isString() && !data.child('tickets/t1/title').isNumber()", True),
    ("!data.child('tickets/t1').isString() && !data.child('nope').isNumber()", True),
    ("data.child('tickets/t1').exists() && !data.child('tickets/t9').exists()", True),
    ("data.child('tickets//t1/').exists()", True),
    ("data.child('tickets/t1').hasChild('uid') && !data.child('tickets/t1').hasChild('nope')", True),
    ("data.child('tickets/t1').hasChild('tags/1') && !data.child('tickets/t1/title').hasChild('x')", True),
    ("data.child('tickets/t1').hasChildren() && !data.child('tickets/t1/title').hasChildren()", True),
    ("!data.child('nope').hasChildren()", True),
    ("data.child('tickets/t1').hasChildren(['title', 'uid', 'tags/0'])", True),
    ("!data.child('tickets/t1').hasChildren(['title', 'nope'])", True),
    ("data.child('tickets/t1').hasChildren([])", True),
    ("data.child('tickets/t1/title').parent().child('uid').val() == 'u1'", True),
    ("data.child('tickets/t1').parent().parent().child('config').val() == 'on'", True),
    ("data.child('tickets/t1').getPriority() == 7 && data.child('config').getPriority() == 'p'", True),
    ("data.child('tickets/t2').getPriority() == null && data.child('nope').getPriority() == null", True),
    ("data.child('config').isString() && !data.child('config').hasChildren()", True),
    ("data.child('nope/deeper/still').val() == null", True),
    ("data.child('tickets/t1/title/x').val() == null", True),
])
def test_snapshot_methods_on_nested_data(run, expression, expected):
    assert run(expression, root=ROOT) is expected


def test_data_at_a_location_and_its_parent(run):
    assert run("data.val() == 3 && data.parent().child('uid').val() == 'u1'", root=ROOT,
               location=("tickets", "t1", "impact")) is True


@pytest.mark.parametrize("sets, location, expression", [
    # a new child next to existing ones
    ([(("tickets", "t3"), {"title": "New", "uid": "u3"})], ("tickets", "t3"),
     "newData.child('title').val() == 'New' && !data.exists() && newData.parent().child('t1').exists()"),
    # replacing a value
    ([(("tickets", "t1", "impact"), 5)], ("tickets", "t1", "impact"),
     "data.val() == 3 && newData.val() == 5 && newData.parent().child('title').val() == 'Printer on fire'"),
    # a delete: gone in newData, still in data
    ([(("tickets", "t2"), None)], ("tickets", "t2"),
     "!newData.exists() && data.exists() && newData.parent().hasChildren(['t1']) && !newData.parent().hasChild('t2')"),
    # multi-path: newData sees every set
    ([(("tickets", "t1", "title"), "A"), (("tickets", "t2", "title"), "B"), (("x",), 1)], ("tickets",),
     "newData.child('t1/title').val() == 'A' && newData.child('t2/title').val() == 'B'"
     " && newData.parent().child('x').val() == 1 && newData.child('t1/impact').val() == 3"),
    # deleting every child of a node deletes the node (and its priority)
    ([(("tickets", "t2", "title"), None), (("tickets", "t2", "impact"), None), (("tickets", "t2", "uid"), None)],
     ("tickets", "t2"), "!newData.exists() && newData.getPriority() == null && newData.parent().exists()"),
    # deleting all but one child keeps the node
    ([(("tickets", "t2", "title"), None), (("tickets", "t2", "impact"), None)], ("tickets", "t2"),
     "newData.exists() && newData.hasChildren() && newData.child('uid').val() == 'u2'"),
    # a delete below a leaf changes nothing
    ([(("config", "x"), None)], ("config",), "newData.val() == 'on' && newData.getPriority() == 'p'"),
    # a value below a leaf turns it into an object that keeps the priority
    ([(("config", "x"), 1)], ("config",),
     "newData.hasChildren() && newData.child('x').val() == 1 && newData.getPriority() == 'p'"),
    # writing an object over a leaf, and a leaf over an object
    ([(("tickets", "t1", "title"), {"en": "Fire"})], ("tickets", "t1", "title"),
     "data.isString() && newData.hasChildren() && newData.child('en').val() == 'Fire'"),
    ([(("tickets", "t1"), "closed")], ("tickets", "t1", "title"), "data.exists() && !newData.exists()"),
    # replacing the whole root
    ([((), {"only": 1})], (), "newData.child('only').val() == 1 && !newData.child('tickets').exists()"),
    ([((), None)], (), "!newData.exists() && data.exists()"),
    # a priority-carrying leaf written
    ([(("config",), {".value": 2, ".priority": 1})], ("config",), "newData.val() == 2 && newData.getPriority() == 1"),
])
def test_new_data_is_the_tree_after_the_write(run, sets, location, expression):
    assert run(expression, root=ROOT, location=location, sets=sets) is True


def test_overlay_never_mutates_or_copies_the_stored_tree():
    stored = copy.deepcopy(ROOT)
    view = TreeView(stored, [(("tickets", "t1", "title"), None), (("tickets", "t9"), {"a": 1})])
    assert Snapshot(view, ("tickets", "t9", "a")).val() == 1
    assert not Snapshot(view, ("tickets", "t1", "title")).exists()
    assert stored == ROOT


@pytest.mark.parametrize("sets", [
    [(("a",), 1), (("a", "b"), 2)],
    [(("a", "b"), 2), (("a",), 1)],
    [(("a",), 1), (("a",), 2)],
    [((), 1), (("a",), 2)],
])
def test_overlapping_sets_are_refused(sets):
    with pytest.raises(ValueError, match="overlaps"):
        TreeView({}, sets)


def test_val_of_an_object_is_the_opaque_sentinel():
    assert snap("tickets", "t1").val() is OBJECT_VALUE
    assert snap("tickets", "t1", "title").val() == "Printer on fire"
    assert snap("config").val() == "on"


SET_CASES = [
    [(("tickets", "t1", "impact"), 4)],
    [(("tickets", "t2"), None)],
    [(("tickets", "t2", "title"), None), (("tickets", "t2", "impact"), None), (("tickets", "t2", "uid"), None)],
    [(("config", "x"), None)],
    [(("config", "x", "y"), 1)],
    [(("tickets", "t1", "title", "en"), "Fire")],
    [(("new", "deep", "path"), True), (("tickets", "t1", "tags", "0"), None)],
    [((), None)],
]


@pytest.mark.parametrize("sets", SET_CASES)
def test_overlay_agrees_with_the_store(sets):
    stored = copy.deepcopy(ROOT)
    for path, value in sets:
        stored, _ = tree.set_at(stored, path, copy.deepcopy(value))
    view = TreeView(ROOT, sets)
    for path in [(), ("tickets",), ("tickets", "t1"), ("tickets", "t1", "title"), ("tickets", "t2"), ("config",),
                 ("config", "x"), ("config", "x", "y"), ("new", "deep"), ("tickets", "t1", "tags")]:
        expected = tree.get(stored, path)
        snapshot = Snapshot(view, path)
        is_object = isinstance(expected, dict) and ".value" not in expected
        shape = NONE if expected is None else OBJECT if is_object else LEAF
        assert snapshot.shape() == shape, path
        assert snapshot.priority() == (expected.get(".priority") if isinstance(expected, dict) else None), path
        if shape == LEAF:
            assert snapshot.val() == (expected[".value"] if isinstance(expected, dict) else expected), path
