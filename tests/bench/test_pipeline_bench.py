"""The end-to-end benchmark still runs: a tiny run of each variant, checked for complete figures."""

import pytest

from bench.pipeline import jssdk_missing
from tests.bench.conftest import run_bench


def test_a_short_pipeline_benchmark_measures_every_stage(tmp_path):
    run, result = run_bench("bench.pipeline", "--seconds", "1", "--rates", "5", "--variants", "model,noop",
                            out=tmp_path / "pipeline.json", timeout=240)
    rows = {row["variant"]: row for row in result["rows"]}
    assert set(rows) == {"model", "noop"}
    for variant, row in rows.items():
        assert row["tickets"] == row["forwarded"] == 5, row
        for stage in ("delivery_ms", "read_ms", "write_back_ms", "handler_ms"):
            p50, p99 = (float(x) for x in row[stage].split(" / "))
            assert 0 <= p50 <= p99, (variant, stage, row[stage])
    # CPU times tick at 10 ms: five tickets of the model's function take two or more ticks, of the no-op's about one.
    assert rows["model"]["cpu_ms_per_ticket"]["enrich"] > 0
    assert float(rows["model"]["predict_ms"].split(" / ")[0]) > 0  # the real model runs
    assert rows["noop"]["predict_ms"].startswith("0.0")  # the no-op model costs nothing
    # The helpdesk call is timed inside the function: CPU times tick at 10 ms, too coarse for five tickets.
    assert float(rows["model"]["helpdesk_ms"].split(" / ")[0]) > 0  # the real helpdesk is called
    assert rows["noop"]["helpdesk_ms"].startswith("0.0")  # the no-op helpdesk costs nothing
    assert rows["noop"]["cpu_ms_per_ticket"]["helpdesk"] <= rows["model"]["cpu_ms_per_ticket"]["helpdesk"]
    assert all(row["load_generator_cpu_ms_per_ticket"] >= 0 for row in rows.values())
    assert "Inside the function" in run.stdout and "load generator" in run.stdout
    assert result["machine"]["speed_probe_ms"] > 0 and "the speed probe takes" in run.stdout


def test_tickets_written_by_the_js_sdk_go_through_the_pipeline(tmp_path):
    if jssdk_missing():
        pytest.skip(jssdk_missing())
    run, result = run_bench("bench.pipeline", "--seconds", "1", "--rates", "5", "--variants", "noop",
                            "--writer", "jssdk", out=tmp_path / "pipeline.json", timeout=240)
    assert result["writer"] == "jssdk"
    [row] = result["rows"]
    assert row["writer"] == "jssdk" and row["tickets"] == row["enriched"] == row["forwarded"] == 5, row
    p50, p99 = row["enrich_p50_ms"], row["enrich_p99_ms"]
    assert 0 < p50 <= p99 < 30_000, row  # send times from Node's clock and arrivals on Python's: one machine
    # The finished Node writer's CPU is the load generator's: starting Node and the SDK alone takes ticks.
    assert row["load_generator_cpu_ms_per_ticket"] > 0, row
