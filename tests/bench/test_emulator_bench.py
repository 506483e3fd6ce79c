"""The emulator benchmark still runs: a tiny run of writes, reads under writes and a fan-out, checked for sane
figures."""

from tests.bench.conftest import run_bench


def test_a_short_emulator_benchmark_measures_writes_reads_and_fanout(tmp_path):
    run, result = run_bench("bench.emulator", "--seconds", "0.3", "--fanout-writes", "3", "--streams", "4",
                            out=tmp_path / "emulator.json", timeout=120)
    assert result["benchmark"] == "emulator" and result["fsync_ms"]["p50"] > 0
    assert [r["clients"] for r in result["writes"]] == [1, 8, 32]
    assert all(r["writes"] > 0 and 0 < r["p50_ms"] <= r["p99_ms"] for r in result["writes"])
    reads = {r["writers"]: r for r in result["reads_under_writes"]}
    assert set(reads) == {0, 8}
    assert all(r["reads"] > 0 and 0 < r["read_p50_ms"] <= r["read_p99_ms"] < 5000 for r in reads.values()), reads
    (fan,) = result["fanout"]
    assert fan["streams"] == 4 and fan["writes"] == 3 and fan["events"] == 12, fan
    assert "Reads of one location while other clients write elsewhere" in run.stdout
