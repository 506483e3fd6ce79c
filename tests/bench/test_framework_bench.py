"""The function's per-event floor benchmark still runs, and its skip variant really skips."""

from tests.bench.conftest import run_bench


def test_a_short_framework_benchmark_measures_every_server(tmp_path):
    # bench.framework itself refuses to save figures unless enrich_ticket's /metrics counted every event sent
    # to it (the warm-up's included) as skipped_inputs_unchanged.
    run, result = run_bench("bench.framework", "--events", "100", "--rounds", "2", out=tmp_path / "framework.json",
                            timeout=180)
    rows = {row["variant"]: row for row in result["rows"]}
    assert set(rows) == {"empty", "empty_async", "skip"}
    for row in rows.values():
        assert row["events"] == 200 and len(row["cpu_us_per_event"]) == 2, row
        # CPU times tick at 10 ms; a hundred events through gunicorn and Flask or uvicorn take several ticks.
        assert row["median_us"] > 0, row
    assert result["machine"]["speed_probe_ms"] > 0 and "the speed probe takes" in run.stdout.lower()


def test_bad_counts_are_refused(tmp_path):
    import subprocess

    from stack.procs import PYTHON, ROOT
    run = subprocess.run([PYTHON, "-m", "bench.framework", "--events", "0", "--out", str(tmp_path / "f.json")],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "--events and --rounds must be at least 1, got 0 and 3" in run.stderr
    assert not (tmp_path / "f.json").exists()
