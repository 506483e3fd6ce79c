"""bench.models: the random and time splits, the targets' verdicts and the table."""

import csv

from bench.models import ROOT, _by_text, _latency_tickets, _table, judge, split_file
from bench.texts import MAX_CHARS, run_together


def _write(path, rows):
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["Issue id", "Summary", "Description", "Priority",
                                               "Created", "Resolved"])
        writer.writeheader()
        writer.writerows(rows)


def _rows(n, timed=True):
    return [{"Issue id": str(i), "Summary": f"bug {i}", "Description": "it fails",
             "Priority": "Major", "Resolved": "",
             "Created": f"{1 + (i * 7) % 28:02d}/Jan/21 10:00" if timed or i % 2 else ""}
            for i in range(n)]


def _ids(path):
    with open(path, encoding="utf-8", newline="") as f:
        return [int(r["Issue id"]) for r in csv.DictReader(f)]


def test_time_split_tests_on_the_newest_fifth_and_random_on_a_seeded_fifth(tmp_path):
    source = tmp_path / "bugs.csv"
    _write(source, _rows(50))
    day = {i: 1 + (i * 7) % 28 for i in range(50)}
    train, test = split_file(source, "gitbugs-hadoop", tmp_path, "time")
    train_ids, test_ids = _ids(train), _ids(test)
    assert len(test_ids) == 10 and sorted(train_ids + test_ids) == list(range(50))
    assert max(day[i] for i in train_ids) <= min(day[i] for i in test_ids)
    (tmp_path / "r").mkdir()
    train, test = split_file(source, "gitbugs-hadoop", tmp_path / "r", "random")
    random_test = _ids(test)
    assert len(random_test) == 10 and sorted(_ids(train) + random_test) == list(range(50))
    assert random_test != test_ids
    (tmp_path / "again").mkdir()
    assert _ids(split_file(source, "gitbugs-hadoop", tmp_path / "again", "random")[1]) == random_test


def test_no_time_split_when_a_row_has_no_time(tmp_path):
    source = tmp_path / "bugs.csv"
    _write(source, _rows(20, timed=False))
    assert split_file(source, "gitbugs-hadoop", tmp_path, "time") is None
    assert split_file(source, "gitbugs-hadoop", tmp_path, "random") is not None


def test_targets_are_judged_and_shown_in_the_table():
    row = {"metric": "log_mae", "n": 100, "model": 1.2, "interval": [1.1, 1.3], "naive": 2.0,
           "within_2x": 0.3, "p90_coverage": 0.9, "verdict": "better",
           "baselines": {"fields_gbm": {"value": 1.4, "interval": [1.3, 1.5]},
                         "tfidf_ridge": {"value": 1.6, "interval": [1.5, 1.7]}}}
    verdicts = judge(row, [("log_mae", "<=", 1.10), ("within_2x", ">=", 0.40),
                           ("p90_coverage", "in", [0.85, 0.95])])
    assert [v["met"] for v in verdicts] == [False, False, True]
    assert judge(None, [("macro_f1", ">=", 0.8)])[0]["met"] is None
    table = _table({"servicenow": {"time": {"figures": {"resolution": row},
                                            "targets": {"resolution": verdicts}}}})
    assert "fields_gbm 1.400 [1.300, 1.500]" in table  # The best baseline: lowest error.
    assert "log_mae <=1.1 MISSED" in table and "p90_coverage 0.85-0.95 met" in table


def test_serving_latency_is_measured_on_tickets_as_long_as_real_ones():
    import random

    from ticketml.bundle import load_bundle

    tickets = _latency_tickets()[:4]
    figures = _by_text(load_bundle(ROOT / "model"), tickets)
    assert list(figures) == ["demo", "real_mail", "2000_chars", "5000_chars"]
    assert all(f["n"] == 4 and 0 < f["p50"] <= f["p99"] <= f["max"] for f in figures.values()), figures
    pool = [t["description"] for t in tickets]
    text = run_together(pool, MAX_CHARS, random.Random(1))
    assert MAX_CHARS - max(map(len, pool)) <= len(text) <= MAX_CHARS and not text.endswith(" ")
