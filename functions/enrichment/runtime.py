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

from enrichment import metrics
from enrichment._rtdb_http import DatabaseCallFailed, RtdbHttp
from enrichment._transport import environment_configures
from enrichment import settings as settings_module
from enrichment.errors import TransientError
from enrichment.helpdesk import HelpdeskClient
from enrichment.logs import get_logger
from enrichment.pipeline import Enricher

APP_NAME = "enrichment"
_lock = threading.Lock()
_state: dict = {}


class FirebaseTickets:
    """`tickets/{id}` through firebase-admin's client; its failures become TransientError.

    All of them, a 4xx included: the admin bypasses the rules, so a refusal means the deployment is
    wrong (credentials, permissions, namespace), which no record on the ticket can report since the
    ticket cannot be written. Retried, the event ends in the dead-letter queue, kept for a replay
    once the deployment is fixed; acknowledged, the ticket would silently stay unenriched.

    The calls go over kept-alive connections (`_keptalive`) with the client's own URL, parameters and credential
    (`_rtdb_http`), a sixth of their CPU; where that client is not as expected, through the stock `Reference` API.

    Args:
      app: the firebase-admin app.
      fast: False keeps the stock `Reference` API even where the kept-alive transport could be used.
    """

    def __init__(self, app, fast: bool = True):
        self._root = db.reference("tickets", app=app)
        self._http = RtdbHttp.from_reference(self._root) if fast else None
        client = getattr(self._root, "_client", None)  # firebase-admin's own session, if it is where it was
        if self._http is None and isinstance(getattr(client, "session", None), requests.Session):
            skip_environment_lookups(client.session, getattr(client, "base_url", "https:"))

    @property
    def transport(self) -> str:
        """"kept-alive" or "firebase-admin": which one the calls take."""
        return "firebase-admin" if self._http is None else "kept-alive"

    def get(self, ticket_id: str):
        try:
            if self._http is not None:
                return self._http.get(f"tickets/{ticket_id}")
            return self._root.child(ticket_id).get()
        except (exceptions.FirebaseError, requests.RequestException, DatabaseCallFailed) as exc:
            raise TransientError(f"Database read of tickets/{ticket_id} failed: {exc}") from exc

    def update(self, ticket_id: str, fields: dict) -> None:
        try:
            if self._http is not None:
                self._http.update(f"tickets/{ticket_id}", fields)
            else:
                self._root.child(ticket_id).update(fields)
        except (exceptions.FirebaseError, requests.RequestException, DatabaseCallFailed) as exc:
            raise TransientError(f"Database write to tickets/{ticket_id} failed: {exc}") from exc


def skip_environment_lookups(session: requests.Session, url: str) -> None:
    """Stop `session`, which talks to `url`, from searching the environment on every request when
    there is nothing there for it.

    requests re-reads every `*_proxy` variable, the CA-bundle variables and ~/.netrc for each call
    (`trust_env`): about 0.13 ms of CPU a call. Where a proxy or a netrc file is configured, or a CA
    bundle and the URL is https, requests keeps doing so.
    """
    if not environment_configures(url):
        session.trust_env = False


def loaded() -> dict | None:
    """The instance's state if it is built, else None (never blocks, unlike `state`)."""
    return _state or None


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
                if helpdesk.session is not None:
                    skip_environment_lookups(helpdesk.session, s.helpdesk_url)
                model = BundleWatcher(s.model_dir)
                metrics.MONITOR.watch(s.model_dir)
                model.current()  # load now: a broken bundle fails the first event loudly, not a later one
                _state.update(settings=s, tickets=tickets, enricher=Enricher(tickets, model, helpdesk, get_logger(level=s.log_level)))
    return _state
