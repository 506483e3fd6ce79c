"""The soak benchmark still runs: a half-minute soak counts every ticket and finds none lost or duplicated, here
over stored tickets (`--stored`), which the stack loads and the soak's counts leave out."""

import http.server
import json
import threading
import time

import pytest

from bench.report import histogram, window_quantile
from bench.soak import STAGES, Submitter, TicketStream, cpu_per_ticket, metric, stage_window
from tests.bench.conftest import run_bench

COUNTS = ("submitted", "enriched", "forwarded", "duplicates", "dead_letters", "events_retried", "outbox_pending",
          "snapshots")


def test_a_short_soak_counts_every_ticket_and_loses_none(tmp_path):
    run, result = run_bench("bench.soak", "--minutes", "0.5", "--rate", "5", "--every", "10", "--stored", "500",
                            out=tmp_path / "soak.json", timeout=150)
    samples, totals = result["samples"], result["totals"]
    assert len(samples) == 3
    for s in samples:
        assert all(isinstance(s[key], int) for key in COUNTS), s
        assert s["enriched"] <= s["submitted"] and s["forwarded"] <= s["submitted"], s
        assert s["database"]["rss_mb"] > 0 and s["enrich"]["fds"] > 0 and s["enrich"]["cpu_s"] > 0, s
        assert s["log_mb"] > 0 and s["snapshots"] == 0, s  # the stored tickets' 0.9 MB and more: under the minimum
    assert [s["submitted"] for s in samples] == sorted(s["submitted"] for s in samples)
    assert samples[-1]["submitted"] >= 100  # 5/s for 30 s, give or take the machine's load
    assert samples[-1]["enrich_p50_ms"] <= samples[-1]["enrich_p99_ms"]
    assert totals["lost"] == 0 and totals["duplicates"] == 0, totals
    assert totals["submitted"] == totals["enriched"] == totals["forwarded"] == totals["helpdesk_tickets"], totals
    assert totals["dead_letters"] == 0, totals
    assert isinstance(totals["emulator_warnings"], list) and totals["load_started"][:2] == "20", totals
    # The stored tickets were loaded by the stack, and only the soak's own were watched and counted.
    assert totals["stored_before"]["loaded"] == 500 and totals["stored"] == totals["submitted"], totals
    assert set(result["summary"]) == {"database", "webhook", "helpdesk", "enrich"}
    # Each window says where its time went: every stage saw observations, in order of their percentiles.
    for s in samples:
        assert set(s["stages"]) == {stage for stage, _, _ in STAGES}, s
        for stage, figures in s["stages"].items():
            assert figures["n"] > 0 and 0 < figures["p50_ms"] <= float(figures["p99_ms"]), (stage, figures)
    assert "Where the time went" in run.stdout
    assert "lost 0, duplicates 0" in run.stdout


def test_the_stream_notes_enrichment_and_link_however_they_are_written():
    stream = TicketStream("http://unused")
    stream._on("put", {"path": "/", "data": {"a": {"subject": "x", "enrichment": {"priority": "p2"}}}}, 1.0)
    stream._on("patch", {"path": "/b", "data": {"enrichment": {"priority": "p1"}, "enrichment_error": None}}, 2.0)
    stream._on("patch", {"path": "/", "data": {"a/helpdesk": {"id": 1}, "c/enrichment": None}}, 3.0)
    stream._on("put", {"path": "/b/helpdesk", "data": {"id": 2}}, 4.0)
    assert stream.first_seen == {"enrichment": {"a": 1.0, "b": 2.0}, "helpdesk": {"a": 3.0, "b": 4.0}}
    assert stream.counts(["a", "b", "c"]) == {"enrichment": 2, "helpdesk": 2}


def test_metric_sums_labels_and_refuses_a_missing_name():
    text = 'rtdb_outbox_pending 3.0\nx_total{kind="a"} 2.0\nx_total{kind="b"} 1.0\nx_total_more 9\n'
    assert metric(text, "rtdb_outbox_pending") == 3 and metric(text, "x_total") == 3
    with pytest.raises(KeyError):
        metric(text, "rtdb_events_retried_total")


def test_cpu_per_ticket_is_each_windows_cpu_over_its_tickets():
    samples = [{"submitted": 0, "a": {"cpu_s": 1.0}, "soak_cpu_s": 0.5},
               {"submitted": 100, "a": {"cpu_s": 1.7}, "soak_cpu_s": 0.6},
               {"submitted": 300, "a": {"cpu_s": 2.5}, "soak_cpu_s": 1.0}]
    assert cpu_per_ticket(samples, ["a"]) == [{}, {"a_cpu": 7.0, "soak_cpu": 1.0}, {"a_cpu": 4.0, "soak_cpu": 2.0}]


def test_a_histograms_window_quantiles_come_from_what_it_gained_in_the_window():
    page = ('# TYPE h histogram\nh_bucket{le="0.01",m="GET"} 5.0\nh_bucket{le="0.1",m="GET"} 9.0\n'
            'h_bucket{le="+Inf",m="GET"} 10.0\nh_count{m="GET"} 10.0\nh_sum{m="GET"} 0.5\n'
            'h_bucket{le="0.01",m="PUT"} 1.0\nh_bucket{le="0.1",m="PUT"} 1.0\nh_bucket{le="+Inf",m="PUT"} 1.0\n'
            'h_count{m="PUT"} 1.0\nh_sum{m="PUT"} 0.001\n')
    before = histogram(page, "h")
    assert before == {0.01: 6.0, 0.1: 10.0, float("inf"): 11.0}
    # 100 more, all between 10 and 100 ms: the window's p50 and p99 are there, whatever came before.
    after = {0.01: 6.0, 0.1: 110.0, float("inf"): 111.0}
    assert window_quantile(before, after, 50) == 0.1 and window_quantile(before, after, 99) == 0.1
    after = {0.01: 56.0, 0.1: 106.0, float("inf"): 111.0}  # 50 fast, 50 middling, 5 slow
    assert window_quantile(before, after, 50) == 0.01 and window_quantile(before, after, 99) == float("inf")
    assert window_quantile(before, before, 99) is None
    with pytest.raises(KeyError):
        histogram(page, "other")
    window = stage_window({"x": before}, {"x": after})
    assert window == {"x": {"n": 100, "p50_ms": 10.0, "p99_ms": "inf"}}


class _SlowDatabase(http.server.ThreadingHTTPServer):
    """Answers each POST a push id after half a second, counting the POSTs it has received."""

    def __init__(self):
        self.received = 0
        lock = threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(handler):
                handler.rfile.read(int(handler.headers["Content-Length"]))
                with lock:
                    self.received += 1
                    name = f"-key{self.received:04d}"
                time.sleep(0.5)
                body = json.dumps({"name": name}).encode()
                handler.send_response(200)
                handler.send_header("Content-Type", "application/json")
                handler.send_header("Content-Length", str(len(body)))
                handler.end_headers()
                handler.wfile.write(body)

            def log_message(handler, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)


def test_the_submitter_sends_on_time_however_slowly_the_database_answers():
    database = _SlowDatabase()
    threading.Thread(target=database.serve_forever, daemon=True).start()
    try:
        submitter = Submitter(f"http://127.0.0.1:{database.server_port}", rate=20).start()
        time.sleep(1.2)
        # 20 a second, each answered after 0.5 s: one after another would have sent 3 by now.
        assert database.received >= 18, database.received
        submitter.join()
        assert len(submitter.sent) == database.received and submitter.errors == 0
        assert all(key.startswith("-key") for key in submitter.sent)
    finally:
        database.shutdown()
        database.server_close()
