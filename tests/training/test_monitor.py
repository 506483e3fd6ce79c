"""Monitoring on a seeded set of closed tickets whose truth is known: every figure by hand."""

import json
from datetime import datetime, timezone

import pytest

from training.__main__ import main
from training.monitor import MONITOR_FILE, monitor, read_export, render_markdown

HOUR_MS = 3_600_000
NOV = int(datetime(2026, 11, 10, tzinfo=timezone.utc).timestamp() * 1000)
DEC = int(datetime(2026, 12, 1, tzinfo=timezone.utc).timestamp() * 1000)
NOW = datetime(2026, 12, 4, tzinfo=timezone.utc)


def _ticket(predicted, truth, created, hours, category, level="high", closed=True):
    scores = {p: 0.0 for p in ("P1", "P2", "P3", "P4")}
    scores[predicted] = 0.95
    scores["P4" if predicted != "P4" else "P3"] = 0.05
    ticket = {"subject": "s", "category": category, "created_at": created, "status": "new",
              "enrichment": {"priority": predicted, "priority_scores": scores,
                             "resolution_hours": {"p50": 10.0, "p90": 20.0}, "language": "en",
                             "confidence": {"priority": level, "resolution": "medium"},
                             "needs_review": False, "model_version": "v1"}}
    if closed:
        ticket["resolution"] = {"status": "solved", "final_priority": truth,
                                "solved_at": created + int(hours * HOUR_MS)}
    return ticket


def seeded() -> dict:
    """40 closed tickets: predicted P1 10 times (8 right, 2 were P2), P2 20 times (15 right,
    5 were P1), P3 10 times (all right); 30 solved in 8 h, 10 in 30 h (p50 10, p90 20). The
    first 20 were opened in November, billing; the other 20 in December, technical; plus 10
    open December billing tickets, one without enrichment and one that is not an object."""
    rows = ([("P1", "P1")] * 8 + [("P1", "P2")] * 2 + [("P2", "P2")] * 15 + [("P2", "P1")] * 5
            + [("P3", "P3")] * 10)
    tickets = {}
    for i, (predicted, truth) in enumerate(rows):
        november = i % 2 == 0
        tickets[f"-c{i:02d}"] = _ticket(
            predicted, truth, (NOV if november else DEC) + i * HOUR_MS, 30 if i % 4 == 1 else 8,
            "billing" if november else "technical", level="high" if predicted == "P3" else "medium")
    for i in range(10):
        tickets[f"-o{i:02d}"] = _ticket("P4", None, DEC + i, 0, "billing", closed=False)
    tickets["-n"] = {"subject": "not enriched yet", "created_at": DEC}
    tickets["-x"] = "not an object"
    return tickets


def test_per_class_precision_recall_and_calibration():
    report = monitor(seeded().items(), now=NOW)
    assert (report["tickets"], report["enriched"], report["closed"]) == (51, 50, 40)
    priority = report["priority"]
    assert priority["n"] == 40 and priority["accuracy"] == 0.825
    assert priority["per_class"]["P1"] == {"precision": 0.8, "recall": 0.6154, "predicted": 10,
                                           "support": 13}
    assert priority["per_class"]["P2"] == {"precision": 0.75, "recall": 0.8824, "predicted": 20,
                                           "support": 17}
    assert priority["per_class"]["P3"]["precision"] == priority["per_class"]["P3"]["recall"] == 1.0
    assert priority["per_class"]["P4"] == {"precision": None, "recall": None, "predicted": 0,
                                           "support": 0}
    assert priority["calibration"]["bins"] == [
        {"low": 0.9, "high": 1.0, "n": 40, "mean_probability": 0.95, "accuracy": 0.825}]
    assert priority["calibration"]["ece"] == pytest.approx(0.125)
    assert priority["by_confidence"] == {"high": {"n": 10, "accuracy": 1.0},
                                         "medium": {"n": 30, "accuracy": 0.7667}}


def test_p90_coverage_and_within_2x():
    resolution = monitor(seeded().items(), now=NOW)["resolution"]
    assert resolution["n"] == 40
    assert resolution["p90_coverage"] == resolution["within_2x"] == 0.75


def test_drift_of_the_input_mix_by_month():
    drift = monitor(seeded().items(), now=NOW)["drift"]
    assert list(drift["months"]) == ["2026-11", "2026-12"]
    assert drift["months"]["2026-11"]["category"] == {"billing": 1.0}
    assert drift["months"]["2026-12"]["n"] == 30
    assert drift["months"]["2026-12"]["category"] == {"billing": 0.3333, "technical": 0.6667}
    assert drift["last_vs_previous"]["category"] == pytest.approx(0.6667)
    assert drift["last_vs_previous"]["language"] == 0.0


def test_an_export_of_the_database_is_read_in_either_form(tmp_path):
    whole = tmp_path / "export.json"
    whole.write_text(json.dumps({"tickets": seeded(), "other": {}}))
    lines = tmp_path / "tickets.jsonl"
    lines.write_text("\n".join(json.dumps({"id": k, **v}) for k, v in seeded().items()
                               if isinstance(v, dict)))
    assert monitor(read_export(whole), NOW)["priority"] == monitor(seeded().items(), NOW)["priority"]
    assert monitor(read_export(lines), NOW)["priority"]["n"] == 40


def test_the_command_writes_json_markdown_plots_and_publishes(tmp_path, capsys):
    export = tmp_path / "export.json"
    export.write_text(json.dumps(seeded()))
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    assert main(["monitor", "--data", str(export), "--out", str(tmp_path / "out"),
                 "--publish", str(model_dir)]) == 0
    out = capsys.readouterr().out
    assert "priority on 40 closed: accuracy 0.825" in out
    for name in ("monitor.json", "monitor.md", "monitor_calibration.png", "monitor_drift.png"):
        assert (tmp_path / "out" / name).stat().st_size > 0
    published = json.loads((model_dir / MONITOR_FILE).read_text())
    assert published["priority"]["accuracy"] == 0.825
    markdown = (tmp_path / "out" / "monitor.md").read_text()
    assert "| P1 | 0.800 | 0.615 | 10 | 13 |" in markdown
    assert "p90 coverage 0.75" in markdown


def test_nothing_closed_yet_is_reported_plainly():
    report = monitor([("-a", {"subject": "x", "enrichment": {"priority": "P2"}})], NOW)
    assert report["priority"] == {"n": 0} and report["resolution"] == {"n": 0}
    assert "No closed ticket" in render_markdown(report)


def test_a_missing_export_is_a_clear_error(tmp_path, capsys):
    assert main(["monitor", "--data", str(tmp_path / "nope.json"), "--out", str(tmp_path)]) == 1
    assert 'Invalid export' in capsys.readouterr().err
