"""Zendesk's search query syntax over the stub's tickets, turned into one SQL condition and an order.

The syntax is Zendesk's (developer.zendesk.com, "Zendesk Support search reference"): terms separated by spaces,
all of which must match; ``keyword:value`` (also ``<``, ``>``, ``<=``, ``>=``), ``-`` in front to exclude, ``"..."``
for a phrase, ``*`` at the end of a word. A query the stub cannot answer exactly as Zendesk would raises
``UnsupportedQuery`` naming what is not supported; a malformed one raises ``BadRequest``. Nothing is ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Callable, Iterator

from helpdesk.errors import BadRequest, UnsupportedQuery
from helpdesk.tickets import MAX_ID, PRIORITIES, STATUSES, TYPES

MAX_RESULTS = 1000  # Zendesk returns at most the first 1,000 results of a query.
MAX_TERMS = 100  # the stub's limit, so one query stays one small SQL statement
SORT_ORDERS = ("asc", "desc")
SORT_FIELDS = ("created_at", "updated_at", "priority", "status")
_STATUS_RANK = "CASE t.status " + " ".join(f"WHEN '{s}' THEN {i}" for i, s in enumerate(STATUSES)) + " END"
_PRIORITY_ORDER = ("low", "normal", "high", "urgent")
_PRIORITY_RANK = "CASE t.priority " + " ".join(f"WHEN '{p}' THEN {i}" for i, p in enumerate(_PRIORITY_ORDER)) + " END"
_SORT_SQL = {"created_at": "t.created_at", "updated_at": "t.updated_at", "priority": _PRIORITY_RANK,
             "status": _STATUS_RANK}
_ORDER_BY_KEYWORD = {"created": "created_at", "updated": "updated_at", "priority": "priority", "status": "status",
                     "ticket_type": "ticket_type"}
_TEXT_OF_TICKET = ("(t.subject || ' ' || t.tags || ' ' || COALESCE(u.name, '') || ' ' || COALESCE(u.email, '') || ' ' "
                   "|| COALESCE((SELECT group_concat(c.body, ' ') FROM comments c WHERE c.ticket_id = t.id), ''))")
_DATE_COLUMNS = {"created": "t.created_at", "updated": "t.updated_at", "solved": "t.solved_at"}
_KNOWN_TYPES = ("ticket", "user", "organization", "group")
_END_OF_TIME = datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone.utc)
_KEYWORD = re.compile(r"([A-Za-z_]+)(<=|>=|:|<|>)")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_WORD = re.compile(r"\w+")
_MAX_ID_DIGITS = 19


@dataclass(frozen=True)
class TicketSearch:
    """A parsed query: ``where`` and ``order`` are SQL over ``tickets t LEFT JOIN users u`` (the requester)."""

    where: str
    args: tuple
    order: str


@dataclass(frozen=True)
class _Term:
    negated: bool
    keyword: str | None  # None: free text
    operator: str
    value: str
    quoted: bool


def parse(query: str, sort_by: str | None = None, sort_order: str | None = None) -> TicketSearch:
    """Parses a Zendesk search query for tickets.

    Args:
        query: the ``query`` parameter, e.g. ``type:ticket status<solved "printer on fire"``.
        sort_by: the ``sort_by`` parameter (created_at, updated_at, priority, status), or None.
        sort_order: the ``sort_order`` parameter (asc, desc; Zendesk's default is desc), or None.

    Returns:
        The SQL condition with its arguments, and the order.

    Raises:
        BadRequest: the query is empty or malformed, or a value is invalid (``InvalidSearchQuery``).
        UnsupportedQuery: valid for Zendesk, but not something the stub answers.
    """
    terms = list(_terms(query))
    if not terms:
        raise _invalid(query, "The query must hold at least one term")
    if len(terms) > MAX_TERMS:
        raise UnsupportedQuery(f"Invalid query: {len(terms)} terms. The helpdesk stub answers at most {MAX_TERMS}.")
    in_query_sort: dict[str, str | None] = {"order_by": None, "sort": None}
    searched_type = None
    either: dict[str, list[tuple[str, list]]] = {}  # keyword -> conditions, any of which may match
    every: list[tuple[str, list]] = []  # conditions that must all match
    for term in terms:
        if term.keyword in ("type", "order_by", "sort"):
            if term.negated or term.operator != ":":
                raise UnsupportedQuery(f'Invalid term: "{_show(term)}". {term.keyword} takes only ":" and no "-".')
            if term.keyword == "type":
                searched_type = _type(term, searched_type)
            else:
                in_query_sort[term.keyword] = term.value.lower()
            continue
        sql, values = _condition(term)
        if term.negated:
            every.append((f"NOT {sql}", values))
        elif term.operator == ":" and term.keyword in _PROPERTY_KEYWORDS:
            either.setdefault(_ALIASES.get(term.keyword, term.keyword), []).append((sql, values))
        else:
            every.append((sql, values))
    if len(either.get("tags", [])) > 1:
        raise UnsupportedQuery('Invalid query: several "tags:" terms. The helpdesk stub does not combine tags; '
                               "search one tag per query.")
    if searched_type is None and not any(t.keyword in _TICKET_ONLY for t in terms if not t.negated):
        raise UnsupportedQuery(f'Invalid query: "{query[:80]}". Without type:ticket, Zendesk also returns users, '
                               "organizations and groups, which the helpdesk stub does not search: add type:ticket.")
    clauses = [("(" + " OR ".join(sql for sql, _ in group) + ")", [v for _, vs in group for v in vs])
               for group in either.values()] + every
    if not clauses:
        clauses = [("1", [])]
    where = " AND ".join(sql for sql, _ in clauses)
    values = tuple(v for _, vs in clauses for v in vs)
    return TicketSearch(where, values, _order(in_query_sort, sort_by, sort_order))


def text_matches(text: str | None, pattern: str) -> int:
    """SQLite function: 1 if ``text`` holds ``pattern``'s words, consecutively, as Zendesk matches words.

    Args:
        text: the searched text (case is ignored).
        pattern: ``"=" + words`` to match whole words (a quoted phrase), ``"^" + words`` to let the last
            word be the start of a longer one (a bare term: "top" matches "Toppings", not "Desktop").

    Returns:
        1 or 0.
    """
    wanted, hay = _WORD.findall(pattern[1:]), _WORD.findall((text or "").casefold())
    last, prefix = len(wanted) - 1, pattern[0] == "^"
    for start in range(len(hay) - last):
        if all(hay[start + i] == wanted[i] for i in range(last)) and (
                hay[start + last].startswith(wanted[last]) if prefix else hay[start + last] == wanted[last]):
            return 1
    return 0


def _terms(query: str) -> Iterator[_Term]:
    position, end = 0, len(query)
    while True:
        while position < end and query[position].isspace():
            position += 1
        if position >= end:
            return
        negated = query[position] == "-" and position + 1 < end and not query[position + 1].isspace()
        position += negated
        keyword, operator = None, ":"
        match = _KEYWORD.match(query, position)
        if match:
            keyword, operator, position = match.group(1).lower(), match.group(2), match.end()
        if position < end and query[position] == '"':
            close = query.find('"', position + 1)
            if close < 0:
                raise _invalid(query, f"The quote at character {position + 1} is never closed")
            value, quoted, position = query[position + 1:close], True, close + 1
        else:
            start = position
            while position < end and not query[position].isspace():
                position += 1
            value, quoted = query[start:position], False
            if '"' in value:
                raise _invalid(query, f'A quote must start a value: "{value[:40]}"')
        if not value.strip():
            raise _invalid(query, f'"{query[:80]}" has a keyword or "-" without a value')
        yield _Term(negated, keyword, operator, value, quoted)


def _condition(term: _Term) -> tuple[str, list]:
    if term.keyword is None:
        text = _text_pattern(term)
        if _is_id(term.value) and not term.quoted:  # Zendesk: a bare number also finds the ticket with that id
            return f"COALESCE(t.id = ? OR text_matches({_TEXT_OF_TICKET}, ?), 0)", [int(term.value), text]
        return f"COALESCE(text_matches({_TEXT_OF_TICKET}, ?), 0)", [text]
    handler = _HANDLERS.get(term.keyword)
    if handler is None:
        raise UnsupportedQuery(f'Unsupported search keyword: "{term.keyword}". The helpdesk stub searches tickets '
                               f'by {", ".join(sorted(_HANDLERS))}, type, order_by, sort and free text '
                               '(quote a value that holds a colon).')
    if term.operator != ":" and term.keyword not in _ORDERED_KEYWORDS:
        raise _invalid(_show(term), f'{term.keyword} takes only ":"')
    sql, values = handler(term)
    return f"COALESCE({sql}, 0)", values  # COALESCE: "-priority:high" keeps tickets without a priority


def _text_pattern(term: _Term) -> str:
    value = term.value.casefold()
    if not term.quoted and "*" in value.rstrip("*"):
        raise UnsupportedQuery(f'Invalid term: "{_show(term)}". The helpdesk stub supports "*" only at the end.')
    if not _WORD.search(value):
        raise _invalid(_show(term), "A search term needs at least one letter or digit")
    return ("=" if term.quoted else "^") + " ".join(_WORD.findall(value))


def _text_in(column: str) -> Callable[[_Term], tuple[str, list]]:
    return lambda term: (f"text_matches({column}, ?)", [_text_pattern(term)])


def _ranked(column: str, rank_sql: str, allowed: tuple[str, ...], order: tuple[str, ...],
            nullable: bool) -> Callable[[_Term], tuple[str, list]]:
    def handler(term: _Term) -> tuple[str, list]:
        value = term.value.lower()
        if nullable and value == "none" and term.operator == ":":
            return f"{column} IS NULL", []
        if value not in allowed:
            raise _invalid(_show(term), f"{term.keyword} must be one of {', '.join(allowed)}"
                                        + (' or "none"' if nullable else ""))
        if term.operator == ":":
            return f"{column} = ?", [value]
        return f"{rank_sql} {term.operator} ?", [order.index(value)]
    return handler


def _choice(column: str, allowed: tuple[str, ...]) -> Callable[[_Term], tuple[str, list]]:
    def handler(term: _Term) -> tuple[str, list]:
        value = term.value.lower()
        if value == "none":
            return f"{column} IS NULL", []
        if value not in allowed:
            raise _invalid(_show(term), f'{term.keyword} must be one of {", ".join(allowed)} or "none"')
        return f"{column} = ?", [value]
    return handler


def _external_id(term: _Term) -> tuple[str, list]:
    if term.value == "none" and not term.quoted:
        return "t.external_id IS NULL", []
    return "t.external_id = ?", [term.value]  # exact: external ids (push ids) differ by case


def _tags(term: _Term) -> tuple[str, list]:
    value = term.value.lower()
    if value == "none" and not term.quoted:
        return "t.tags = '[]'", []
    if len(value.split()) != 1:
        raise UnsupportedQuery(f'Invalid term: "{_show(term)}". The helpdesk stub searches one tag per term.')
    return "EXISTS (SELECT 1 FROM json_each(t.tags) WHERE json_each.value = ?)", [value.strip()]


def _requester(term: _Term) -> tuple[str, list]:
    value = term.value.strip().lower()
    if value == "none":
        return "t.requester_id IS NULL", []
    if _is_id(value):
        return "t.requester_id = ?", [int(value)]
    if "@" in value:
        return "u.email = ?", [value]
    raise UnsupportedQuery(f'Invalid term: "{_show(term)}". The helpdesk stub finds a requester by e-mail '
                           'address, user id or "none".')


def _dated(column: str) -> Callable[[_Term], tuple[str, list]]:
    def handler(term: _Term) -> tuple[str, list]:
        value = term.value.strip()
        if value.lower() == "none" and column == "t.solved_at" and term.operator == ":":
            return f"{column} IS NULL", []
        start, after = _time_range(term, value)
        low, high = _stored(start), _stored(after)  # a stored second T is in [start, after) iff low <= T < high
        sql = {":": f"({column} >= ? AND {column} < ?)", "<": f"{column} < ?", ">=": f"{column} >= ?",
               ">": f"{column} >= ?", "<=": f"{column} < ?"}[term.operator]
        bounds = {":": [low, high], "<": [low], ">=": [low], ">": [high], "<=": [high]}[term.operator]
        return sql, bounds
    return handler


def _time_range(term: _Term, value: str) -> tuple[datetime, datetime]:
    """The instants a value names, ``[start, end)``: a whole day (UTC, the stub's account time zone) or one instant."""
    try:
        if _DAY.fullmatch(value):
            day = date.fromisoformat(value)
            start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
            return _clamp(start, start + timedelta(days=1) if day < date.max else _END_OF_TIME)
        if _DAY.match(value):
            if value[10] not in "Tt ":
                raise ValueError(value)
            moment = datetime.fromisoformat(value.upper().replace(" ", "T"))
            moment = moment.replace(tzinfo=moment.tzinfo or timezone.utc).astimezone(timezone.utc)
            return _clamp(moment, moment + timedelta(microseconds=1) if moment < _END_OF_TIME else _END_OF_TIME)
    except (ValueError, OverflowError):
        raise _invalid(_show(term), "Dates are YYYY-MM-DD and times ISO 8601, e.g. 2024-05-01T12:00:00Z") from None
    raise UnsupportedQuery(f'Invalid term: "{_show(term)}". The helpdesk stub takes dates as YYYY-MM-DD and '
                           "times as ISO 8601 (2024-05-01T12:00:00Z), not relative times such as 4hours.")


def _clamp(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    return min(start, _END_OF_TIME), min(end, _END_OF_TIME)


def _stored(moment: datetime) -> str:
    """The first stored timestamp (whole seconds, UTC, as ``store.utc_now`` writes them) at or after ``moment``."""
    if moment.microsecond:
        moment = moment.replace(microsecond=0) + timedelta(seconds=1)
    return f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment:%H:%M:%S}Z"


def _type(term: _Term, previous: str | None) -> str:
    value = term.value.lower()
    if value not in _KNOWN_TYPES:
        raise _invalid(_show(term), f"type must be one of {', '.join(_KNOWN_TYPES)}")
    if value != "ticket" or previous not in (None, "ticket"):
        raise UnsupportedQuery(f'Invalid term: "{_show(term)}". The helpdesk stub searches tickets only '
                               "(type:ticket).")
    return value


def _order(in_query: dict[str, str | None], sort_by: str | None, sort_order: str | None) -> str:
    field = sort_by  # the parameters win over order_by: and sort: in the query
    if field is None and in_query["order_by"] is not None:
        field = _ORDER_BY_KEYWORD.get(in_query["order_by"])
        if field is None:
            raise UnsupportedQuery(f'Invalid order_by: "{in_query["order_by"][:40]}". The helpdesk stub orders by '
                                   "created, updated, priority or status.")
    if field == "ticket_type":
        raise UnsupportedQuery(f'Invalid sort_by: "ticket_type". The helpdesk stub sorts by {", ".join(SORT_FIELDS)}.')
    if field is not None and field not in SORT_FIELDS:
        raise BadRequest(f'Invalid sort_by: "{field[:40]}". Must be one of {", ".join(SORT_FIELDS)}, ticket_type.',
                         error="InvalidSearchQuery")
    order = sort_order or in_query["sort"] or "desc"
    if order not in SORT_ORDERS:
        raise BadRequest(f'Invalid sort_order: "{order[:40]}". Must be asc or desc.', error="InvalidSearchQuery")
    direction = order.upper()
    # Zendesk orders by relevance without sort_by; the stub, which does not score, orders by id.
    return f"{_SORT_SQL[field]} {direction}, t.id {direction}" if field else f"t.id {direction}"


def _is_id(value: str) -> bool:
    return value.isascii() and value.isdigit() and len(value) <= _MAX_ID_DIGITS and 0 < int(value) <= MAX_ID


def _show(term: _Term) -> str:
    value = f'"{term.value}"' if term.quoted else term.value
    return ("-" if term.negated else "") + (f"{term.keyword}{term.operator}" if term.keyword else "") + value[:80]


def _invalid(what: str, rule: str) -> BadRequest:
    return BadRequest(f'Invalid query: "{what[:120]}". {rule}.', error="InvalidSearchQuery")


_HANDLERS: dict[str, Callable[[_Term], tuple[str, list]]] = {
    "status": _ranked("t.status", _STATUS_RANK, STATUSES, STATUSES, nullable=False),
    "priority": _ranked("t.priority", _PRIORITY_RANK, PRIORITIES, _PRIORITY_ORDER, nullable=True),
    "ticket_type": _choice("t.type", TYPES),
    "external_id": _external_id,
    "tags": _tags,
    "tag": _tags,
    "requester": _requester,
    "subject": _text_in("t.subject"),
    "description": _text_in("t.description"),
    **{keyword: _dated(column) for keyword, column in _DATE_COLUMNS.items()},
}
_ORDERED_KEYWORDS = ("status", "priority", *_DATE_COLUMNS)
# Named twice with ":", these match either value (zenpy sends a list as status:"open" status:"pending").
_PROPERTY_KEYWORDS = ("status", "priority", "ticket_type", "external_id", "tags", "tag", "requester",
                      *_DATE_COLUMNS)
_ALIASES = {"tag": "tags"}
# Keywords only tickets have (here), so a query naming one cannot match a user, organization or group.
_TICKET_ONLY = ("status", "priority", "ticket_type", "external_id", "tags", "tag", "requester", "subject",
                "description", "solved")
