"""The end-to-end benchmark still runs: a tiny run of each variant, checked for complete figures."""

import pytest

from bench.pipeline import jssdk_missing, ticket
from bench.texts import MAX_CHARS, REAL_MEDIAN_CHARS, REAL_P90_CHARS
from tests.bench.conftest import run_bench


def test_a_short_pipeline_benchmark_measures_every_stage(tmp_path):
    run, result = run_bench("bench.pipeline", "--seconds", "1", "--rates", "5", "--variants", "model,noop",
                            "--text", "real", out=tmp_path / "pipeline.json", timeout=240)
    assert result["text"] == "real"
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


def test_real_length_tickets_follow_real_helpdesk_mail():
    lengths = sorted(len(ticket(i, "real")["description"]) for i in range(4000))
    assert 0.8 * REAL_MEDIAN_CHARS <= lengths[2000] <= 1.2 * REAL_MEDIAN_CHARS
    assert 0.8 * REAL_P90_CHARS <= lengths[3600] <= 1.2 * REAL_P90_CHARS
    assert 1 <= lengths[0] and lengths[-1] <= MAX_CHARS  # the rules' limits
    assert ticket(7, "real") == ticket(7, "real")  # seeded by the ticket's number
    short = ticket(7)
    assert short["description"] in ("Production is down for all users, please help now.",
                                    "A small question about an invoice line, no rush.",
                                    "Pages take thirty seconds to load since the update.")
    assert {k: v for k, v in ticket(7, "real").items() if k != "description"} == {
        k: v for k, v in short.items() if k != "description"}
