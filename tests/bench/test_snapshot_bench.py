"""The snapshot benchmark still runs: a small tree, a short run, a snapshot replacing another while writes go on."""

from tests.bench.conftest import run_bench


def test_a_short_snapshot_benchmark_times_the_writes_made_during_a_snapshot(tmp_path):
    # A short log to replace: its cleanup is paced (store.SNAPSHOT_PACE), and writes must follow it within the run.
    # The snapshot starts 2 s in; its cleanup took up to 1.5 s while another test ran on the other core, so the
    # run lasts 6 s.
    run, result = run_bench("bench.snapshot", "--tickets", "2000", "--seconds", "6", "--runs", "1",
                            "--log-rows", "2000", out=tmp_path / "snapshot.json", timeout=180)
    assert result["benchmark"] == "snapshot" and result["tickets"] == 2000 and result["fsync_ms"]["p50"] > 0
    (row,) = result["rows"]
    assert row["writes"] == 1200 and 0 < row["snapshot_s"] < 3, row
    assert row["during_n"] > 0 and 0 < row["during_p50_ms"] <= row["during_p99_ms"] <= row["max_write_ms"], row
    assert 0 < row["before_p50_ms"] <= row["before_p99_ms"], row
    assert row["before_n"] + row["during_n"] + row["after_n"] == row["writes"], row
    assert row["after_n"] > 0 and 0 < row["after_p99_ms"] <= row["after_max_ms"] <= row["max_write_ms"], row
    slow = row["slow_from_snapshot_s_ms"]
    assert set(slow) == {"writes", "loop", "full_collections"}, slow
    assert all(ms > 50 for _, ms in slow["writes"] + slow["loop"]), slow
    assert "a snapshot meanwhile" in run.stdout
