"""Prometheus metrics of one emulator, served at `GET /metrics` on the database port.

Counts and latency histograms for requests, committed writes, open streams, event delivery
(delivered, retried, dead-lettered, pending), snapshots (completed, how long they took, the size of the one in
force and of the log since) and how late the event loop runs (`emulator.looplag`). Each server has its own
registry, so several emulators in one process (tests) do not mix their numbers.
"""

import time

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Metrics:
    """The emulator's metrics; wire with `attach(server)`."""

    def __init__(self):
        self.registry = r = CollectorRegistry()
        self.requests = Counter("rtdb_http_requests", "HTTP requests by method and status", ["method", "status"], registry=r)
        self.request_seconds = Histogram("rtdb_http_request_seconds", "HTTP request latency (streams excluded)",
                                         ["method"], buckets=_LATENCY_BUCKETS, registry=r)
        self.writes = Counter("rtdb_writes", "Writes committed durably, by kind", ["kind"], registry=r)
        self.commit_seconds = Histogram("rtdb_write_commit_seconds", "From apply to durable commit",
                                        buckets=_LATENCY_BUCKETS, registry=r)
        self.streams = Gauge("rtdb_streams_open", "Open listeners: SSE streams and WebSocket listens", registry=r)
        self.realtime = Gauge("rtdb_realtime_connections", "Open realtime-protocol (WebSocket) connections", registry=r)
        self.events_recorded = Counter("rtdb_events_recorded", "CloudEvents written to the outbox", registry=r)
        self.events_delivered = Counter("rtdb_events_delivered", "CloudEvents a function acknowledged", registry=r)
        self.events_retried = Counter("rtdb_events_retried", "Failed delivery attempts that will be retried", registry=r)
        self.events_dead = Counter("rtdb_events_dead_lettered", "Events that ran out of attempts", registry=r)
        self.delivery_seconds = Histogram("rtdb_event_delivery_seconds", "From commit to acknowledgement by the function",
                                          buckets=_LATENCY_BUCKETS, registry=r)
        self.outbox_pending = Gauge("rtdb_outbox_pending", "Events waiting for delivery (not dead)", registry=r)
        self.snapshots = Counter("rtdb_snapshots", "Snapshots completed (each replaces the log before it)", registry=r)
        self.snapshot_seconds = Histogram("rtdb_snapshot_seconds", "From a snapshot's start to its completion",
                                          buckets=_LATENCY_BUCKETS, registry=r)
        self.snapshot_bytes = Gauge("rtdb_snapshot_bytes", "Size of the snapshot in force", registry=r)
        self.loop_lag = Histogram("rtdb_event_loop_lag_seconds", "How late the event loop woke for a 100 ms sleep",
                                  buckets=_LATENCY_BUCKETS, registry=r)
        self.log_bytes = Gauge("rtdb_log_bytes", "Bytes logged since the snapshot in force or under way began",
                               registry=r)

    def attach(self, server) -> None:
        """Subscribe to the server's store, streams and delivery."""
        applied: dict[int, float] = {}
        db, delivery, registry = server.db, server.delivery, server.registry

        def on_write(change, _root):
            applied[id(change)] = time.perf_counter()
            return None

        def on_commit(change):
            started = applied.pop(id(change), None)
            if started is not None:
                self.commit_seconds.observe(time.perf_counter() - started)
            self.writes.labels(change.kind).inc()
            if change.outbox:
                self.events_recorded.inc(len(change.outbox))

        db.write_hooks.insert(0, on_write)
        db.commit_hooks.append(on_commit)
        self.streams.set_function(lambda: len(registry))
        self.realtime.set_function(lambda: len(server.realtime.connections) if server.realtime is not None else 0)
        self.outbox_pending.set_function(lambda: delivery.pending)
        self.snapshot_bytes.set_function(lambda: db.snapshot_bytes)
        self.log_bytes.set_function(lambda: db.logged_bytes)

        def on_snapshot(seconds, _nbytes):
            self.snapshots.inc()
            self.snapshot_seconds.observe(seconds)

        db.snapshot_hooks.append(on_snapshot)
        delivery.observer = self

    @web.middleware
    async def middleware(self, request, handler):
        started = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            # A stream's or a WebSocket's handler lasts as long as it does: keep it out of the latency.
            if request.path not in ("/metrics", "/.ws") and "text/event-stream" not in request.headers.get("Accept", ""):
                self.requests.labels(request.method, str(status)).inc()
                self.request_seconds.labels(request.method).observe(time.perf_counter() - started)

    async def handle(self, _request) -> web.Response:
        body = generate_latest(self.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
