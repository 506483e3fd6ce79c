"""Closed tickets from the Realtime Database, read through the admin SDK a page at a time.

``write_snapshot`` pages through ``/tickets`` in key order (``order_by_key().start_at(last)
.limit_to_first(n + 1)``: the start is inclusive, so each page after the first asks for one
more ticket and drops the one it already has), so a hundred thousand tickets never travel in
one response nor sit in memory at once. Each ticket becomes one line of a JSONL snapshot in
the native export format (``training.mapping.NATIVE``, the format of ``demo-data``), which
then goes through the same preparation as an export file:

  * a ticket with a ``resolution`` is closed: the helpdesk's ``final_priority`` becomes
    ``resolution.priority`` and ``solved_at`` gives the resolution time;
  * a ticket without one is still open: it is stamped ``exported_at`` = the time its page was
    read, so preparation turns it into a censored example (open for at least that long),
    which the resolution head uses as a lower bound; ``include_open=False`` leaves them out;
  * a value under ``/tickets`` that is not an object is written as ``null`` (preparation
    counts it as "not an object").

Text is masked (``ticketml.mask``) and the contact dropped before the snapshot is written,
so no personal data reaches the disk. firebase-admin chooses the emulator exactly as the
function does: ``FIREBASE_DATABASE_EMULATOR_HOST`` with an ``https://<ns>.firebaseio.com``
URL (or an ``http://host:port/?ns=<ns>`` URL); otherwise it uses Google's application
default credentials.
"""

import json
import os
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlparse

import firebase_admin
import requests
from firebase_admin import db, exceptions
from google.auth.exceptions import GoogleAuthError

from ticketml.features import MODEL_INPUT_FIELDS
from ticketml.mask import mask_pii
from training.data import DataError

DEFAULT_PAGE_SIZE = 1000
DEFAULT_PATH = "tickets"
EMULATOR_ENV = "FIREBASE_DATABASE_EMULATOR_HOST"
_TEXT_FIELDS = ("subject", "description")
_RESOLUTION_FIELDS = ("status", "solved_at", "closed_at", "satisfaction")


@dataclass
class ReadReport:
    """What a database read found: pages fetched and tickets by kind."""

    pages: int = 0
    tickets: int = 0
    closed: int = 0
    open: int = 0
    open_left_out: int = 0
    not_objects: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


def database_url(environ: Mapping[str, str] | None = None) -> str:
    """The database URL the function uses: ``DATABASE_URL``, else the project's default one."""
    environ = os.environ if environ is None else environ
    if environ.get("DATABASE_URL"):
        return environ["DATABASE_URL"]
    return f"https://{_project(environ)}-default-rtdb.firebaseio.com"


def open_app(url: str) -> firebase_admin.App:
    """A firebase-admin app of its own for ``url`` (delete it with ``firebase_admin.delete_app``).

    Raises:
        DataError: ``url`` names a ``demo-`` project (emulator only) and no emulator is set.
    """
    environ = os.environ  # What firebase-admin itself reads.
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise DataError(f'Invalid database URL: "{url}". Expected https://<name>.firebaseio.com '
                        "(or http://host:port/?ns=<name> for an emulator).")
    if (parsed.scheme == "https" and parsed.netloc.startswith("demo-")
            and not environ.get(EMULATOR_ENV)):
        raise DataError(f'Invalid database URL: "{url}". A demo- project exists only in the '
                        f"emulator: set {EMULATOR_ENV}=host:port (make up uses 127.0.0.1:9000).")
    return firebase_admin.initialize_app(
        options={"databaseURL": url, "projectId": _project(environ)},
        name=f"training-{uuid.uuid4().hex[:8]}")


def iter_pages(ref: db.Reference, page_size: int = DEFAULT_PAGE_SIZE
               ) -> Iterator[list[tuple[str, object]]]:
    """Yield the children of ``ref`` in key order, at most ``page_size`` (+1) per request.

    A child deleted between two requests does not stop the walk: the next page then simply
    does not start with the key it was started at.
    """
    if page_size < 1:
        raise DataError(f"Invalid page size: {page_size}. It must be at least 1.")
    last = None
    while True:
        query = ref.order_by_key()
        limit = page_size if last is None else page_size + 1
        if last is not None:
            query = query.start_at(last)
        fetched = _items(query.limit_to_first(limit).get())
        page = [(k, v) for k, v in fetched if k != last]
        if page:
            yield page
            last = page[-1][0]
        if len(fetched) < limit or not page:
            return


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
    url: str, out: str | Path, path: str = DEFAULT_PATH, page_size: int = DEFAULT_PAGE_SIZE,
    include_open: bool = True, progress: Callable | None = None,
    clock: Callable[[], float] = time.time,
) -> ReadReport:
    """Read every ticket under ``path`` and write them as a native JSONL snapshot to ``out``.

    Args:
        url: Database URL (see the module docstring for the emulator).
        out: Destination .jsonl file (parent directories are created).
        path: Database location of the tickets.
        page_size: Tickets per request.
        include_open: Write open tickets (censored examples for the resolution head).
        progress: Called with the number of tickets of each page (e.g. ``tqdm.update``).
        clock: Seconds since the epoch; an open ticket is observed when its page is read.

    Raises:
        DataError: The database cannot be reached or read, or credentials are missing.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    report = ReadReport()
    app = open_app(url)
    try:
        try:
            ref = db.reference(path, app=app)
        except ValueError as exc:
            raise DataError(f"Cannot read {path!r} at {url}: {exc}") from exc
        with open(out, "w", encoding="utf-8") as f:
            for page in _guarded(iter_pages(ref, page_size), url, path):
                observed_at = int(clock() * 1000)
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
                    f.write(json.dumps(record, ensure_ascii=False) + "\n")
                if progress is not None:
                    progress(len(page))
    finally:
        firebase_admin.delete_app(app)
    return report


def _guarded(pages: Iterator, url: str, path: str) -> Iterator:
    """The pages, with the SDK's failures turned into a DataError a person can act on."""
    try:
        yield from pages
    except GoogleAuthError as exc:
        raise DataError(
            f"No credentials to read {url}: {exc}. Run `gcloud auth application-default login` "
            "or set GOOGLE_APPLICATION_CREDENTIALS to a service account key with the Firebase "
            f"Realtime Database Viewer role; for the emulator, set {EMULATOR_ENV}.") from exc
    except (exceptions.FirebaseError, requests.RequestException) as exc:
        raise DataError(f'Database read of "{path}" at {url} failed: {exc}') from exc


def _items(value: object) -> list[tuple[str, object]]:
    if isinstance(value, Mapping):
        return [(str(k), v) for k, v in value.items()]
    if isinstance(value, list):  # Keys 0..n read back as an array.
        return [(str(i), v) for i, v in enumerate(value) if v is not None]
    return []


def _project(environ: Mapping[str, str]) -> str:
    return environ.get("GCLOUD_PROJECT") or environ.get("GOOGLE_CLOUD_PROJECT") or "demo-tickets"
