"""Prometheus metrics of a function instance: events by outcome, predictions, helpdesk calls.

Served on `METRICS_PORT` when that is set (the local stack sets it); in Google Cloud, Cloud
Monitoring's own function metrics and the structured logs take this role and nothing is served.
"""

import threading

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
REGISTRY = CollectorRegistry()
EVENTS = Counter("enrich_events", "Events handled, by outcome", ["outcome"], registry=REGISTRY)
EVENT_AGE_SECONDS = Histogram("enrich_event_age_seconds", "From the event's time (the database commit) to the "
                              "function receiving it: delivery, including retries", buckets=_BUCKETS,
                              registry=REGISTRY)
EVENT_SECONDS = Histogram("enrich_event_seconds", "Time to handle one event", buckets=_BUCKETS, registry=REGISTRY)
PREDICTIONS = Counter("enrich_predictions", "Model predictions", registry=REGISTRY)
PREDICTION_SECONDS = Histogram("enrich_prediction_seconds", "Time of one prediction", buckets=_BUCKETS, registry=REGISTRY)
HELPDESK_CALLS = Counter("enrich_helpdesk_calls", "Helpdesk upserts, by result", ["result"], registry=REGISTRY)
HELPDESK_SECONDS = Histogram("enrich_helpdesk_seconds", "Time of one helpdesk upsert", buckets=_BUCKETS, registry=REGISTRY)
WEBHOOKS = Counter("helpdesk_webhooks", "Helpdesk webhooks, by HTTP status", ["status"], registry=REGISTRY)
_started = threading.Lock()
_server = []


def serve(port: int) -> None:
    """Serve /metrics on `port` (0: a free one) once per process, and print where."""
    with _started:
        if _server:
            return
        try:
            server, _thread = start_http_server(port, addr="127.0.0.1", registry=REGISTRY)
        except OSError as exc:  # e.g. a second gunicorn worker on a fixed port
            print(f"Function metrics not served on port {port}: {exc}", flush=True)
            return
        _server.append(server)
        print(f"Function metrics at http://127.0.0.1:{server.server_port}/metrics", flush=True)
