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


def test_the_function_variant_times_collections_over_its_state_as_loaded_and_frozen(tmp_path):
    run, result = run_bench("bench.gc_pauses", "--function", "--collections", "2",
                            out=tmp_path / "gc-function.json", timeout=180)
    loaded, frozen = result["rows"]
    assert (loaded["state"], frozen["state"]) == ("as loaded", "frozen by the warm-up")
    assert loaded["tracked"] > 20_000 and loaded["frozen"] == 0, loaded
    assert frozen["frozen"] > 20_000 and frozen["tracked"] < 1_000, frozen
    assert len(loaded["pauses_ms"]) == len(frozen["pauses_ms"]) == 2
    assert "full collections over it" in run.stdout
