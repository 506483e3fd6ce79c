"""Enrich one ticket from one database event: skip, validate, predict, forward, write back.

Every step is decided from the `input_hash` of the fields the model reads, which makes the handler
idempotent: an event that changed none of those fields (the function's own write-back, a status
change) is skipped without a database read, unless the ticket's enrichment was made for other inputs
(a write-back that landed after a newer one: see `_stale`); a redelivered event finds the work done in the
ticket's current state and stops; an edit of the text changes the hash and re-enriches. The
enrichment and the helpdesk link are written together after the helpdesk call (the enrichment
alone when the helpdesk is down, so the ticket shows it meanwhile). A crash between the call and
the write redelivers the event, which predicts again and forwards again without a second helpdesk
ticket: see `Enricher._may_exist` for why.
"""

import functools
import time
from typing import Callable

from ticketml import explain
from ticketml.features import input_hash

from enrichment import events, metrics, validate
from enrichment.errors import MalformedEvent, PermanentError, TransientError

OWN_FIELDS = ("enrichment", "enrichment_error", "helpdesk", "helpdesk_error", "resolution")
# A ticket's creation event younger than this forwards it without a lookup (see Enricher._may_exist).
FRESH_CREATION_S = 3600


class Enricher:
    """The pipeline with its collaborators injected.

    Args:
      tickets: `get(ticket_id) -> dict | None` and `update(ticket_id, fields)` on the database.
      model: `current()` -> a ticketml Bundle (reloads when a new one is published).
      helpdesk: a HelpdeskClient.
      log: a logger (JSON lines).
      clock: seconds since the epoch.
    """

    def __init__(self, tickets, model, helpdesk, log, clock=time.time):
        self.tickets, self.model, self.helpdesk, self.log, self.clock = tickets, model, helpdesk, log, clock

    def handle(self, attributes: dict, data: dict | None) -> str:
        """Process one raw CloudEvent (attributes, data), as functions-framework delivers it.

        Returns the outcome's name.

        Raises:
          TransientError: the database or helpdesk failed in a way worth retrying.
          MalformedEvent: `data` is not an object (a database event's data is {"data", "delta"}).
        """
        return self.process(self.parse(attributes, data))

    def parse(self, attributes: dict, data: dict | None) -> events.TicketEvent:
        """The ticket event of a raw CloudEvent, counted as `malformed` when it is refused.

        Raises:
          MalformedEvent: `data` is not an object, or the event misses an attribute a database event has.
        """
        try:
            return events.from_cloud_event(attributes, data)
        except MalformedEvent:
            metrics.EVENTS.labels("malformed").inc()
            raise

    def process(self, event: events.TicketEvent) -> str:
        """Process one database event on a ticket, whichever entry point parsed it. Returns the outcome's name.

        Raises:
          TransientError: the database or helpdesk failed in a way worth retrying.
        """
        outcome, rest = self.triage(event)
        return outcome if rest is None else rest()

    def triage(self, event: events.TicketEvent) -> tuple[str | None, Callable[[], str] | None]:
        """The part of `process` that reads nothing but the event: no database, helpdesk or model.

        Returns:
          (outcome, None) when the event needs nothing more (a delete, another path, one of the function's own
          write-backs: counted and logged), else (None, the rest of `process`), which reads the ticket and may
          predict, forward and write back: it blocks, and raises TransientError when a call fails. An event
          loop can so answer half of every ticket's events itself and hand only the others to a thread.
        """
        started = time.perf_counter()
        ticket_id, before, after = event.ticket_id, event.before, event.after
        fields = {"ticket_id": ticket_id, "event_id": event.event_id, "event_type": event.event_type}
        if event.time is not None:
            age = self.clock() - event.time.timestamp()
            fields["event_age_ms"] = round(age * 1000, 2)
            metrics.EVENT_AGE_SECONDS.observe(max(age, 0.0))
        if ticket_id is None:
            return self._done("ignored_other_path", fields, started), None
        if event.deleted:
            return self._done("skipped_delete", fields, started), None
        digest = input_hash(after) if isinstance(after, dict) else None
        if (isinstance(before, dict) and digest is not None and input_hash(before) == digest
                and not _stale(after, digest)):
            # Nothing the model reads changed (our own write-backs, a status change, the outcome):
            # the event that last changed the inputs does, or did, the work; a crash in it redelivers it.
            # One of every ticket's two events is this: logged at DEBUG, as a line costs a sixth of the
            # event's CPU (the counter of outcomes still counts them).
            return self._done("skipped_inputs_unchanged", fields, started, severity="DEBUG"), None
        if _up_to_date(after, digest):
            return self._done("skipped_up_to_date", fields, started), None
        return None, functools.partial(self._rest, event, fields, started)

    def _rest(self, event: events.TicketEvent, fields: dict, started: float) -> str:
        try:
            return self._enrich(event, fields, started)
        except TransientError as exc:
            fields["error"] = str(exc)
            self._done("transient_failure", fields, started, severity="WARNING")  # delivery retries it
            raise

    def _enrich(self, event: events.TicketEvent, fields: dict, started: float) -> str:
        """Read, validate, predict, forward and write back one ticket (the rest of `process`)."""
        ticket_id = event.ticket_id
        timings = fields["timings_ms"] = {}
        t0 = time.perf_counter()
        ticket = self.tickets.get(ticket_id)
        timings["read"] = _ms(t0)
        if ticket is None:
            return self._done("skipped_delete", fields, started)
        if not isinstance(ticket, dict):
            # Only the admin can write this (the rules require an object); there is no field to record an error in.
            fields["found"] = type(ticket).__name__
            return self._done("ignored_not_an_object", fields, started, severity="WARNING")
        digest = input_hash(ticket)
        if _up_to_date(ticket, digest) or (ticket.get("enrichment_error") or {}).get("input_hash") == digest:
            return self._done("skipped_up_to_date", fields, started)

        problems = validate.problems(ticket)
        if problems:
            error = {"message": " ".join(problems), "problems": problems, "input_hash": digest,
                     "at": self._now_ms()}
            t0 = time.perf_counter()
            self.tickets.update(ticket_id, {"enrichment_error": error, "enrichment": None})
            timings["write"] = _ms(t0)
            fields["problems"] = problems
            return self._done("invalid", fields, started, severity="WARNING")

        enrichment = ticket.get("enrichment")
        predicted = not isinstance(enrichment, dict) or enrichment.get("input_hash") != digest
        if predicted:
            bundle = self.model.current()
            t0 = time.perf_counter()
            enrichment = {**bundle.predict(ticket), "input_hash": digest, "enriched_at": self._now_ms()}
            if "explanations" in enrichment:
                enrichment["explanations"] = explain.stored(enrichment["explanations"])
            timings["predict"] = _ms(t0)
            metrics.PREDICTIONS.inc()
            metrics.PREDICTION_SECONDS.observe(time.perf_counter() - t0)
        fields["model_version"] = enrichment.get("model_version")
        fields["priority"] = enrichment.get("priority")
        # What is written back: the enrichment if it is new, with the helpdesk's outcome, in one write (one
        # database event less a ticket than writing the enrichment before the call).
        write = {"enrichment": enrichment, "enrichment_error": None} if predicted else {}

        link = ticket.get("helpdesk")
        if isinstance(link, dict) and link.get("input_hash") == digest:
            if write:
                self._write(ticket_id, write, timings)
            return self._done("enriched", fields, started)
        known_id = link.get("id") if isinstance(link, dict) else None
        t0 = time.perf_counter()
        try:
            result = self.helpdesk.upsert(ticket_id, ticket, enrichment, idempotency_key=ticket_id,
                                          known_id=known_id, may_exist=self._may_exist(event, ticket, known_id))
        except TransientError:
            timings["helpdesk"] = _ms(t0)
            if write:  # the ticket shows its enrichment while the helpdesk is down; the redelivery forwards it
                self._write(ticket_id, write, timings)
            raise
        except PermanentError as exc:
            timings["helpdesk"] = _ms(t0)
            metrics.HELPDESK_CALLS.labels("refused").inc()
            self._write(ticket_id, {**write, "helpdesk_error": {"message": str(exc), "input_hash": digest,
                                                                 "at": self._now_ms()}}, timings)
            fields["error"] = str(exc)
            return self._done("helpdesk_refused", fields, started, severity="ERROR")
        timings["helpdesk"] = _ms(t0)
        metrics.HELPDESK_CALLS.labels("created" if result["created"] else "updated").inc()
        metrics.HELPDESK_SECONDS.observe(time.perf_counter() - t0)
        self._write(ticket_id, {**write, "helpdesk": {"system": "zendesk", "id": result["id"], "url": result["url"],
                                                      "synced_at": self._now_ms(), "input_hash": digest},
                                "helpdesk_error": None}, timings)
        fields["helpdesk_id"] = result["id"]
        return self._done("forwarded" if result["created"] else "helpdesk_updated", fields, started)

    def _may_exist(self, event: events.TicketEvent, ticket: dict, known_id) -> bool:
        """Whether a helpdesk ticket may exist for `ticket` that the creation key would not find.

        Every creation for a database ticket carries the same Idempotency-Key (its id), which the helpdesk
        keeps two hours (Zendesk's window). Every attempt at forwarding happens after the ticket's creation.
        So when this event is the ticket's creation and is less than an hour old (an hour's margin for the
        clocks), every earlier attempt is at most an hour old, and a creation under the key either replays
        the ticket that attempt made or, if the body changed since, is refused and `upsert` looks it up. In
        any other case (an edit's event, an old or undated one, a ticket already linked or carrying any
        field of ours) `upsert` looks the ticket up by external_id first.
        """
        if known_id is not None or any(k in ticket for k in OWN_FIELDS):
            return True
        if event.before is not None or event.time is None:
            return True
        return self.clock() - event.time.timestamp() > FRESH_CREATION_S

    def _write(self, ticket_id: str, fields: dict, timings: dict) -> None:
        t0 = time.perf_counter()
        self.tickets.update(ticket_id, fields)
        timings["write"] = _ms(t0)

    def _done(self, outcome: str, fields: dict, started: float, severity: str = "INFO") -> str:
        fields = {**fields, "outcome": outcome, "total_ms": _ms(started)}
        metrics.EVENTS.labels(outcome).inc()
        metrics.EVENT_SECONDS.observe(time.perf_counter() - started)
        self.log.log(_LEVELS[severity], f"ticket {fields.get('ticket_id')}: {outcome}", extra={"fields": fields})
        return outcome

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)


_LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40}


def _stale(ticket: dict, digest: str) -> bool:
    """True when the ticket carries an enrichment made for other inputs than its own (`digest`).

    A write-back can land after a newer one: an admin edits a ticket's text while its creation is being enriched,
    the edit's event finishes first, and the creation's write-back then puts the old text's enrichment (and
    helpdesk link) over the new one. Its own event changes no input, so it would be skipped as a write-back; it is
    processed instead, and that redoes the work for the current inputs (prediction, helpdesk update, write-back).
    A ticket with an outcome (`resolution`) is left as it is: its enrichment is the prediction that monitoring
    compares with the outcome, and the helpdesk refuses changes to a closed ticket.
    """
    if "resolution" in ticket:
        return False
    enrichment = ticket.get("enrichment")
    made_for = enrichment.get("input_hash") if isinstance(enrichment, dict) else None
    return isinstance(made_for, str) and made_for != digest


def _up_to_date(ticket: dict, digest: str | None) -> bool:
    """True when enrichment and helpdesk link both carry the hash of the ticket's current inputs (`digest`,
    the ticket's `input_hash`, computed once by the caller)."""
    if not isinstance(ticket, dict):
        return False
    enrichment, link = ticket.get("enrichment"), ticket.get("helpdesk")
    return (isinstance(enrichment, dict) and enrichment.get("input_hash") == digest
            and isinstance(link, dict) and link.get("input_hash") == digest)


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 2)
