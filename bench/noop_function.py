"""`enrich_ticket` with a model and a helpdesk that do nothing: the floor under bench/pipeline.py.

Everything else is the deployed path: functions-framework's ASGI server and its CloudEvent parsing, the
event loop and threads of `enrichment.eventloop`, the Enricher's skip logic and validation, the database
read and the write-back through the unmodified firebase-admin SDK. What this measures next to the real
function is the model's and the helpdesk's share. Served by `python -m bench.pipeline` only
(`Stack(enrich_source=...)`); never deployed.
"""

import itertools
import threading

import firebase_admin
import functions_framework.aio

from enrichment import eventloop
from enrichment import settings as settings_module
from enrichment.logs import get_logger
from enrichment.pipeline import Enricher
from enrichment.runtime import FirebaseTickets

ENRICHMENT = {"priority": "P3", "priority_scores": {"P1": 0.1, "P2": 0.2, "P3": 0.4, "P4": 0.3},
              "sentiment": {"label": "neutral", "score": 0.0}, "resolution_hours": {"p50": 4.0, "p90": 24.0},
              "needs_review": False, "model_version": "noop"}


class NoopModel:
    """A bundle watcher whose bundle answers a constant enrichment."""

    def current(self):
        return self

    def predict(self, ticket):
        return dict(ENRICHMENT)


class NoopHelpdesk:
    """A helpdesk client that creates nothing and answers at once."""

    def __init__(self):
        self._ids = itertools.count(1)

    def upsert(self, ticket_id, ticket, enrichment, idempotency_key, **_):
        helpdesk_id = next(self._ids)
        return {"id": helpdesk_id, "url": f"http://noop.invalid/agent/tickets/{helpdesk_id}", "created": True}


_lock = threading.Lock()
_enricher = []


def _instance() -> Enricher:
    with _lock:
        if not _enricher:
            s = settings_module.load()
            app = firebase_admin.initialize_app(options={"databaseURL": s.database_url, "projectId": s.project},
                                                name="noop-bench")
            _enricher.append(Enricher(FirebaseTickets(app), NoopModel(), NoopHelpdesk(), get_logger()))
    return _enricher[0]


@functions_framework.aio.cloud_event
async def enrich_ticket(cloud_event):
    await eventloop.handle(cloud_event, _instance, built=lambda: bool(_enricher))
