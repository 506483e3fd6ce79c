"""The latest monitoring figures, published beside the bundle, appear as gauges on /metrics."""

import json
import os

from prometheus_client import CollectorRegistry, generate_latest

from enrichment.metrics import MONITOR_FILE, MonitorGauges

REPORT = {"closed": 40,
          "priority": {"accuracy": 0.825, "macro_f1": 0.8, "calibration": {"ece": 0.125},
                       "per_class": {"P1": {"precision": 0.8, "recall": 0.6154},
                                     "P4": {"precision": None, "recall": None}}},
          "resolution": {"p90_coverage": 0.75, "within_2x": 0.75},
          "drift": {"last_vs_previous": {"months": ["2026-11", "2026-12"], "category": 0.6667}}}


def _scrape(gauges: MonitorGauges) -> str:
    registry = CollectorRegistry()
    registry.register(gauges)
    return generate_latest(registry).decode()


def test_the_published_report_becomes_gauges(tmp_path):
    gauges = MonitorGauges()
    gauges.watch(tmp_path)
    assert "enrich_monitor_priority_accuracy" not in _scrape(gauges)  # nothing published yet
    (tmp_path / MONITOR_FILE).write_text(json.dumps(REPORT))
    text = _scrape(gauges)
    assert "enrich_monitor_priority_accuracy 0.825" in text
    assert 'enrich_monitor_priority_precision{priority="P1"} 0.8' in text
    assert 'enrich_monitor_priority_recall{priority="P1"} 0.6154' in text
    assert 'priority="P4"' not in text
    assert "enrich_monitor_resolution_p90_coverage 0.75" in text
    assert 'enrich_monitor_drift{field="category"} 0.6667' in text
    assert "enrich_monitor_closed_tickets 40.0" in text


def test_a_new_report_is_read_when_it_changes_and_a_broken_one_shows_nothing(tmp_path):
    gauges = MonitorGauges()
    gauges.watch(tmp_path)
    path = tmp_path / MONITOR_FILE
    path.write_text(json.dumps(REPORT))
    assert "enrich_monitor_priority_accuracy 0.825" in _scrape(gauges)
    path.write_text(json.dumps({**REPORT, "priority": {**REPORT["priority"], "accuracy": 0.5}}))
    os.utime(path, ns=(1, 1))  # A different mtime, whatever the clock's resolution.
    assert "enrich_monitor_priority_accuracy 0.5" in _scrape(gauges)
    path.write_text("{not json")
    os.utime(path, ns=(2, 2))
    assert "enrich_monitor_priority_accuracy" not in _scrape(gauges)
