"""The fault benchmark still runs: a small burst through two of its scenarios, checked for exactly-once figures."""

import subprocess

from stack.procs import PYTHON, ROOT
from tests.bench.conftest import run_bench


def test_a_short_fault_benchmark_loses_nothing_and_duplicates_nothing(tmp_path):
    # Paced over two seconds: at full speed forty tickets can all be acknowledged before the kill at their middle.
    run, result = run_bench("bench.faults", "--tickets", "40", "--rate", "20", "--only", "emulator-kill",
                            "helpdesk-500", out=tmp_path / "faults.json", timeout=120)
    assert result["machine"]["cpus"] and result["failed"] == [] and result["rate"] == 20
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


def test_a_rate_that_is_not_a_positive_number_is_refused(tmp_path):
    for rate in ("0", "-5", "fast", "inf"):
        run = subprocess.run([PYTHON, "-m", "bench.faults", "--tickets", "10", "--rate", rate, "--out",
                              str(tmp_path / "faults.json")], cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert run.returncode == 2 and f"invalid --rate {rate!r}" in run.stderr, run.stderr
    assert not (tmp_path / "faults.json").exists()
