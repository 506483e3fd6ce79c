"""The fault benchmark still runs: a small burst through two of its scenarios, checked for exactly-once figures."""

from tests.bench.conftest import run_bench


def test_a_short_fault_benchmark_loses_nothing_and_duplicates_nothing(tmp_path):
    run, result = run_bench("bench.faults", "--tickets", "40", "--only", "emulator-kill", "helpdesk-500",
                            out=tmp_path / "faults.json", timeout=120)
    assert result["machine"]["cpus"] and result["failed"] == []
    rows = {row["scenario"]: row for row in result["scenarios"]}
    assert set(rows) == {"emulator-kill", "helpdesk-500"}
    for name, row in rows.items():
        assert row["result"] == "ok" and row["problems"] == [], row
        assert row["lost"] == 0 and row["duplicates"] == 0, row
        assert row["acknowledged"] == 40 and row["forwarded"] == row["in_database"] >= 40, row
        assert row["burst_s"] > 0 and row["recovery_s"] is not None, row
    assert rows["emulator-kill"]["submit_retries"] > 0  # the customers saw the outage
    assert rows["helpdesk-500"]["events_retried"] > 0  # delivery retried the failed helpdesk calls
    assert "exactly once?" in run.stdout
