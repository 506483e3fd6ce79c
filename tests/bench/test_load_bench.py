"""The load benchmark still runs: it builds a data dir of a snapshot and a log of tickets, and times loads of it in
fresh processes."""

from tests.bench.conftest import run_bench


def test_the_load_benchmark_times_a_snapshot_and_a_log_of_tickets(tmp_path):
    run, result = run_bench("bench.load", "--tickets", "300", "--log-tickets", "0,200", "--runs", "2",
                            out=tmp_path / "load.json", timeout=120)
    first, second = result["rows"]
    assert (first["log_tickets"], first["log_rows"], first["log_mb"]) == (0, 0, 0)
    assert (second["log_tickets"], second["log_rows"]) == (200, 600)  # three rows a ticket: form, model, link
    assert 0.2 < first["snapshot_mb"] == second["snapshot_mb"] < 1 and 0.2 < second["log_mb"] < 1
    assert all(len(r["load_s"]) == 2 and 0 < r["load_median_s"] < 10 for r in result["rows"])
    assert result["machine"]["cpus"] >= 1 and "Loading a data dir" in run.stdout
