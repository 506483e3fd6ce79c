"""Tests for emulator.query: Firebase's ordering, filters, limits and 400 texts."""

import dataclasses
import functools
import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.query import (
    QUERY_PARAMS,
    Query,
    QueryError,
    apply_query,
    parse_query,
    sort_key,
)


def ordered_keys(order_by, node, priorities=None):
    priorities = priorities or {}
    return sorted(node, key=lambda k: sort_key(order_by, k, node[k], priorities.get(k)))


def run(node, priorities=None, **params):
    query = parse_query({name: str(raw) for name, raw in params.items()})
    return apply_query(query, node, (priorities or {}).get)


# ---------------------------------------------------------------- ordering


def test_values_order_null_false_true_numbers_strings_objects():
    node = {"obj": {"x": 1}, "s2": "b", "s1": "a", "n2": 10, "n1": -2.5, "t": True, "f": False}
    assert ordered_keys("$value", node) == ["f", "t", "n1", "n2", "s1", "s2", "obj"]


def test_child_order_puts_missing_children_first_as_null():
    node = {"a": {"h": 3}, "b": {}, "c": {"other": 1}, "d": {"h": None}, "e": {"h": "x"}, "f": 7}
    assert ordered_keys("h", node) == ["b", "c", "d", "f", "a", "e"]


def test_nested_child_path_reads_deep_value():
    node = {"x": {"a": {"b": 2}}, "y": {"a": {"b": 1}}, "z": {"a": 5}, "w": {"a": {"b": {"c": 0}}}}
    assert ordered_keys("a/b", node) == ["z", "y", "x", "w"]


def test_a_leaf_with_a_priority_is_ordered_by_its_value_not_as_an_object():
    node = {"p": {".value": 5, ".priority": 1}, "q": 7, "r": {"x": 1}, "s": "a"}
    assert ordered_keys("$value", node) == ["p", "q", "s", "r"]
    assert run(node, orderBy='"$value"', equalTo="5") == {"p": {".value": 5, ".priority": 1}}
    nested = {"p": {"h": {".value": "b", ".priority": 2}}, "q": {"h": "a"}, "r": {"h": {"x": 1}}, "s": {}}
    assert ordered_keys("h", nested) == ["s", "q", "p", "r"]
    assert list(run(nested, orderBy='"h"', startAt='"b"', endAt='"b"')) == ["p"]
    # An object that carries a priority is still an object.
    assert ordered_keys("$value", {"o": {"x": 1, ".priority": 0}, "n": 1}) == ["n", "o"]


def test_ties_are_broken_by_key_order():
    node = {"b": 1, "a": 1, "10": 1, "2": 1, "obj2": {"k": 1}, "obj1": {"k": 2}}
    assert ordered_keys("$value", node) == ["2", "10", "a", "b", "obj1", "obj2"]


@pytest.mark.parametrize(
    "keys, expected",
    [
        (["10", "2", "-1", "a", "1"], ["-1", "1", "2", "10", "a"]),
        (["2147483647", "2147483648", "-2147483648", "-2147483649"],
         ["-2147483648", "2147483647", "-2147483649", "2147483648"]),
        (["5", "05", "4", "5.0", "+5"], ["4", "5", "05", "+5", "5.0"]),
        (["b", "B", "a", "aa", "-"], ["-", "B", "a", "aa", "b"]),
    ],
)
def test_key_order_puts_int32_keys_first_numerically(keys, expected):
    assert ordered_keys("$key", dict.fromkeys(keys, 1)) == expected


def test_strings_compare_by_utf16_code_units():
    # U+FFFF is one code unit 0xFFFF; U+10000 is the surrogate pair 0xD800 0xDC00, so it sorts first.
    assert ordered_keys("$value", {"a": "\uffff", "b": "\U00010000"}) == ["b", "a"]
    assert ordered_keys("$key", {"\uffff": 1, "\U00010000": 1}) == ["\U00010000", "\uffff"]


def test_priority_order_nulls_numbers_strings_then_key():
    node = dict.fromkeys("abcde", 1)
    priorities = {"a": "x", "b": 2, "c": None, "d": 1, "e": 2}
    assert ordered_keys("$priority", node, priorities) == ["c", "d", "b", "e", "a"]


def test_sort_key_accepts_a_query():
    query = Query(order_by="h")
    assert sort_key(query, "k", {"h": 1}) == sort_key("h", "k", {"h": 1})


# ---------------------------------------------------------------- filters and limits

HEIGHTS = {"a": {"h": 1}, "b": {"h": 2}, "c": {"h": 2}, "d": {"h": 3}, "e": {"h": "x"}, "f": {}}


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"startAt": 2}, ["b", "c", "d", "e"]),
        ({"startAfter": 2}, ["d", "e"]),
        ({"endAt": 2}, ["f", "a", "b", "c"]),
        ({"endBefore": 2}, ["f", "a"]),
        ({"startAt": 2, "endAt": 2}, ["b", "c"]),
        ({"startAfter": 1, "endBefore": 3}, ["b", "c"]),
        ({"equalTo": 2}, ["b", "c"]),
        ({"equalTo": "null"}, ["f"]),
        ({"equalTo": '"x"'}, ["e"]),
        ({"startAt": 3}, ["d", "e"]),
        ({"startAt": '"a"'}, ["e"]),
        ({"endAt": "true"}, ["f"]),
        ({"startAt": 4, "endAt": 9}, []),
        ({"limitToFirst": 2}, ["f", "a"]),
        ({"limitToLast": 2}, ["d", "e"]),
        ({"limitToLast": 10}, ["f", "a", "b", "c", "d", "e"]),
        ({"startAt": 2, "limitToFirst": 1}, ["b"]),
        ({"endAt": 2, "limitToLast": 3}, ["a", "b", "c"]),
        ({"equalTo": 2, "limitToLast": 1}, ["c"]),
    ],
)
def test_child_filters_then_limits(params, expected):
    result = run(HEIGHTS, orderBy='"h"', **params)
    assert list(result) == expected
    assert all(result[k] == HEIGHTS[k] for k in result)


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"startAt": '"10"'}, ["10", "a", "b"]),
        ({"endAt": '"2"'}, ["-1", "2"]),
        ({"startAfter": '"2"', "endBefore": '"b"'}, ["10", "a"]),
        ({"equalTo": '"a"'}, ["a"]),
        ({"startAt": '"1"'}, ["2", "10", "a", "b"]),
        ({"limitToFirst": 2}, ["-1", "2"]),
    ],
)
def test_key_filters(params, expected):
    node = dict.fromkeys(["b", "a", "10", "2", "-1"], 0)
    assert list(run(node, orderBy='"$key"', **params)) == expected


def test_value_and_priority_filters():
    node = {"a": 3, "b": "z", "c": 1, "d": True}
    assert list(run(node, orderBy='"$value"', startAt=2)) == ["a", "b"]
    priorities = {"a": 5, "b": "p", "c": None}
    assert list(run(node, priorities, orderBy='"$priority"', startAt=1, endAt='"q"')) == ["a", "b"]
    assert list(run(node, priorities, orderBy='"$priority"', equalTo="null")) == ["c", "d"]


def test_key_slot_breaks_ties_inclusively_and_exclusively():
    def keys(**bounds):
        return list(apply_query(Query(order_by="h", **bounds), HEIGHTS))

    assert keys(start_at=(2, "c")) == ["c", "d", "e"]
    assert keys(start_after=(2, "b")) == ["c", "d", "e"]
    assert keys(end_at=(2, "b")) == ["f", "a", "b"]
    assert keys(end_before=(2, "c")) == ["f", "a", "b"]
    assert keys(equal_to=(2, "c")) == ["c"]


def test_nothing_matching_gives_empty_object_and_non_objects_give_none():
    query = parse_query({"orderBy": '"h"', "equalTo": "99"})
    assert apply_query(query, HEIGHTS) == {}
    assert apply_query(query, None) is None
    assert apply_query(query, "leaf") is None


def test_priority_of_is_only_consulted_for_priority_order():
    def boom(key):
        raise AssertionError(key)

    assert list(apply_query(Query(order_by="$value"), {"a": 1}, boom)) == ["a"]


# ---------------------------------------------------------------- parsing


def test_no_query_params_means_no_query():
    assert parse_query({}) is None
    assert parse_query({"print": "pretty", "shallow": "true", "auth": "x", "ns": "n"}) is None


def test_parses_firebase_admin_style_params_and_ignores_others():
    query = parse_query({"orderBy": '"a/b"', "startAt": '"x"', "endAt": "3.5", "limitToLast": "4",
                         "print": "silent", "format": "export"})
    assert query == Query(order_by="a/b", start_at=("x", None), end_at=(3.5, None), limit_to_last=4)


@pytest.mark.parametrize("raw, order_by", [('"$key"', "$key"), ('"$value"', "$value"),
                                           ('"$priority"', "$priority"), ('"/a//b/"', "a/b")])
def test_order_by_forms(raw, order_by):
    assert parse_query({"orderBy": raw}) == Query(order_by=order_by)


def test_query_params_constant():
    assert QUERY_PARAMS == {"orderBy", "limitToFirst", "limitToLast", "startAt", "startAfter",
                            "endAt", "endBefore", "equalTo"}


@pytest.mark.parametrize(
    "params, message",
    [
        ({"limitToFirst": "1"}, "orderBy must be defined when other query parameters are defined"),
        ({"equalTo": '"x"'}, "orderBy must be defined when other query parameters are defined"),
        ({"orderBy": "height"}, "orderBy must be a valid JSON encoded path"),
        ({"orderBy": "5"}, "orderBy must be a valid JSON encoded path"),
        ({"orderBy": '"a.b"'}, 'Invalid query: orderBy="a.b". Each segment of a child path must be '
                               'non-empty and contain none of ".", "#", "$", "[", "]" or control characters.'),
        ({"orderBy": '"$foo"'}, 'Invalid query: orderBy="$foo". Each segment'),
        ({"orderBy": '"a/b\\u0001"'}, "Invalid query: orderBy="),
        ({"orderBy": '"/"'}, 'Invalid query: orderBy="/". The child path must name a child'),
        ({"orderBy": '"h"', "limitToFirst": "1", "limitToLast": "1"},
         "Only one of limitToFirst and limitToLast may be specified"),
        ({"orderBy": '"h"', "limitToFirst": "abc"}, "limitToFirst must be an integer"),
        ({"orderBy": '"h"', "limitToLast": "1.5"}, "limitToLast must be an integer"),
        ({"orderBy": '"h"', "limitToFirst": "0"}, "limitToFirst must be positive"),
        ({"orderBy": '"h"', "limitToLast": "-3"}, "limitToLast must be positive"),
        ({"orderBy": '"h"', "limitToLast": ""}, "limitToLast must be positive"),
        *(({"orderBy": '"h"', "equalTo": "1", other: "1"},
           "equalTo cannot be specified in addition to startAfter, startAt, endAt, or endBefore")
          for other in ("startAt", "startAfter", "endAt", "endBefore")),
        ({"orderBy": '"h"', "startAt": "1", "startAfter": "1"},
         "Only one of startAt and startAfter may be specified"),
        ({"orderBy": '"h"', "endAt": "1", "endBefore": "1"}, "Only one of endAt and endBefore may be specified"),
        ({"orderBy": '"h"', "startAt": "abc"}, "Constraint index field must be a JSON primitive"),
        ({"orderBy": '"h"', "endAt": '{"a": 1}'}, "Constraint index field must be a JSON primitive"),
        ({"orderBy": '"h"', "equalTo": "[1]"}, "Constraint index field must be a JSON primitive"),
        ({"orderBy": '"h"', "startAt": "NaN"}, "Constraint index field must be a JSON primitive"),
        ({"orderBy": '"h"', "startAt": "1e999"}, "Constraint index field must be a JSON primitive"),
        ({"orderBy": '"$key"', "startAt": "5"}, "Provided key index type is invalid, must be string"),
        ({"orderBy": '"$key"', "equalTo": "null"}, "Provided key index type is invalid, must be string"),
        ({"orderBy": '"$priority"', "startAt": "true"},
         'Invalid query: startAt=true. When ordering by priority, the value must be null, a number, or a string.'),
    ],
)
def test_bad_queries_raise_firebase_texts(params, message):
    with pytest.raises(QueryError) as error:
        parse_query(params)
    assert str(error.value).startswith(message)
    assert isinstance(error.value, ValueError)


# ---------------------------------------------------------------- brute-force reference


def ref_int(key):
    if re.fullmatch(r"-?0*[0-9]{1,10}", key) and -(2**31) <= int(key) < 2**31:
        return int(key)
    return None


def cmp(a, b):
    return (a > b) - (a < b)


def ref_name_cmp(a, b):
    ia, ib = ref_int(a), ref_int(b)
    if ia is not None and ib is not None:
        return cmp(ia, ib) or cmp(len(a), len(b)) or cmp(a, b)
    if (ia is None) != (ib is None):
        return -1 if ia is not None else 1
    return cmp(a.encode("utf-16-be"), b.encode("utf-16-be"))


def ref_value_cmp(a, b):
    def rank(v):
        return [v is None, v is False, v is True, type(v) in (int, float), type(v) is str, type(v) is dict].index(True)

    if rank(a) != rank(b):
        return cmp(rank(a), rank(b))
    if isinstance(a, str):
        return cmp(a.encode("utf-16-be"), b.encode("utf-16-be"))
    return cmp(a, b) if rank(a) == 3 else 0  # numbers compare; objects all tie


def ref_index(order_by, key, node, priorities):
    if order_by == "$key":
        return key
    if order_by == "$priority":
        return priorities.get(key)
    value = node[key]
    for segment in [] if order_by == "$value" else order_by.split("/"):
        value = value.get(segment) if isinstance(value, dict) and ".value" not in value else None
    # A leaf with a priority is stored as {".value": v, ".priority": p} and indexed by v.
    return value[".value"] if isinstance(value, dict) and ".value" in value else value


def reference(q, node, priorities):
    index_cmp = ref_name_cmp if q.order_by == "$key" else ref_value_cmp

    def index(key):
        return ref_index(q.order_by, key, node, priorities)

    def rel(key, bound, tie):  # sign of (child - bound); `tie` when the values tie and the bound has no key
        c = index_cmp(index(key), bound[0])
        return c or (tie if bound[1] is None else ref_name_cmp(key, bound[1]))

    keys = sorted(node, key=functools.cmp_to_key(lambda a, b: index_cmp(index(a), index(b)) or ref_name_cmp(a, b)))
    for bound, keep in [(q.start_at, lambda k, b: rel(k, b, 1) >= 0), (q.start_after, lambda k, b: rel(k, b, -1) > 0),
                        (q.end_at, lambda k, b: rel(k, b, -1) <= 0), (q.end_before, lambda k, b: rel(k, b, 1) < 0),
                        (q.equal_to, lambda k, b: rel(k, b, 1) >= 0 and rel(k, b, -1) <= 0)]:
        keys = [k for k in keys if bound is None or keep(k, bound)]
    if q.limit_to_first is not None:
        keys = keys[: q.limit_to_first]
    if q.limit_to_last is not None:
        keys = keys[len(keys) - q.limit_to_last :] if q.limit_to_last < len(keys) else keys
    return [(k, node[k]) for k in keys]


# Small domains, and bounds drawn from the tree itself, so that ties with bounds are frequent.
KEY_LIST = ["0", "-0", "00", "5", "05", "-1", "2147483647", "-2147483649", "a", "B", "\uffff", "\U00010000"]
KEYS = st.sampled_from(KEY_LIST)
LEAVES = st.one_of(st.booleans(), st.integers(-1, 2), st.sampled_from([0.5, 2.0, "", "a", "B", "\uffff", "\U00010000"]))
PRIMITIVES = st.none() | LEAVES
PRIORITIES = st.one_of(st.none(), st.integers(-2, 2), st.sampled_from(["a", "b"]))
# Stored forms with a priority: a leaf {".value": v, ".priority": p}, an object with a ".priority" key.
STORED_PRIORITIES = st.one_of(st.integers(-2, 2), st.sampled_from(["a", "b"]))
PRIORITY_LEAVES = st.builds(lambda v, p: {".value": v, ".priority": p}, LEAVES, STORED_PRIORITIES)
VALUES = st.recursive(
    LEAVES | PRIORITY_LEAVES,
    lambda inner: st.builds(lambda children, p: children if p is None else {**children, ".priority": p},
                            st.dictionaries(st.sampled_from(["h", "a", "b"]), inner, min_size=1, max_size=3),
                            st.none() | STORED_PRIORITIES),
    max_leaves=6)
ALL_PRIORITIES = st.builds(lambda values: dict(zip(KEY_LIST, values)),
                           st.lists(PRIORITIES, min_size=len(KEY_LIST), max_size=len(KEY_LIST)))


@st.composite
def cases(draw):
    """A random (query, node, priorities) triple."""
    node = draw(st.dictionaries(KEYS, VALUES, max_size=8))
    priorities = draw(ALL_PRIORITIES)
    order_by = draw(st.sampled_from(["$key", "$value", "$priority", "h", "a/b"]))
    values = {"$key": KEYS, "$priority": PRIORITIES}.get(order_by, PRIMITIVES)
    present = [v for k in node if not isinstance(v := ref_index(order_by, k, node, priorities), dict)]
    if present:
        values = st.sampled_from(present) | values
    keys = st.none() | (st.sampled_from(sorted(node)) if node else KEYS)
    lower = draw(st.sampled_from([None, "start_at", "start_after", "equal_to"]))
    upper = None if lower == "equal_to" else draw(st.sampled_from([None, "end_at", "end_before"]))
    bounds = {field: draw(st.tuples(values, keys)) for field in (lower, upper) if field}
    limits = {draw(st.sampled_from(["limit_to_first", "limit_to_last"])): draw(st.sampled_from([None, 0, 1, 2, 5]))}
    return Query(order_by=order_by, **bounds, **limits), node, priorities


@settings(max_examples=500, deadline=None)
@given(case=cases())
def test_apply_query_matches_brute_force_reference(case):
    q, node, priorities = case
    assert list(apply_query(q, node, priorities.get).items()) == reference(q, node, priorities)


@settings(max_examples=300, deadline=None)
@given(node=st.builds(lambda keys, values: dict(zip(keys, values)),
                      st.permutations(KEY_LIST), st.lists(VALUES, min_size=6, max_size=len(KEY_LIST))),
       priorities=ALL_PRIORITIES,
       order_by=st.sampled_from(["$key", "$value", "$priority", "h", "a/b"]))
def test_sort_key_matches_reference_order(node, priorities, order_by):
    expected = [key for key, _ in reference(Query(order_by=order_by), node, priorities)]
    assert ordered_keys(order_by, node, priorities) == expected


BOUND_FIELDS = ("start_at", "start_after", "end_at", "end_before", "equal_to")
REST_NAMES = {"start_at": "startAt", "start_after": "startAfter", "end_at": "endAt", "end_before": "endBefore",
              "equal_to": "equalTo", "limit_to_first": "limitToFirst", "limit_to_last": "limitToLast"}


@settings(max_examples=200, deadline=None)
@given(case=cases())
def test_rest_params_round_trip_through_parse_query(case):
    q = case[0]
    q = dataclasses.replace(q, **{f: (getattr(q, f)[0], None) for f in BOUND_FIELDS if getattr(q, f)})  # REST: no key
    params = {"orderBy": json.dumps(q.order_by)}
    for field, name in REST_NAMES.items():
        value = getattr(q, field)
        if value is not None:
            params[name] = str(value) if field.startswith("limit") else json.dumps(value[0])
    if 0 in (q.limit_to_first, q.limit_to_last):
        with pytest.raises(QueryError, match="must be positive"):
            parse_query(params)
    else:
        assert parse_query(params) == q
