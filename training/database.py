"""Closed tickets from the Realtime Database, read through the admin SDK a page at a time.

``write_snapshot`` pages through ``/tickets`` in key order (``order_by_key().start_at(last)
.limit_to_first(n + 1)``: the start is inclusive and firebase-admin for Python has no
``start_after``, so each page after the first asks for one more ticket and drops the one it
already has), so a hundred thousand tickets never travel in one response nor sit in memory at
once. Each request is a range read that Firebase (and the emulator) answer from the key index,
and the client's work per page is proportional to the page: the read is linear in the tickets.
The next page is fetched in a thread while this one is masked and written. ``last`` is the
page's greatest key in Firebase's key order (32-bit integer keys first, numerically, then the
rest by UTF-16 code units), not in firebase-admin's: its client-side sort compares keys as
Python strings, which puts "10" before "9" and would read tickets twice.

Each ticket becomes one line of a JSONL snapshot in the native export format
(``training.mapping.NATIVE``, the format of ``demo-data``), which then goes through the same
preparation as an export file:

  * a ticket with a ``resolution`` is closed: the helpdesk's ``final_priority`` becomes
    ``resolution.priority`` and ``solved_at`` gives the resolution time;
  * a ticket without one is still open: it is stamped ``exported_at`` = the time its page was
    read, so preparation turns it into a censored example (open for at least that long),
    which the resolution head uses as a lower bound; ``include_open=False`` leaves them out;
  * a value under ``/tickets`` that is not an object is written as ``null`` (preparation
    counts it as "not an object").

Text is masked (``ticketml.mask``) and the contact dropped before the snapshot is written,
so no personal data reaches the disk. The URL forms, and the namespace each reads, are
``training.database_url``'s: firebase-admin chooses the emulator exactly as the function does
(``FIREBASE_DATABASE_EMULATOR_HOST`` with an https URL, or an ``http://host:port`` URL);
otherwise it uses Google's application default credentials.
"""

import json
import os
import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import asdict, dataclass
from pathlib import Path

import firebase_admin
import orjson
import requests
from firebase_admin import db, exceptions
from google.auth.exceptions import GoogleAuthError

from ticketml.features import MODEL_INPUT_FIELDS
from ticketml.mask import mask_pii
from training.data import DataError
from training.database_url import EMULATOR_ENV, DatabaseURL, project, resolve

DEFAULT_PAGE_SIZE = 1000
DEFAULT_PATH = "tickets"
_TEXT_FIELDS = ("subject", "description")
_RESOLUTION_FIELDS = ("status", "solved_at", "closed_at", "satisfaction")
# The SDKs' tryParseInt (``^-?(0*)\d{1,10}$`` within int32): such keys sort first, numerically.
_INT_KEY = re.compile(r"-?0*[0-9]{1,10}")
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
_END = object()


@dataclass
class ReadReport:
    """What a database read found: pages fetched, tickets by kind, and the time it took."""

    pages: int = 0
    tickets: int = 0
    closed: int = 0
    open: int = 0
    open_left_out: int = 0
    not_objects: int = 0
    seconds: float = 0.0  # wall time of the whole read, snapshot written

    def as_dict(self) -> dict:
        return asdict(self)


def open_app(url: str | DatabaseURL) -> firebase_admin.App:
    """A firebase-admin app of its own for ``url`` (delete it with ``firebase_admin.delete_app``).

    Raises:
        DataError: ``url`` is not a database URL (``training.database_url``), or it names a
            ``demo-`` project (emulator only) and no emulator is set.
    """
    target = url if isinstance(url, DatabaseURL) else resolve(url, name="database URL")
    if target.emulator is None and target.namespace.startswith("demo-"):
        raise DataError(f'Invalid database URL: "{target.url}". A demo- project exists only in the '
                        f"emulator: set {EMULATOR_ENV}=host:port (make up uses 127.0.0.1:9000) or "
                        "give the emulator's URL, http://host:port.")
    return firebase_admin.initialize_app(
        options={"databaseURL": target.url, "projectId": project(os.environ)},
        name=f"training-{uuid.uuid4().hex[:8]}")


def iter_pages(ref: db.Reference, page_size: int = DEFAULT_PAGE_SIZE
               ) -> Iterator[list[tuple[str, object]]]:
    """Yield the children of ``ref`` in key order, at most ``page_size`` (+1) per request.

    A child deleted between two requests does not stop the walk: the next page then simply
    does not start with the key it was started at.

    Raises:
        DataError: ``page_size`` is below 1.
    """
    if page_size < 1:
        raise DataError(f'Invalid page size: "{page_size}". It must be at least 1.')
    last = None
    while True:
        query = ref.order_by_key()
        limit = page_size if last is None else page_size + 1
        if last is not None:
            query = query.start_at(last)
        fetched = _items(fetch(query.limit_to_first(limit)))
        page = sorted(((k, v) for k, v in fetched if k != last),
                      key=lambda item: key_order(item[0]))
        if page:
            yield page
            last = page[-1][0]
        if len(fetched) < limit or not page:
            return


def fetch(query: db.Query) -> object:
    """``query.get()``'s JSON, through the same authorised firebase-admin client, parsed by orjson.

    ``Query.get()`` parses with the standard library and then sorts every child with a Python
    comparison function; ``iter_pages`` sorts each page itself (in Firebase's key order, which
    firebase-admin's is not), so both were a third of the client's time at 100k tickets. Where
    firebase-admin's query lacks the client, path or query string this reads (they are not public),
    it calls ``query.get()``; the pages are the same either way (tested).
    """
    client = getattr(query, "_client", None)
    url, params = getattr(query, "_pathurl", None), getattr(query, "_querystr", None)
    if not (callable(getattr(client, "request", None)) and isinstance(url, str) and isinstance(params, str)):
        return query.get()
    content = client.request("get", url, params=params).content
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:  # e.g. an escaped lone surrogate, which the standard library reads
        return json.loads(content)


def key_order(key: str) -> tuple:
    """Sort key of a child's name in Firebase's order (the SDKs' ``nameCompare``)."""
    if _INT_KEY.fullmatch(key) and _INT32_MIN <= int(key) <= _INT32_MAX:
        return (0, int(key), len(key), _utf16(key))  # "5" before "05", as the SDKs break the tie
    return (1, _utf16(key))


def to_record(key: str, ticket: object, observed_at_ms: int) -> dict | None:
    """One database ticket as a native export record (masked, no contact); None if malformed."""
    if not isinstance(ticket, Mapping):
        return None
    record: dict = {"id": key}
    for name in MODEL_INPUT_FIELDS:
        if name in ticket:
            value = ticket[name]
            record[name] = (mask_pii(str(value)) if name in _TEXT_FIELDS and value is not None
                            else value)
    for name in ("created_at", "status"):
        if name in ticket:
            record[name] = ticket[name]
    resolution = ticket.get("resolution")
    if resolution is None:
        record["exported_at"] = observed_at_ms
    elif isinstance(resolution, Mapping):
        outcome = {name: resolution[name] for name in _RESOLUTION_FIELDS if name in resolution}
        if "final_priority" in resolution:
            outcome["priority"] = resolution["final_priority"]
        record["resolution"] = outcome
    else:
        record["resolution"] = {}  # Closed, but the outcome is unreadable: no label, no time.
    return record


def write_snapshot(
    url: str | DatabaseURL, out: str | Path, path: str = DEFAULT_PATH,
    page_size: int = DEFAULT_PAGE_SIZE, include_open: bool = True,
    progress: Callable | None = None, clock: Callable[[], float] = time.time,
) -> ReadReport:
    """Read every ticket under ``path`` and write them as a native JSONL snapshot to ``out``.

    The next page is fetched while this one is masked and written, so the database's time and
    the masking's overlap; ``seconds`` in the report is the whole read's wall time.

    Args:
        url: Database URL, in a form ``training.database_url`` accepts, or one it resolved.
        out: Destination .jsonl file (parent directories are created).
        path: Database location of the tickets.
        page_size: Tickets per request.
        include_open: Write open tickets (censored examples for the resolution head).
        progress: Called with the number of tickets of each page (e.g. ``tqdm.update``).
        clock: Seconds since the epoch; an open ticket is observed when its page is read.

    Returns:
        What was read, and how long reading and writing it took (``seconds``).

    Raises:
        DataError: The URL is invalid, the database cannot be reached or read, or credentials
            are missing.
    """
    target = url if isinstance(url, DatabaseURL) else resolve(url, name="database URL")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    report = ReadReport()
    started = time.perf_counter()
    app = open_app(target)
    try:
        try:
            ref = db.reference(path, app=app)
        except ValueError as exc:
            raise DataError(f"Cannot read {path!r} at {target}: {exc}") from exc
        # Each page is stamped in the read-ahead thread, as it arrives. closing(): after a
        # failure below, the page in flight is waited for before the app is deleted.
        stamped = ((int(clock() * 1000), page) for page in iter_pages(ref, page_size))
        with closing(_guarded(_read_ahead(stamped), target, path)) as pages, \
                open(out, "w", encoding="utf-8") as f:
            for observed_at, page in pages:
                report.pages += 1
                for key, ticket in page:
                    report.tickets += 1
                    record = to_record(key, ticket, observed_at)
                    if record is None:
                        report.not_objects += 1
                    elif "resolution" in record:
                        report.closed += 1
                    elif include_open:
                        report.open += 1
                    else:
                        report.open_left_out += 1
                        continue
                    f.write(_json_line(record))
                if progress is not None:
                    progress(len(page))
    finally:
        firebase_admin.delete_app(app)
    report.seconds = time.perf_counter() - started
    return report


def _json_line(record: dict) -> str:
    """One JSONL line; orjson writes it in a tenth of the standard library's time (a lone surrogate,
    which the database refuses anyway, goes through the latter)."""
    try:
        return orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE).decode()
    except TypeError:
        return json.dumps(record, ensure_ascii=False) + "\n"


def _read_ahead(items: Iterator) -> Iterator:
    """``items``, each next one taken in a thread while the caller works on the current one."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="training-read") as pool:
        pending = pool.submit(next, items, _END)
        while (item := pending.result()) is not _END:
            pending = pool.submit(next, items, _END)
            yield item


def _guarded(pages: Iterator, target: DatabaseURL, path: str) -> Iterator:
    """The pages, with the SDK's failures turned into a DataError a person can act on."""
    try:
        yield from pages
    except GoogleAuthError as exc:
        raise DataError(
            f"No credentials to read {target}: {exc}. Run `gcloud auth application-default "
            "login` or set GOOGLE_APPLICATION_CREDENTIALS to a service account key with the "
            "Firebase Realtime Database Viewer role; for the emulator, give its URL "
            f"(http://host:port) or set {EMULATOR_ENV}.") from exc
    except (exceptions.FirebaseError, requests.RequestException) as exc:
        raise DataError(f'Database read of "{path}" at {target} failed: {exc}') from exc


def _items(value: object) -> list[tuple[str, object]]:
    if isinstance(value, Mapping):
        return [(str(k), v) for k, v in value.items()]
    if isinstance(value, list):  # Keys 0..n read back as an array.
        return [(str(i), v) for i, v in enumerate(value) if v is not None]
    return []


def _utf16(text: str) -> bytes:
    # Firebase compares names by UTF-16 code units; big-endian bytes sort the same way.
    return text.encode("utf-16-be", "surrogatepass")
