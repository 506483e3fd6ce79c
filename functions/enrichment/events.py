"""One database event on a ticket as the pipeline reads it, whichever entry point received it.

`from_cloud_event` reads the raw CloudEvent that functions-framework hands `enrich_ticket`;
`from_sdk_event` reads the `db_fn.Event[Change]` that Firebase's functions SDK hands
`on_ticket_written`. Both give the same TicketEvent, and `Enricher.process` takes only that.
Imports nothing from firebase_functions: its events are read by their documented attributes.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from enrichment.errors import MalformedEvent

TICKETS = "tickets"
# What Firebase's functions SDK reads from every database event (db_fn._db_endpoint_handler).
SDK_ATTRIBUTES = ("id", "source", "type", "specversion", "subject", "time", "instance", "ref",
                  "firebasedatabasehost", "location")


@dataclass(frozen=True)
class TicketEvent:
    """A change of `tickets/{ticket_id}`.

    Attributes:
      ticket_id: the ticket's key; None when the event is about another location (nothing to do).
      event_id: the CloudEvent id (logs only).
      event_type: e.g. `google.firebase.database.ref.v1.written`.
      time: when the database committed the write; None if absent or unreadable.
      before: the ticket before the write (None on create).
      after: the ticket after it (None on delete).
    """

    ticket_id: str | None
    event_id: str | None
    event_type: str
    time: datetime | None
    before: Any
    after: Any

    @property
    def deleted(self) -> bool:
        """True for a deletion of the ticket (nothing to enrich)."""
        return self.after is None or self.event_type.endswith(".deleted")


def from_cloud_event(attributes: dict, data) -> TicketEvent:
    """The TicketEvent of a raw Realtime Database CloudEvent (attributes and data, as Eventarc sends them).

    Raises:
      MalformedEvent: `data` of an event on a ticket is not an object (it is `{"data": before, "delta": change}`).
    """
    ref = attributes.get("ref") or attributes.get("subject", "").removeprefix("refs/")
    ticket_id = _ticket_id(ref)
    event = {"event_id": attributes.get("id"), "event_type": attributes.get("type") or "",
             "time": _time(attributes.get("time"))}
    if ticket_id is None:
        return TicketEvent(None, before=None, after=None, **event)
    if data is not None and not isinstance(data, dict):
        raise MalformedEvent(f"Invalid event data: a {type(data).__name__}. A database event's data is an "
                             'object {"data": <value before>, "delta": <change>}.')
    data = data or {}
    before = data.get("data")
    return TicketEvent(ticket_id, before=before, after=_merge(before, data.get("delta")), **event)


def from_sdk_event(event) -> TicketEvent:
    """The TicketEvent of an event from `firebase_functions.db_fn.on_value_written(reference="/tickets/{ticketId}")`.

    The SDK has already rebuilt `before` and `after` (`event.data`) and matched the reference pattern
    (`event.params`). Its matching does not compare the pattern's fixed segments, so the ticket id is
    taken only when `event.reference` really is `tickets/<that id>`.
    """
    ticket_id = event.params.get("ticketId")
    if ticket_id is None or _ticket_id(event.reference.strip("/")) != ticket_id:
        ticket_id = None
    change = event.data
    return TicketEvent(ticket_id, event_id=event.id, event_type=event.type or "", time=event.time,
                       before=change.before, after=change.after)


def check_complete(attributes: dict, data) -> None:
    """Check that a raw CloudEvent has everything Firebase's functions SDK reads from a database event.

    The SDK indexes these without checking, so without this an incomplete event fails inside it with
    a KeyError (a 500); with it, the event is refused as malformed (a 400 naming what is missing).

    Raises:
      MalformedEvent: naming the missing attributes, or saying what `data` must be.
    """
    missing = [name for name in SDK_ATTRIBUTES if not isinstance(attributes.get(name), str)]
    if missing:
        raise MalformedEvent(f"Invalid event attributes: {', '.join(missing)} missing or not strings. "
                             f"A Realtime Database CloudEvent carries {', '.join(SDK_ATTRIBUTES)}.")
    if not isinstance(data, dict) or not {"data", "delta"} <= data.keys():
        found = f"an object with {sorted(data)}" if isinstance(data, dict) else f"a {type(data).__name__}"
        raise MalformedEvent(f"Invalid event data: {found}. A database event's data is an "
                             'object {"data": <value before>, "delta": <change>}.')


def _merge(before, delta):
    """`before` deep-merged with `delta`, where nulls delete (how SDKs rebuild the new value)."""
    if delta is None:
        return None
    if not isinstance(before, dict) or not isinstance(delta, dict):
        return delta
    out = dict(before)
    for key, value in delta.items():
        if value is None:
            out.pop(key, None)
        else:
            merged = _merge(out.get(key), value)
            if merged is None:
                out.pop(key, None)
            else:
                out[key] = merged
    return out or None


def _ticket_id(ref: str) -> str | None:
    """`id` for the reference `tickets/<id>`, else None."""
    parts = ref.split("/")
    return parts[1] if len(parts) == 2 and parts[0] == TICKETS and parts[1] else None


def _time(value) -> datetime | None:
    """An RFC 3339 event time, or None if absent or unreadable."""
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None
