"""Cloud Functions entry points (deploy this folder as it is; see the README's deploy section).

`enrich_ticket` is triggered by `google.firebase.database.ref.v1.written` on `tickets/{ticketId}`;
`helpdesk_webhook` is called by the helpdesk when a ticket is solved or closed.
"""

import os
import threading

import functions_framework
from flask import jsonify

from enrichment import metrics, webhook
from enrichment.runtime import state


def _instance_started() -> None:
    """In each serving process: load the model and clients ahead of the first event, serve metrics."""
    threading.Thread(target=state, name="warm-up", daemon=True).start()
    if os.environ.get("METRICS_PORT"):
        metrics.serve(int(os.environ["METRICS_PORT"]))


# gunicorn (functions-framework's server) imports this module, then forks the worker that serves:
# work started here must run in that worker, so it waits for the fork.
os.register_at_fork(after_in_child=_instance_started)


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
