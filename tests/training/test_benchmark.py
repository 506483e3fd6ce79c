"""The benchmark command: train on one file, evaluate on another, report beside baselines."""

import json
import random
from pathlib import Path

import pytest

from training.__main__ import main
from training.benchmark import METRICS_FILE, REPORT_FILE

DATASETS = Path(__file__).resolve().parents[3] / "shared" / "datasets"
SLICE_ROWS = 400


@pytest.fixture(scope="module")
def demo_split(demo_file, tmp_path_factory):
    """The small demo export split by time: first 1500 rows to train, last 500 to test."""
    lines = demo_file.read_text().splitlines(keepends=True)
    folder = tmp_path_factory.mktemp("split")
    (folder / "train.jsonl").write_text("".join(lines[:1500]))
    (folder / "test.jsonl").write_text("".join(lines[1500:]))
    return folder / "train.jsonl", folder / "test.jsonl"


def test_evaluate_writes_metrics_report_and_plots(demo_split, tmp_path, capsys):
    train, test = demo_split
    out = tmp_path / "bench"
    assert main(["evaluate", "--mapping", "native", "--train", str(train), "--test", str(test),
                 "--out", str(out), "--quiet", "--group-by", "type"]) == 0
    printed = capsys.readouterr().out
    assert "priority" in printed and "resolution" in printed
    doc = json.loads((out / METRICS_FILE).read_text())
    assert doc["test"]["report"]["rows_read"] == 500
    for head in ("priority", "sentiment"):
        assert [b["name"] for b in doc["plain"][head]][0] == "tfidf_logreg"
        assert doc["plain"][head][0]["params"]["folds"] == "time"  # Every demo row is timed.
        compared = doc["comparison"][head]
        low, high = compared["model"]["interval"]
        assert low <= compared["model"]["value"] <= high
        plain = compared["baselines"]["tfidf_logreg"]
        assert compared["model"]["value"] > plain["value"] - 0.05
        assert plain["verdict"] in ("better", "tie", "worse")
        assert doc["metrics"][head]["model"]["macro_f1"] > doc["metrics"][head]["baseline"]["macro_f1"]
    assert "[" in printed and "tfidf_logreg" in printed  # render_table: intervals, baselines
    res = doc["metrics"]["resolution"]
    assert res["model"]["log_mae"] < res["baseline"]["log_mae"]
    assert res["model"]["concordance"] > 0.6
    assert {g["value"] for g in doc["groups"]["rows"]} == {"issue", "request"}
    assert set(doc["plots"]) >= {"priority_confusion.png", "resolution_scatter.png"}
    assert all((out / name).read_bytes()[:4] == b"\x89PNG" for name in doc["plots"])
    assert (out / REPORT_FILE).read_text().startswith("# Benchmark: mapping `native`")


def test_heads_without_labels_are_skipped_not_fatal(demo_split, tmp_path):
    train, test = demo_split
    mapping = tmp_path / "sentiment-only.json"
    mapping.write_text(json.dumps({"fields": {"description": "description",
                                              "sentiment": "annotations.sentiment"}}))
    assert main(["evaluate", "--mapping", str(mapping), "--train", str(train), "--test", str(test),
                 "--out", str(tmp_path / "out"), "--quiet"]) == 0
    doc = json.loads((tmp_path / "out" / METRICS_FILE).read_text())
    assert doc["heads"] == {"priority": "prior", "sentiment": "model", "resolution": "constant"}
    assert doc["metrics"]["priority"]["n"] == 0 and doc["metrics"]["sentiment"]["n"] > 450


# name: (folder, file, mapping, the head it must train)
SHIPPED = {
    "twitter-airline": ("twitter-airline-sentiment", "Tweets_exact_ids_reduced_cols.csv", "sentiment"),
    "endava-urgency": ("endava-support-tickets", "all_tickets.csv", "priority"),
    "gitbugs-hadoop": ("gitbugs-hadoop", "hadoop_bugs.csv", "resolution"),
    "servicenow-incidents": ("servicenow-incident-log", "incidents_summary.csv", "resolution"),
}


@pytest.mark.parametrize("mapping", sorted(SHIPPED))
def test_shipped_mapping_runs_the_benchmark_on_a_slice_of_its_dataset(mapping, tmp_path):
    folder, file, head = SHIPPED[mapping]
    source = DATASETS / folder / file
    if not source.is_file():
        pytest.skip(f"{source} not found: the public datasets live in ../shared/datasets")
    import csv
    with open(source, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        rows, header = list(reader), reader.fieldnames
    rows = random.Random(7).sample(rows, 2 * SLICE_ROWS)  # Some files are sorted by a label.
    for name, part in (("train.csv", rows[:SLICE_ROWS]), ("test.csv", rows[SLICE_ROWS:])):
        with open(tmp_path / name, "w", encoding="utf-8", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=header)
            writer.writeheader()
            writer.writerows(part)
    assert main(["evaluate", "--mapping", mapping, "--train", str(tmp_path / "train.csv"),
                 "--test", str(tmp_path / "test.csv"), "--out", str(tmp_path / "out"),
                 "--quiet"]) == 0
    doc = json.loads((tmp_path / "out" / METRICS_FILE).read_text())
    assert doc["heads"][head] != {"priority": "prior", "sentiment": "lexicon",
                                  "resolution": "constant"}[head]
    assert doc["metrics"][head]["n"] > 0
