"""Background delivery of the solve/close webhook outbox, signed like Zendesk webhooks.

Rows are written by the store in the same transaction as the status change; this worker sends them.
"""

from __future__ import annotations

import logging
import queue
import threading

import requests

from helpdesk.settings import Settings
from helpdesk.signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from helpdesk.store import Store, utc_now

log = logging.getLogger(__name__)

_MAX_ERROR_CHARS = 500
_STOP_JOIN_SECONDS = 2.0
_IDLE_POLL_SECONDS = 0.5
_WAKE_UP = -1  # queued by stop() so the worker notices at once


class Dispatcher:
    """Sends pending webhook deliveries one at a time, in order, retrying with exponential backoff.

    One worker thread keeps events of a ticket in order (``ticket.solved`` before ``ticket.closed``).
    Every attempt is recorded in ``webhook_deliveries``; rows still pending at shutdown are sent
    after the next start.

    Args:
        store: where the outbox lives.
        settings: secret, attempt count, backoff and timeout.
    """

    def __init__(self, store: Store, settings: Settings) -> None:
        self._store = store
        self._settings = settings
        self._queue: queue.Queue[int] = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._session = requests.Session()
        self._start_lock = threading.Lock()

    def notify(self, delivery_ids: list[int]) -> None:
        """Queues newly written outbox rows, starting the worker on first use."""
        if not delivery_ids:
            return
        self._ensure_started()
        for delivery_id in delivery_ids:
            self._queue.put(delivery_id)

    def resume(self) -> None:
        """Queues the rows a previous run left pending (call once at startup)."""
        self.notify(self._store.pending_deliveries())

    def stop(self) -> None:
        """Stops the worker; an unfinished delivery stays pending for the next start."""
        self._stop.set()
        self._queue.put(_WAKE_UP)
        if self._thread is not None:
            self._thread.join(_STOP_JOIN_SECONDS)
        self._session.close()

    def _ensure_started(self) -> None:
        with self._start_lock:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._run, name="helpdesk-webhooks", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                delivery_id = self._queue.get(timeout=_IDLE_POLL_SECONDS)
            except queue.Empty:
                continue
            if delivery_id == _WAKE_UP:
                continue
            try:
                self._deliver(delivery_id)
            except Exception:  # The worker must survive anything, e.g. a wipe mid-delivery.
                log.exception("webhook delivery %s crashed", delivery_id)

    def _deliver(self, delivery_id: int) -> None:
        delay = self._settings.webhook_backoff_seconds
        while not self._stop.is_set():
            delivery = self._store.get_delivery(delivery_id)
            if delivery is None or delivery["state"] != "pending":
                return
            status_code, error = self._attempt(delivery)
            ok = status_code is not None and 200 <= status_code < 300
            last = delivery["attempts"] + 1 >= self._settings.webhook_max_attempts
            state = "delivered" if ok else ("failed" if last else "pending")
            self._store.record_attempt(delivery_id, state, status_code, error)
            if state != "pending":
                if state == "failed":
                    log.warning("webhook delivery %s failed after %s attempts: %s",
                                delivery_id, delivery["attempts"] + 1, error)
                return
            self._stop.wait(delay)
            delay *= 2

    def _attempt(self, delivery: dict) -> tuple[int | None, str | None]:
        body = delivery["payload"].encode()
        timestamp = utc_now()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Zendesk Webhook (helpdesk stub)",
            "X-Zendesk-Webhook-Id": "helpdesk-stub",
            "X-Zendesk-Webhook-Invocation-Id": str(delivery["id"]),
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(self._settings.webhook_secret, timestamp, body),
        }
        try:
            response = self._session.post(delivery["url"], data=body, headers=headers, allow_redirects=False,
                                          timeout=self._settings.webhook_timeout_seconds)
        except requests.RequestException as exc:
            return None, f"{type(exc).__name__}: {exc}"[:_MAX_ERROR_CHARS]
        if 200 <= response.status_code < 300:
            return response.status_code, None
        return response.status_code, f"HTTP {response.status_code}: {response.text}"[:_MAX_ERROR_CHARS]
