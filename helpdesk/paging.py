"""Zendesk's cursor pagination of list endpoints: ``page[size]``, ``page[after]``, ``page[before]``, ``sort``.

A list endpoint pages by offset (``page``, ``per_page``) unless one of ``CURSOR_PARAMS`` is sent; then it answers
``{<items>, "meta": {has_more, after_cursor, before_cursor}, "links": {next, prev}}``. Cursors are opaque to
clients; here they carry the id of the first or last record of a page.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from helpdesk.errors import BadRequest
from helpdesk.tickets import MAX_ID

CURSOR_PARAMS = ("page[size]", "page[after]", "page[before]")
MAX_PAGE_SIZE = 100  # Zendesk's limit for tickets, users and comments
SORTS = ("id", "-id")
_CURSOR_PREFIX = "id:"


@dataclass(frozen=True)
class CursorRequest:
    """What a cursor-paginated request asks for."""

    size: int
    after: int | None
    before: int | None
    sort: str

    @property
    def descending(self) -> bool:
        return self.sort == "-id"


def cursor_request(args: Mapping[str, str]) -> CursorRequest | None:
    """Reads the cursor parameters of a list request.

    Args:
        args: the query parameters.

    Returns:
        The request, or None when it names no cursor parameter (offset pagination).

    Raises:
        BadRequest: a parameter is invalid, or offset and cursor parameters are mixed.
    """
    if not any(name in args for name in CURSOR_PARAMS):
        return None
    mixed = [name for name in ("page", "per_page", "sort_by", "sort_order") if name in args]
    if mixed:
        raise _invalid(f'Invalid pagination: "{mixed[0]}" with page[size]. Cursor pagination takes page[size], '
                       'page[after], page[before] and sort ("id" or "-id"); page, per_page, sort_by and sort_order '
                       "are offset pagination's")
    raw_size = args.get("page[size]", str(MAX_PAGE_SIZE))
    if not (raw_size.isascii() and raw_size.isdigit()) or len(raw_size) > 6 or not 1 <= int(raw_size) <= MAX_PAGE_SIZE:
        raise _invalid(f'Invalid page[size]: "{raw_size[:40]}". Must be an integer from 1 to {MAX_PAGE_SIZE}')
    after, before = (_decode(args[name], name) if name in args else None for name in ("page[after]", "page[before]"))
    if after is not None and before is not None:
        raise _invalid("Invalid pagination: page[after] and page[before] together. Send one of them")
    sort = args.get("sort", "id")
    if sort not in SORTS:
        raise _invalid(f'Invalid sort: "{sort[:40]}". Cursor pagination here sorts by "id" or "-id"')
    return CursorRequest(int(raw_size), after, before, sort)


def cursor_body(key: str, items: list[dict[str, Any]], has_more: bool, request: CursorRequest,
                link: Callable[[dict[str, Any]], str]) -> dict[str, Any]:
    """Builds a cursor-paginated answer.

    Args:
        key: the list's name (``tickets``, ``comments``).
        items: the page, rendered, each with an ``id``.
        has_more: more records lie beyond the page in the direction of travel.
        request: what was asked for.
        link: turns extra query parameters (the cursor, the size) into this list's URL.

    Returns:
        ``{key: items, "meta": {...}, "links": {"next", "prev"}}``; cursors and links are null for an empty page.
    """
    after = _encode(items[-1]["id"]) if items else None
    before = _encode(items[0]["id"]) if items else None
    page = {"page[size]": request.size, **({"sort": request.sort} if request.sort != "id" else {})}
    return {key: items,
            "meta": {"has_more": has_more, "after_cursor": after, "before_cursor": before},
            "links": {"next": link({**page, "page[after]": after}) if after else None,
                      "prev": link({**page, "page[before]": before}) if before else None}}


def _encode(record_id: int) -> str:
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{record_id}".encode()).decode().rstrip("=")


def _decode(cursor: str, name: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        text = ""
    digits = text.removeprefix(_CURSOR_PREFIX)
    if not (text.startswith(_CURSOR_PREFIX) and digits.isdigit() and len(digits) <= 19 and int(digits) <= MAX_ID):
        raise _invalid(f'Invalid {name}: "{cursor[:40]}". Use the cursor of an earlier answer (meta.after_cursor '
                       "or meta.before_cursor)")
    return int(digits)


def _invalid(message: str) -> BadRequest:
    return BadRequest(message + ".", error="InvalidPaginationParameter")
