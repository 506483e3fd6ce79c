"""Realtime Database REST queries: parse orderBy/limitTo*/startAt/... and select a node's children.

Pure functions over stored JSON values (stdlib only, no I/O); `QueryError` carries Firebase's 400 text.
Children are given in the stored form, where a leaf with a priority is `{".value": v, ".priority": p}`:
it is ordered by `v`, as Firebase orders it, never as an object.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Callable, Mapping

ORDER_BY_KEY = "$key"
ORDER_BY_VALUE = "$value"
ORDER_BY_PRIORITY = "$priority"
_SPECIAL_ORDERS = frozenset({ORDER_BY_KEY, ORDER_BY_VALUE, ORDER_BY_PRIORITY})
# The stored form of a leaf with a priority: {".value": v, ".priority": p} (see emulator/values.py).
_VALUE = ".value"

_LIMIT_PARAMS = ("limitToFirst", "limitToLast")
_RANGE_PARAMS = ("startAt", "startAfter", "endAt", "endBefore", "equalTo")
QUERY_PARAMS = frozenset({"orderBy", *_LIMIT_PARAMS, *_RANGE_PARAMS})

# Firebase's texts where they are known (observed answers of the production REST API).
ORDER_BY_REQUIRED = "orderBy must be defined when other query parameters are defined"
ORDER_BY_INVALID = "orderBy must be a valid JSON encoded path"
NOT_A_PRIMITIVE = "Constraint index field must be a JSON primitive"
KEY_NOT_A_STRING = "Provided key index type is invalid, must be string"
ONE_LIMIT_ONLY = "Only one of limitToFirst and limitToLast may be specified"
EQUAL_TO_EXCLUSIVE = "equalTo cannot be specified in addition to startAfter, startAt, endAt, or endBefore"
LIMIT_NOT_INTEGER = "{param} must be an integer"
LIMIT_NOT_POSITIVE = "{param} must be positive"
# Our own texts, where Firebase's are unknown.
ONE_LOWER_BOUND_ONLY = "Only one of startAt and startAfter may be specified"
ONE_UPPER_BOUND_ONLY = "Only one of endAt and endBefore may be specified"
_INVALID = "Invalid query: {param}={raw}. {rule}."
_BAD_SEGMENT_RULE = (
    'Each segment of a child path must be non-empty and contain none of ".", "#", "$", "[", "]" '
    "or control characters"
)
_EMPTY_PATH_RULE = 'The child path must name a child (order by "$value" to use the value itself)'
_BAD_PRIORITY_RULE = "When ordering by priority, the value must be null, a number, or a string"

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
# The SDKs' tryParseInt (`^-?(0*)\d{1,10}$` within int32); leading zeros count: "05" is 5.
_INT_KEY = re.compile(r"-?0*[0-9]{1,10}")
_BAD_SEGMENT_CHAR = re.compile(r"[.#$\[\]\x00-\x1f\x7f]")
_INTEGER = re.compile(r"-?[0-9]+")

# Cross-type order of values: null < false < true < numbers < strings < objects.
_NULL, _FALSE, _TRUE, _NUMBER, _STRING, _OBJECT = range(6)
# Name sort keys are (0, int, len, utf16) for integer keys and (1, utf16) for the rest; these
# sentinels sit below and above every name, standing for a bound given without a key.
_MIN_NAME = (-1,)
_MAX_NAME = (2,)
# A bound's key may name these sentinels (the realtime protocol's "[MIN_NAME]" / "[MAX_NAME]").
MIN_NAME = "\x00min-name"
MAX_NAME = "\x00max-name"


class QueryError(ValueError):
    """A malformed query; str(error) is the text Firebase answers with 400 {"error": ...}."""


@dataclass(frozen=True)
class Query:
    """A parsed query. Each bound is (value, key_or_None); REST bounds never carry a key."""

    order_by: str
    start_at: tuple | None = None
    start_after: tuple | None = None
    end_at: tuple | None = None
    end_before: tuple | None = None
    equal_to: tuple | None = None
    limit_to_first: int | None = None
    limit_to_last: int | None = None


def parse_query(params: Mapping[str, str]) -> Query | None:
    """Parse the query parameters of a REST request.

    Args:
        params: raw (URL-decoded) parameter strings, e.g. {"orderBy": '"height"', "startAt": "3"};
            parameters other than QUERY_PARAMS (print, shallow, auth, ns, ...) are ignored.

    Returns:
        The Query, or None when no query parameter is present.

    Raises:
        QueryError: the parameters do not form a valid query.
    """
    present = QUERY_PARAMS.intersection(params)
    if not present:
        return None
    if "orderBy" not in present:
        raise QueryError(ORDER_BY_REQUIRED)
    order_by = _parse_order_by(params["orderBy"])
    if len(present.intersection(_LIMIT_PARAMS)) > 1:
        raise QueryError(ONE_LIMIT_ONLY)
    if "equalTo" in present and len(present.intersection(_RANGE_PARAMS)) > 1:
        raise QueryError(EQUAL_TO_EXCLUSIVE)
    if {"startAt", "startAfter"} <= present:
        raise QueryError(ONE_LOWER_BOUND_ONLY)
    if {"endAt", "endBefore"} <= present:
        raise QueryError(ONE_UPPER_BOUND_ONLY)
    bounds = {p: (_parse_bound(p, params[p], order_by), None) for p in _RANGE_PARAMS if p in present}
    limits = {p: _parse_limit(p, params[p]) for p in _LIMIT_PARAMS if p in present}
    return Query(
        order_by=order_by,
        start_at=bounds.get("startAt"),
        start_after=bounds.get("startAfter"),
        end_at=bounds.get("endAt"),
        end_before=bounds.get("endBefore"),
        equal_to=bounds.get("equalTo"),
        limit_to_first=limits.get("limitToFirst"),
        limit_to_last=limits.get("limitToLast"),
    )


def apply_query(query: Query, node, priority_of: Callable[[str], object] = lambda key: None) -> dict | None:
    """Select the children of `node` that `query` returns.

    Args:
        query: the parsed query.
        node: the stored value at the queried location (arrays as dicts keyed "0", "1", ...).
        priority_of: the priority of a child, by key (only consulted for "$priority").

    Returns:
        The selected children as a dict in query order ({} when none match), or None when the
        node is not an object (absent or a leaf). Firebase answers `{}` to a query matching nothing.
    """
    if not isinstance(node, dict):
        return None
    by_priority = query.order_by == ORDER_BY_PRIORITY
    entries = sorted(
        ((sort_key(query.order_by, key, value, priority_of(key) if by_priority else None), key, value)
         for key, value in node.items() if value is not None),
        key=lambda entry: entry[0],
    )
    lower, upper = _bounds(query)
    selected = [(key, value) for position, key, value in entries
                if all(_after(position, b, strict) for b, strict in lower)
                and all(_after(b, position, strict) for b, strict in upper)]
    if query.limit_to_first is not None:
        selected = selected[: query.limit_to_first]
    if query.limit_to_last is not None:
        selected = selected[max(0, len(selected) - query.limit_to_last) :]
    return dict(selected)


def sort_key(query_or_order_by, key: str, child_value, priority=None) -> tuple:
    """Total-order key of a child under Firebase's ordering: (index value, key), both ranked.

    Args:
        query_or_order_by: a Query or its order_by string.
        key: the child's key.
        child_value: the child's value.
        priority: the child's priority (only used for "$priority").
    """
    order_by = getattr(query_or_order_by, "order_by", query_or_order_by)
    name = _name_key(key)
    if order_by == ORDER_BY_KEY:
        return (name, name)
    if order_by == ORDER_BY_PRIORITY:
        return (_value_key(priority), name)
    if order_by == ORDER_BY_VALUE:
        return (_value_key(_unwrapped(child_value)), name)
    return (_value_key(_child_at(child_value, order_by)), name)


def _parse_order_by(raw: str) -> str:
    try:
        order_by = json.loads(raw)
    except ValueError:
        raise QueryError(ORDER_BY_INVALID) from None
    if not isinstance(order_by, str):
        raise QueryError(ORDER_BY_INVALID)
    if order_by in _SPECIAL_ORDERS:
        return order_by
    # Like Firebase paths, "/a//b/" means "a/b".
    segments = [s for s in order_by.split("/") if s]
    if not segments:
        raise QueryError(_INVALID.format(param="orderBy", raw=raw, rule=_EMPTY_PATH_RULE))
    if any(_BAD_SEGMENT_CHAR.search(s) for s in segments):
        raise QueryError(_INVALID.format(param="orderBy", raw=raw, rule=_BAD_SEGMENT_RULE))
    return "/".join(segments)


def _parse_bound(param: str, raw: str, order_by: str):
    try:
        value = json.loads(raw, parse_constant=_reject_constant)
    except ValueError:
        raise QueryError(NOT_A_PRIMITIVE) from None
    if isinstance(value, (dict, list)) or (isinstance(value, float) and not math.isfinite(value)):
        raise QueryError(NOT_A_PRIMITIVE)
    if order_by == ORDER_BY_KEY and not isinstance(value, str):
        raise QueryError(KEY_NOT_A_STRING)
    if order_by == ORDER_BY_PRIORITY and isinstance(value, bool):
        raise QueryError(_INVALID.format(param=param, raw=raw, rule=_BAD_PRIORITY_RULE))
    return value


def _reject_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _parse_limit(param: str, raw: str) -> int:
    if raw == "":
        raise QueryError(LIMIT_NOT_POSITIVE.format(param=param))
    if not _INTEGER.fullmatch(raw):
        raise QueryError(LIMIT_NOT_INTEGER.format(param=param))
    limit = int(raw)
    if limit <= 0:
        raise QueryError(LIMIT_NOT_POSITIVE.format(param=param))
    return limit


def _bounds(query: Query) -> tuple[list, list]:
    """Lower and upper bounds as ((index key, name key), strict) against sort_key positions."""

    def position(bound, name_if_no_key):
        value, key = bound
        index = _name_key(value) if query.order_by == ORDER_BY_KEY else _value_key(value)
        if key is None:
            return (index, name_if_no_key)
        return (index, _MIN_NAME if key == MIN_NAME else _MAX_NAME if key == MAX_NAME else _name_key(key))

    lower, upper = [], []
    # Without a key, startAt/endAt keep every child equal to the value, startAfter/endBefore none.
    for bound, name, strict, side in (
        (query.start_at, _MIN_NAME, False, lower),
        (query.start_after, _MAX_NAME, True, lower),
        (query.equal_to, _MIN_NAME, False, lower),
        (query.end_at, _MAX_NAME, False, upper),
        (query.end_before, _MIN_NAME, True, upper),
        (query.equal_to, _MAX_NAME, False, upper),
    ):
        if bound is not None:
            side.append((position(bound, name), strict))
    return lower, upper


def _after(a: tuple, b: tuple, strict: bool) -> bool:
    return a > b if strict else a >= b


def _child_at(value, path: str):
    for segment in path.split("/"):
        if not isinstance(value, dict):
            return None
        value = value.get(segment)  # never a leaf's ".value": a path segment cannot contain "."
    return _unwrapped(value)


def _unwrapped(value):
    """The value of a stored leaf that carries a priority; anything else as it is."""
    if isinstance(value, dict) and _VALUE in value:
        return value[_VALUE]
    return value


def _utf16(text: str) -> bytes:
    # Firebase compares strings by UTF-16 code units; big-endian bytes sort the same way.
    return text.encode("utf-16-be", "surrogatepass")


def _name_key(key: str) -> tuple:
    if _INT_KEY.fullmatch(key):
        number = int(key)
        if INT32_MIN <= number <= INT32_MAX:
            # "5" before "05" (the SDKs break the tie by length); the text settles "-0" vs "00".
            return (0, number, len(key), _utf16(key))
    return (1, _utf16(key))


def _value_key(value) -> tuple:
    if value is None or (isinstance(value, (dict, list)) and not value):
        return (_NULL,)
    if isinstance(value, bool):
        return (_TRUE,) if value else (_FALSE,)
    if isinstance(value, (int, float)):
        return (_NUMBER, value)
    if isinstance(value, str):
        return (_STRING, _utf16(value))
    return (_OBJECT,)
