"""Mappings turn any export's columns into canonical fields."""

import json

import pytest

from training.mapping import NATIVE, FieldMapping, MappingError, load_mapping, parse_time


def test_native_mapping_reads_a_database_ticket_with_its_outcome():
    record = {"id": "t1", "subject": "s", "description": "d", "category": "billing", "impact": 2,
              "created_at": 1000, "resolution": {"priority": "P2", "solved_at": 3_601_000},
              "annotations": {"sentiment": "neutral"}, "exported_at": 9_000_000}
    row = NATIVE.apply(record)
    assert row["priority"] == "P2" and row["sentiment"] == "neutral"
    assert row["solved_at"] == 3_601_000 and row["created_at"] == 1000
    assert row["type"] is None and row["resolution_hours"] is None


def test_a_json_mapping_translates_values_times_constants_and_missing(tmp_path):
    path = tmp_path / "jira.json"
    path.write_text(json.dumps({
        "name": "jira",
        "fields": {"subject": "Summary", "priority": "Priority", "created_at": "Created",
                   "solved_at": "Resolved", "observed_at": {"const": "2024-12-31T00:00:00Z"},
                   "category": {"const": "technical"}},
        "values": {"priority": {"Blocker": "P1", "Major": "P2"}},
        "timestamp_format": "%d/%b/%y %H:%M",
        "missing": ["", "?"],
    }))
    mapping = load_mapping(path)
    row = mapping.apply({"Summary": "Crash", "Priority": "Blocker", "Created": "30/Sep/21 17:20",
                         "Resolved": "?"})
    assert row["subject"] == "Crash" and row["priority"] == "P1" and row["category"] == "technical"
    assert row["created_at"] == parse_time("2021-09-30T17:20:00+00:00", "iso")
    assert row["solved_at"] is None
    assert row["observed_at"] == parse_time("2024-12-31T00:00:00Z", "iso")


def test_builtin_mapping_by_name():
    assert load_mapping("native") is NATIVE


def test_unknown_mapping_name_says_what_is_expected():
    with pytest.raises(MappingError, match="built-in name"):
        load_mapping("no-such-mapping")


@pytest.mark.parametrize("fields, match", [
    ({"urgency": "x"}, "unknown fields"),
    ({"subject": 3}, "Expected a source path"),
    ({"subject": {"path": "x"}}, "Expected a source path"),
])
def test_invalid_mappings_are_refused(fields, match):
    with pytest.raises(MappingError, match=match):
        FieldMapping(name="bad", fields=fields)


@pytest.mark.parametrize("value, fmt, expected", [
    (1000, "epoch_ms", 1000.0), ("2", "epoch_s", 2000.0), ("1970-01-01T00:00:01Z", "iso", 1000.0),
    ("garbage", "iso", None), (None, "epoch_ms", None), ("nan", "epoch_ms", None),
])
def test_parse_time(value, fmt, expected):
    assert parse_time(value, fmt) == expected


def test_attributes_are_collected_under_attributes():
    from training.mapping import FieldMapping
    mapping = FieldMapping(name="m", fields={"attributes.site": "loc", "attributes.code": "c"},
                           missing=("", "?"))
    row = mapping.apply({"loc": "Berlin", "c": "?"})
    assert row["attributes"] == {"code": None, "site": "Berlin"}
    assert "attributes.site" not in row
    assert FieldMapping(name="m", fields={}).apply({})["attributes"] is None


def test_the_four_dataset_mappings_ship_and_load_by_name():
    from training.mapping import load_mapping, shipped_mappings
    assert shipped_mappings() == ["endava-urgency", "gitbugs-hadoop", "servicenow-incidents",
                                  "twitter-airline"]
    for name in shipped_mappings():
        assert load_mapping(name).name == name


def test_leaky_columns_are_not_mapped():
    from training.mapping import load_mapping
    servicenow = set(load_mapping("servicenow-incidents").fields.values())
    assert not servicenow & {"priority", "impact", "urgency", "reassignment_count", "sys_mod_count",
                             "reopen_count", "n_events", "assignment_group", "made_sla",
                             "closed_code", "hours_to_close", "resolved_at", "closed_at"}
    assert "negativereason" not in load_mapping("twitter-airline").fields.values()
