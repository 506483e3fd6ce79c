"""The garbage-collection pauses benchmark still runs: a small tree, a few thousand writes each way."""

from tests.bench.conftest import run_bench


def test_a_short_gc_pauses_benchmark_writes_with_and_without_the_policy(tmp_path):
    run, result = run_bench("bench.gc_pauses", "--tickets", "2000", "--writes", "2000",
                            out=tmp_path / "gc.json", timeout=180)
    assert result["benchmark"] == "gc_pauses" and result["writes"] == 2000
    assert [r["collector"] for r in result["rows"]] == ["as Python leaves it", "gcpolicy"]
    for row in result["rows"]:
        assert 0 < row["write_p50_ms"] <= row["write_p99_ms"] <= row["write_max_ms"], row
        assert row["full_collections"] == len(row["pauses_ms"]), row
    assert "full collections" in run.stdout
