"""Per-instance state: the firebase-admin app, the model watcher and the helpdesk client, made once.

Cloud Functions reuses an instance for many events; building these on the first event and keeping
them avoids paying start-up costs per event. Thread-safe, as functions-framework serves requests
on several threads.
"""

import threading

import firebase_admin
import requests
from firebase_admin import db, exceptions
from ticketml.bundle import BundleWatcher

from enrichment import settings as settings_module
from enrichment.errors import TransientError
from enrichment.helpdesk import HelpdeskClient
from enrichment.logs import get_logger
from enrichment.pipeline import Enricher

APP_NAME = "enrichment"
_lock = threading.Lock()
_state: dict = {}


class FirebaseTickets:
    """`tickets/{id}` through the stock firebase-admin SDK; its failures become TransientError.

    All of them, a 4xx included: the admin bypasses the rules, so a refusal means the deployment is
    wrong (credentials, permissions, namespace), which no record on the ticket can report since the
    ticket cannot be written. Retried, the event ends in the dead-letter queue, kept for a replay
    once the deployment is fixed; acknowledged, the ticket would silently stay unenriched.
    """

    def __init__(self, app):
        self._root = db.reference("tickets", app=app)

    def get(self, ticket_id: str):
        try:
            return self._root.child(ticket_id).get()
        except (exceptions.FirebaseError, requests.RequestException) as exc:
            raise TransientError(f"Database read of tickets/{ticket_id} failed: {exc}") from exc

    def update(self, ticket_id: str, fields: dict) -> None:
        try:
            self._root.child(ticket_id).update(fields)
        except (exceptions.FirebaseError, requests.RequestException) as exc:
            raise TransientError(f"Database write to tickets/{ticket_id} failed: {exc}") from exc


def state() -> dict:
    """The instance's settings, tickets, enricher (built on first use)."""
    if not _state:
        with _lock:
            if not _state:
                s = settings_module.load()
                try:
                    app = firebase_admin.get_app(APP_NAME)
                except ValueError:
                    app = firebase_admin.initialize_app(
                        options={"databaseURL": s.database_url, "projectId": s.project}, name=APP_NAME)
                tickets = FirebaseTickets(app)
                helpdesk = HelpdeskClient(s.helpdesk_url, s.helpdesk_token, s.helpdesk_email, s.helpdesk_timeout_s)
                model = BundleWatcher(s.model_dir)
                model.current()  # load now: a broken bundle fails the first event loudly, not a later one
                _state.update(settings=s, tickets=tickets, enricher=Enricher(tickets, model, helpdesk, get_logger()))
    return _state
