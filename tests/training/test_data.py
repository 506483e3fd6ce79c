"""Preparation masks, deduplicates and counts what it skips; splits are reproducible."""

import json

import pytest

from training.data import DataError, Example, prepare, read_records, split
from training.mapping import NATIVE, FieldMapping

HOUR = 3_600_000


def record(**overrides):
    base = {"subject": "Cannot log in", "description": "Mail me at anna@example.com",
            "category": "authentication", "type": "issue", "impact": 3, "created_at": 0,
            "resolution": {"priority": "P2", "solved_at": 5 * HOUR},
            "annotations": {"sentiment": "negative"}, "exported_at": 100 * HOUR}
    return {**base, **overrides}


def test_prepare_masks_text_and_computes_hours():
    dataset = prepare([record()], NATIVE)
    (example,) = dataset.examples
    assert example.ticket["description"] == "Mail me at [EMAIL]"
    assert "contact" not in example.ticket
    assert (example.priority, example.sentiment, example.hours, example.censored) == (
        "P2", "negative", 5.0, False)


def test_open_tickets_are_censored_at_the_export_time():
    (example,) = prepare([record(resolution={"priority": "P3"})], NATIVE).examples
    assert example.censored and example.hours == 100.0


def test_prepare_skips_and_counts_unusable_rows():
    rows = [record(), record(),  # duplicate input
            {"contact": {"name": "x"}},  # no input fields
            record(subject="other", resolution={}, annotations={}, created_at=None),  # no label
            record(subject="odd", resolution={"priority": "urgent!!"})]
    dataset = prepare(rows, NATIVE)
    assert len(dataset.examples) == 2
    assert dataset.report["rows_read"] == 5
    assert dataset.report["rows_skipped"] == {
        "duplicate input": 1, "no input fields": 1, "no label": 1}
    assert dataset.report["notes"] == {'priority: unknown value "urgent!!" ignored': 1}
    assert dataset.examples[1].priority is None and dataset.examples[1].censored


def test_resolution_hours_field_wins_and_negative_times_are_ignored():
    mapping = FieldMapping(name="m", fields={"subject": "s", "resolution_hours": "h"})
    examples = prepare([{"s": "a", "h": "7.5"}, {"s": "b", "h": "-1"}], mapping).examples
    assert examples[0].hours == 7.5
    assert len(examples) == 1


def test_read_records_reads_jsonl_and_csv(tmp_path):
    (tmp_path / "a.jsonl").write_text('{"x": 1}\n\n{"x": 2}\n')
    (tmp_path / "b.csv").write_text("x,y\n1,2\n")
    assert list(read_records(tmp_path / "a.jsonl")) == [{"x": 1}, {"x": 2}]
    assert list(read_records(tmp_path / "b.csv")) == [{"x": "1", "y": "2"}]


def test_json_lines_that_are_not_objects_are_counted_and_skipped(tmp_path):
    (tmp_path / "a.jsonl").write_text(json.dumps(record()) + '\nnull\n[1, 2]\n"text"\n')
    dataset = prepare(read_records(tmp_path / "a.jsonl"), NATIVE)
    assert dataset.report["rows_read"] == 4 and len(dataset.examples) == 1
    assert dataset.report["rows_skipped"] == {"not an object": 3}


def test_read_records_names_the_bad_line_and_the_bad_type(tmp_path):
    (tmp_path / "a.jsonl").write_text('{"x": 1}\n{oops\n')
    with pytest.raises(DataError, match="line 2"):
        list(read_records(tmp_path / "a.jsonl"))
    with pytest.raises(DataError, match=".jsonl or .csv"):
        list(read_records(tmp_path / "a.parquet"))


def _examples(n, with_time=True):
    return [Example({"subject": str(i)}, "P1", None, None, False, float(i) if with_time else None)
            for i in range(n)]


def test_time_split_puts_the_latest_tickets_in_test():
    train, val, test, method = split(list(reversed(_examples(100))), 1, 0.2, 0.1)
    assert method == "time"
    assert (len(train), len(val), len(test)) == (70, 10, 20)
    assert max(e.created_at for e in train) < min(e.created_at for e in val)
    assert max(e.created_at for e in val) < min(e.created_at for e in test)


def test_random_split_is_seeded():
    examples = _examples(100, with_time=False)
    first = split(examples, 5, 0.2, 0.1)
    assert first[3] == "random"
    assert first == split(examples, 5, 0.2, 0.1)
    assert first[2] != split(examples, 6, 0.2, 0.1)[2]


def test_unknown_split_method_is_refused():
    with pytest.raises(DataError, match="auto, time or random"):
        split(_examples(10), 1, 0.2, 0.1, method="stratified")
