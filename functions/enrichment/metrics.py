"""Prometheus metrics of a function instance: events by outcome, predictions, helpdesk calls, and
the latest monitoring figures.

Served on `METRICS_PORT` when that is set (the local stack sets it); in Google Cloud, Cloud
Monitoring's own function metrics and the structured logs take this role and nothing is served.

The monitoring gauges (`enrich_monitor_*`) are the figures of the last `python -m training monitor
--publish MODEL_DIR`, read from `monitor.json` beside the bundle when /metrics is scraped (again only
when the file changed); without that file there are none.

An instance served by several gunicorn workers (functions-framework's `WORKERS`) counts in every worker, and its
/metrics, served by whichever worker bound `METRICS_PORT`, adds up all of them, those since restarted included:
prometheus_client's multiprocess mode, in a folder of the instance's own (`PROMETHEUS_MULTIPROC_DIR` if set, else
one made when gunicorn imports this, before it forks the workers, and removed when gunicorn exits).
"""

import atexit
import json
import os
import shutil
import tempfile
import threading
from pathlib import Path


def _workers(environ) -> int:
    """functions-framework's WORKERS (1 if unset; a value it would refuse counts as 1 here)."""
    value = environ.get("WORKERS", "1")
    return int(value) if value.isascii() and value.isdigit() else 1


def _share_between_workers(environ) -> str | None:
    """The folder in which the workers keep their values, made if needed; None for a single worker or no /metrics.
    Must run before prometheus_client is imported: its metrics choose where to keep values then."""
    if not environ.get("METRICS_PORT") or _workers(environ) < 2:
        return None
    if not environ.get("PROMETHEUS_MULTIPROC_DIR"):
        folder, creator = tempfile.mkdtemp(prefix="enrich-metrics-"), os.getpid()
        environ["PROMETHEUS_MULTIPROC_DIR"] = folder
        # Workers are forked with this hook: only the process that made the folder removes it.
        atexit.register(lambda: os.getpid() == creator and shutil.rmtree(folder, ignore_errors=True))
    return environ["PROMETHEUS_MULTIPROC_DIR"]


_SHARED = _share_between_workers(os.environ)

from prometheus_client import CollectorRegistry, Counter, Histogram, multiprocess, start_http_server  # noqa: E402
from prometheus_client.core import GaugeMetricFamily  # noqa: E402

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
MONITOR_FILE = "monitor.json"


class MonitorGauges:
    """A collector of the figures in a `monitor.json` (see `training.monitor`), re-read when it changes."""

    def __init__(self):
        self.path: Path | None = None
        self._lock = threading.Lock()
        self._signature = None
        self._report: dict = {}

    def watch(self, model_dir) -> None:
        """Serve the figures of `monitor.json` in `model_dir` from now on."""
        self.path = Path(model_dir) / MONITOR_FILE

    def collect(self):
        report = self._read()
        if not report:
            return
        priority, resolution = report.get("priority") or {}, report.get("resolution") or {}
        for name, help_, value in (
                ("enrich_monitor_closed_tickets", "Closed tickets in the last monitoring report", report.get("closed")),
                ("enrich_monitor_priority_accuracy", "Enriched priority = final priority, on closed tickets",
                 priority.get("accuracy")),
                ("enrich_monitor_priority_macro_f1", "Macro-F1 of the enriched priority on closed tickets",
                 priority.get("macro_f1")),
                ("enrich_monitor_priority_calibration_error", "Expected calibration error of the top priority "
                 "probability", (priority.get("calibration") or {}).get("ece")),
                ("enrich_monitor_resolution_p90_coverage", "Share of solved tickets solved within the predicted p90",
                 resolution.get("p90_coverage")),
                ("enrich_monitor_resolution_within_2x", "Share of solved tickets solved within 2x of p50",
                 resolution.get("within_2x"))):
            if isinstance(value, (int, float)):
                yield GaugeMetricFamily(name, help_, value=value)
        for measure in ("precision", "recall"):
            family = GaugeMetricFamily(f"enrich_monitor_priority_{measure}",
                                       f"Per-class {measure} of the enriched priority on closed tickets",
                                       labels=["priority"])
            for label, row in (priority.get("per_class") or {}).items():
                if isinstance(row.get(measure), (int, float)):
                    family.add_metric([label], row[measure])
            yield family
        drift = GaugeMetricFamily("enrich_monitor_drift", "Total variation distance of the input mix, last month "
                                  "against the one before", labels=["field"])
        for field, value in ((report.get("drift") or {}).get("last_vs_previous") or {}).items():
            if isinstance(value, (int, float)):
                drift.add_metric([field], value)
        yield drift

    def _read(self) -> dict:
        if self.path is None:
            return {}
        with self._lock:
            try:
                st = os.stat(self.path)
            except OSError:
                self._signature, self._report = None, {}
                return {}
            signature = (st.st_ino, st.st_mtime_ns, st.st_size)
            if signature != self._signature:
                try:
                    report = json.loads(self.path.read_text())
                except (OSError, ValueError):
                    report = {}  # Being replaced, or not a report: no gauges until it is one.
                self._signature = signature
                self._report = report if isinstance(report, dict) else {}
            return self._report


MONITOR = MonitorGauges()
REGISTRY.register(MONITOR)
_started = threading.Lock()
_server = []


def serve(port: int) -> None:
    """Serve /metrics on `port` (0: a free one) once per process, and print where."""
    with _started:
        if _server:
            return
        registry = REGISTRY
        if _SHARED is not None:  # every worker's values, read from the folder they share
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry, path=_SHARED)
            registry.register(MONITOR)
        try:
            server, _thread = start_http_server(port, addr="127.0.0.1", registry=registry)
        except OSError as exc:  # another gunicorn worker on a fixed port
            shared = " (which counts this worker's too)" if _SHARED is not None else ""
            print(f"Function metrics not served by this worker on port {port}{shared}: {exc}", flush=True)
            return
        _server.append(server)
        print(f"Function metrics at http://127.0.0.1:{server.server_port}/metrics", flush=True)
