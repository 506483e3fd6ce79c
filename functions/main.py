"""Cloud Functions entry points (deploy this folder as it is; see the README's deploy section).

The same two functions, declared two ways; deploy one way per project, never both:
- for functions-framework (`gcloud functions deploy`): `enrich_ticket`, triggered by
  `google.firebase.database.ref.v1.written` on `tickets/{ticketId}`, and `helpdesk_webhook`, called by the
  helpdesk when a ticket is solved or closed;
- with Firebase's functions SDK (`firebase deploy --only functions`, which finds and deploys only these):
  `on_ticket_written` (`db_fn.on_value_written`) and `on_helpdesk_webhook` (`https_fn.on_request`).
Both enrichment entry points turn their event into an `events.TicketEvent` for the one `Enricher`.
"""

import dataclasses
import functools
import gc
import os
import threading

import functions_framework
import functions_framework.aio
from cloudevents.exceptions import GenericException as UnreadableCloudEvent
from firebase_functions import db_fn, https_fn
from flask import jsonify

from enrichment import eventloop, events, metrics, webhook
from enrichment.errors import MalformedEvent
from enrichment.runtime import loaded, state

TICKET_REFERENCE = "/tickets/{ticketId}"


def _instance_started() -> None:
    """In each serving process: load the model and clients ahead of the first event, serve metrics."""
    threading.Thread(target=_warm_up, name="warm-up", daemon=True).start()
    if os.environ.get("METRICS_PORT"):
        metrics.serve(int(os.environ["METRICS_PORT"]))


def _warm_up() -> None:
    """Build the instance's state, then take everything alive by then out of the cyclic collector's scans.

    The modules, firebase-admin and the model leave about 74,000 objects that every full collection traverses,
    32-42 ms in which the event loop and every thread stand still (about once a minute at 200 tickets a second;
    `python -m bench.gc_pauses --function`); frozen (`gc.freeze`), they cost a full collection nothing. They are
    freed as before when their last reference goes (a bundle replaced by a newer one holds no reference cycle),
    and what is made afterwards, the events' objects, is collected as usual.
    """
    state()
    gc.collect()  # the garbage of loading goes first, so as not to be frozen
    gc.freeze()
    print(f"Instance warmed up: {gc.get_freeze_count()} objects frozen out of the collector's scans", flush=True)


# gunicorn (functions-framework's server) imports this module, then forks the worker that serves:
# work started here must run in that worker, so it waits for the fork.
os.register_at_fork(after_in_child=_instance_started)


@functions_framework.errorhandler(UnreadableCloudEvent)
@functions_framework.errorhandler(MalformedEvent)
def _refuse_malformed_event(error):
    """400, not 500, for an event no retry can fix (unparsable, missing attributes, data not an object).

    functions-framework parses the request before calling the function and would answer 500 for an event it
    cannot read (a body nested too deep for JSON, say); the emulator retries a 400 too, then dead-letters it.
    Flask serves the SDK's entry points, so they get it. `enrich_ticket` is served by functions-framework's ASGI
    server, which answers an event it cannot read with its own 400 (not counted as `malformed`: the function never
    sees it), and one the function refuses with `eventloop.malformed`.
    """
    if isinstance(error, UnreadableCloudEvent):  # (the entry points count the MalformedEvents they raise)
        metrics.EVENTS.labels("malformed").inc()
    return jsonify(eventloop.malformed_body(error)), 400


@functions_framework.aio.cloud_event
async def enrich_ticket(cloud_event):
    """Enrich the ticket named by a Realtime Database CloudEvent.

    A coroutine, so that functions-framework serves it with its ASGI server: the event loop answers the
    function's own write-back events, and threads do the rest (`enrichment.eventloop`).

    Raises TransientError (so the platform redelivers) when the database or helpdesk fails.
    """
    await eventloop.handle(cloud_event, lambda: state()["enricher"], built=lambda: loaded() is not None)


@functions_framework.http
def helpdesk_webhook(request):
    """Record a solved or closed helpdesk ticket's outcome on the database ticket."""
    return _record_outcome(request)


def _complete_events_only(sdk_function):
    """`sdk_function` (a db_fn trigger) refusing, as MalformedEvent, a raw event the SDK could not read.

    `functools.wraps` carries over the SDK's endpoint description, so `firebase deploy` still finds it.
    """

    @functools.wraps(sdk_function)
    def checked(cloud_event):
        try:
            events.check_complete(cloud_event.get_attributes(), cloud_event.get_data())
        except MalformedEvent:
            metrics.EVENTS.labels("malformed").inc()
            raise
        return sdk_function(cloud_event)

    return checked


def _retried(sdk_function):
    """`sdk_function` (a db_fn trigger) described to `firebase deploy` with retries, as `--retry` does for gcloud.

    The pipeline relies on redelivery (TransientError answers 500 so the event comes again), but db_fn has no
    `retry` option and always describes `retry: false` (firebase-functions 0.6.0; firebase-functions-python#165).
    The CLI reads the description from this attribute and deploys `retry: true` as a retry policy.
    """
    endpoint = sdk_function.__firebase_endpoint__
    sdk_function.__firebase_endpoint__ = dataclasses.replace(
        endpoint, eventTrigger={**endpoint.eventTrigger, "retry": True})
    return sdk_function


@_complete_events_only
@_retried
@db_fn.on_value_written(reference=TICKET_REFERENCE, secrets=["HELPDESK_API_TOKEN"])
def on_ticket_written(event: db_fn.Event[db_fn.Change]) -> None:
    """`enrich_ticket` for `firebase deploy`: the same pipeline, the event as the SDK parses it.

    Raises TransientError (so the platform redelivers) when the database or helpdesk fails.
    """
    state()["enricher"].process(events.from_sdk_event(event))


@https_fn.on_request(secrets=["HELPDESK_WEBHOOK_SECRET"])
def on_helpdesk_webhook(request: https_fn.Request):
    """`helpdesk_webhook` for `firebase deploy`."""
    return _record_outcome(request)


def _record_outcome(request):
    """The webhook's response to one request (both webhook entry points)."""
    s = state()
    body, status = webhook.handle(s["tickets"], s["settings"].webhook_secret, request.headers, request.get_data())
    metrics.WEBHOOKS.labels(str(status)).inc()
    return jsonify(body), status
