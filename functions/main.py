"""Cloud Functions entry points (deploy this folder as it is; see the README's deploy section).

`enrich_ticket` is triggered by `google.firebase.database.ref.v1.written` on `tickets/{ticketId}`;
`helpdesk_webhook` is called by the helpdesk when a ticket is solved or closed.
"""

import os
import threading

import functions_framework
from cloudevents.exceptions import GenericException as UnreadableCloudEvent
from flask import jsonify

from enrichment import metrics, webhook
from enrichment.errors import MalformedEvent
from enrichment.runtime import state

_MAX_ERROR_CHARS = 300


def _instance_started() -> None:
    """In each serving process: load the model and clients ahead of the first event, serve metrics."""
    threading.Thread(target=state, name="warm-up", daemon=True).start()
    if os.environ.get("METRICS_PORT"):
        metrics.serve(int(os.environ["METRICS_PORT"]))


# gunicorn (functions-framework's server) imports this module, then forks the worker that serves:
# work started here must run in that worker, so it waits for the fork.
os.register_at_fork(after_in_child=_instance_started)


@functions_framework.errorhandler(UnreadableCloudEvent)
@functions_framework.errorhandler(MalformedEvent)
def _refuse_malformed_event(error):
    """400, not 500, for an event no retry can fix (unparsable, missing attributes, data not an object).

    functions-framework parses the request before calling the function and would answer 500 for an event it
    cannot read (a body nested too deep for JSON, say); the emulator retries a 400 too, then dead-letters it.
    """
    if isinstance(error, UnreadableCloudEvent):  # (the Enricher counts the MalformedEvents it raises)
        metrics.EVENTS.labels("malformed").inc()
    return jsonify({"error": f"Malformed CloudEvent: {str(error)[:_MAX_ERROR_CHARS]}"}), 400


@functions_framework.cloud_event
def enrich_ticket(cloud_event):
    """Enrich the ticket named by a Realtime Database CloudEvent.

    Raises TransientError (so the platform redelivers) when the database or helpdesk fails.
    """
    attributes = {key: value for key, value in cloud_event.get_attributes().items()}
    state()["enricher"].handle(attributes, cloud_event.get_data())


@functions_framework.http
def helpdesk_webhook(request):
    """Record a solved or closed helpdesk ticket's outcome on the database ticket."""
    s = state()
    body, status = webhook.handle(s["tickets"], s["settings"].webhook_secret, request.headers, request.get_data())
    metrics.WEBHOOKS.labels(str(status)).inc()
    return jsonify(body), status
