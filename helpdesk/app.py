"""Application factory of the helpdesk stub: wires settings, store, webhook worker and routes.

Nothing happens at import; ``create_app`` builds everything, ``Stub.close`` releases it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from flask import Flask, Response, request

from helpdesk import api, control, pages
from helpdesk.faults import FaultSwitches
from helpdesk.jsonhttp import MAX_BODY_BYTES, register_error_handlers
from helpdesk.settings import Settings, load_settings
from helpdesk.store import Store, Write
from helpdesk.webhooks import Dispatcher

_SETTINGS_PREFIX = "HELPDESK_"
_FAULTY_PREFIX = "/api/v2/"
_FAULT_FREE_PATHS = ("/api/v2/openapi.json",)


@dataclass
class Stub:
    """Everything one app instance owns; reached from handlers as ``app.extensions["helpdesk"]``."""

    settings: Settings
    store: Store
    dispatcher: Dispatcher
    faults: FaultSwitches = field(default_factory=FaultSwitches)

    def create_ticket(self, fields: dict[str, Any], idempotency: tuple[str, str] | None,
                      author_email: str | None = None) -> Write:
        """Creates a ticket (or replays an Idempotency-Key) and queues any webhook it triggers; see ``Store.create_ticket``."""
        write = self.store.create_ticket(fields, self.settings.webhook_url, idempotency, author_email)
        self.dispatcher.notify(write.deliveries)
        return write

    def update_ticket(self, ticket_id: int, changes: dict[str, Any], author_email: str | None = None,
                      channel: str = "api") -> Write:
        """Updates a ticket and queues the webhook if it became solved or closed; see ``Store.update_ticket``."""
        write = self.store.update_ticket(ticket_id, changes, self.settings.webhook_url, author_email, channel)
        self.dispatcher.notify(write.deliveries)
        return write

    def reset(self) -> None:
        """Wipes all data and turns every fault off."""
        self.store.wipe()
        self.faults.reset()

    def close(self) -> None:
        """Stops the webhook worker and closes the database."""
        self.dispatcher.stop()
        self.store.close()


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Builds the helpdesk stub's Flask app.

    Args:
        config: overrides; ``HELPDESK_*`` keys override the environment variables of the same
            name (see settings.py), any other key goes to ``app.config`` (e.g. ``TESTING``).

    Returns:
        The app; its ``Stub`` is at ``app.extensions["helpdesk"]``. Pending webhook deliveries
        of a previous run are resumed.

    Raises:
        ConfigError: a setting is invalid.
    """
    config = dict(config or {})
    settings = load_settings({k: v for k, v in config.items() if k.startswith(_SETTINGS_PREFIX)})
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.config.update({k: v for k, v in config.items() if not k.startswith(_SETTINGS_PREFIX)})
    app.json.sort_keys = False
    store = Store(settings.db_path)
    stub = Stub(settings=settings, store=store, dispatcher=Dispatcher(store, settings))
    app.extensions["helpdesk"] = stub
    stub.dispatcher.resume()

    @app.before_request
    def _inject_faults() -> Response | None:
        if request.path.startswith(_FAULTY_PREFIX) and request.path not in _FAULT_FREE_PATHS:
            return stub.faults.apply()
        return None

    register_error_handlers(app)
    app.register_blueprint(api.bp)
    app.register_blueprint(control.bp)
    app.register_blueprint(pages.bp)
    return app
