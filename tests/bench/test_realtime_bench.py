"""The realtime benchmark still runs: a tiny run of REST and WebSocket writes and of both fan-outs, checked for
complete, sane figures."""

from tests.bench.conftest import run_bench


def test_a_short_realtime_benchmark_measures_both_transports(tmp_path):
    run, result = run_bench("bench.realtime", "--seconds", "0.2", "--clients", "1,2", "--window", "4",
                            "--listeners", "3", "--sse-streams", "3", "--fanout-writes", "5",
                            out=tmp_path / "realtime.json", timeout=60)
    assert result["benchmark"] == "realtime" and result["machine"]["speed_probe_ms"] > 0
    assert result["fsync_ms"]["p50"] > 0
    runs = {(r["transport"], r["mode"], r["clients"]): r for r in result["writes"]}
    assert set(runs) == {(t, m, c) for t, m in (("REST", "wait"), ("WebSocket", "wait"), ("WebSocket", "window 4"))
                         for c in (1, 2)}
    for key, row in runs.items():
        assert row["writes"] > 0 and row["writes_per_s"] > 0, key
        assert 0 < row["p50_ms"] <= row["p99_ms"] < 5000, key
        assert row["server_cpu_us"] >= 0 and row["client_cpu_us"] >= 0, key
    fans = {r["transport"]: r for r in result["fanout"]}
    assert set(fans) == {"WebSocket", "SSE"}
    for transport, row in fans.items():
        assert row["listeners"] == 3 and row["writes"] == 5, transport
        assert row["events"] == 15 and row["missing"] == 0 and "problems" not in row, row
        assert 0 < row["event_p50_ms"] <= row["event_p99_ms"] < 5000, row
    assert len(result["targets"]) == 2 and all(isinstance(t["met"], bool) for t in result["targets"])  # per count
    assert result["emulator_log_problems"] == [], result["emulator_log_problems"]
    assert "targets:" in run.stdout and "the speed probe takes" in run.stdout
