"""Enrich one ticket from one database event: skip, validate, predict, write back, forward.

Every step is decided from the `input_hash` of the fields the model reads, which makes the handler
idempotent: an event that changed none of those fields (the function's own write-backs, a status
change) is skipped without a database read; a redelivered event finds the work done in the
ticket's current state and stops; an edit of the text changes the hash and re-enriches; a crash
between steps redelivers the event, which resumes at the first step not yet done.
"""

import time

from ticketml import explain
from ticketml.features import input_hash

from enrichment import events, metrics, validate
from enrichment.errors import MalformedEvent, PermanentError, TransientError

OWN_FIELDS = ("enrichment", "enrichment_error", "helpdesk", "helpdesk_error", "resolution")


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
        try:
            event = events.from_cloud_event(attributes, data)
        except MalformedEvent:
            metrics.EVENTS.labels("malformed").inc()
            raise
        return self.process(event)

    def process(self, event: events.TicketEvent) -> str:
        """Process one database event on a ticket, whichever entry point parsed it. Returns the outcome's name.

        Raises:
          TransientError: the database or helpdesk failed in a way worth retrying.
        """
        started = time.perf_counter()
        ticket_id, before, after = event.ticket_id, event.before, event.after
        fields = {"ticket_id": ticket_id, "event_id": event.event_id, "event_type": event.event_type}
        if event.time is not None:
            age = self.clock() - event.time.timestamp()
            fields["event_age_ms"] = round(age * 1000, 2)
            metrics.EVENT_AGE_SECONDS.observe(max(age, 0.0))
        if ticket_id is None:
            return self._done("ignored_other_path", fields, started)
        if event.deleted:
            return self._done("skipped_delete", fields, started)
        if isinstance(before, dict) and isinstance(after, dict) and input_hash(before) == input_hash(after):
            # Nothing the model reads changed (our own write-backs, a status change, the outcome):
            # the event that last changed the inputs does, or did, the work; a crash in it redelivers it.
            # Two of every ticket's three events are these: logged at DEBUG, as a line costs a sixth of the
            # event's CPU (the counter of outcomes still counts them).
            return self._done("skipped_inputs_unchanged", fields, started, severity="DEBUG")
        if _up_to_date(after):
            return self._done("skipped_up_to_date", fields, started)
        try:
            return self._enrich(ticket_id, fields, started)
        except TransientError as exc:
            fields["error"] = str(exc)
            self._done("transient_failure", fields, started, severity="WARNING")  # delivery retries it
            raise

    def _enrich(self, ticket_id: str, fields: dict, started: float) -> str:
        """Read, validate, predict, write back and forward one ticket (the rest of `handle`)."""
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
        if _up_to_date(ticket) or (ticket.get("enrichment_error") or {}).get("input_hash") == digest:
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
        if not isinstance(enrichment, dict) or enrichment.get("input_hash") != digest:
            bundle = self.model.current()
            t0 = time.perf_counter()
            enrichment = {**bundle.predict(ticket), "input_hash": digest, "enriched_at": self._now_ms()}
            if "explanations" in enrichment:
                enrichment["explanations"] = explain.stored(enrichment["explanations"])
            timings["predict"] = _ms(t0)
            metrics.PREDICTIONS.inc()
            metrics.PREDICTION_SECONDS.observe(time.perf_counter() - t0)
            t0 = time.perf_counter()
            self.tickets.update(ticket_id, {"enrichment": enrichment, "enrichment_error": None})
            timings["write"] = _ms(t0)
        fields["model_version"] = enrichment.get("model_version")
        fields["priority"] = enrichment.get("priority")

        link = ticket.get("helpdesk")
        if isinstance(link, dict) and link.get("input_hash") == digest:
            return self._done("enriched", fields, started)
        known_id = link.get("id") if isinstance(link, dict) else None
        # A helpdesk ticket can exist unlinked only if an earlier attempt reached the helpdesk and did not
        # record the link (a timeout, a crash). Every attempt writes enrichment or an error on the ticket
        # before calling the helpdesk, so a ticket read with none of them has never been forwarded.
        may_exist = known_id is not None or any(k in ticket for k in OWN_FIELDS)
        t0 = time.perf_counter()
        try:
            result = self.helpdesk.upsert(ticket_id, ticket, enrichment, idempotency_key=f"{ticket_id}:{digest[:16]}",
                                          known_id=known_id, may_exist=may_exist)
        except PermanentError as exc:
            timings["helpdesk"] = _ms(t0)
            metrics.HELPDESK_CALLS.labels("refused").inc()
            self.tickets.update(ticket_id, {"helpdesk_error": {"message": str(exc), "input_hash": digest,
                                                                "at": self._now_ms()}})
            fields["error"] = str(exc)
            return self._done("helpdesk_refused", fields, started, severity="ERROR")
        timings["helpdesk"] = _ms(t0)
        metrics.HELPDESK_CALLS.labels("created" if result["created"] else "updated").inc()
        metrics.HELPDESK_SECONDS.observe(time.perf_counter() - t0)
        t0 = time.perf_counter()
        self.tickets.update(ticket_id, {"helpdesk": {"system": "zendesk", "id": result["id"], "url": result["url"],
                                                     "synced_at": self._now_ms(), "input_hash": digest},
                                        "helpdesk_error": None})
        timings["write_link"] = _ms(t0)
        fields["helpdesk_id"] = result["id"]
        return self._done("forwarded" if result["created"] else "helpdesk_updated", fields, started)

    def _done(self, outcome: str, fields: dict, started: float, severity: str = "INFO") -> str:
        fields = {**fields, "outcome": outcome, "total_ms": _ms(started)}
        metrics.EVENTS.labels(outcome).inc()
        metrics.EVENT_SECONDS.observe(time.perf_counter() - started)
        self.log.log(_LEVELS[severity], f"ticket {fields.get('ticket_id')}: {outcome}", extra={"fields": fields})
        return outcome

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)


_LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40}


def _up_to_date(ticket: dict) -> bool:
    """True when enrichment and helpdesk link both carry the hash of the ticket's current inputs."""
    if not isinstance(ticket, dict):
        return False
    digest = input_hash(ticket)
    enrichment, link = ticket.get("enrichment"), ticket.get("helpdesk")
    return (isinstance(enrichment, dict) and enrichment.get("input_hash") == digest
            and isinstance(link, dict) and link.get("input_hash") == digest)


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 2)
