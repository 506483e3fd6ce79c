"""Model benchmark: quality on the four public datasets, plus serving and training cost.

Run: ``python -m bench.models [--only NAME ...] [--splits random time] [--skip-cost]
[--serving-only]``. For each dataset in ``../shared/datasets`` and each split it writes a
train and a test file into a temporary directory (``random``: a seeded 20% is the test file;
``time``: the newest 20% by the mapping's ``created_at``, where every row has one), runs the
benchmark command ``python -m training evaluate`` on them with the shipped mapping, and
collects the figures: every head beside the plain baselines (``training.baselines``), each
with a seeded bootstrap 95% interval, and the verdict of the paired difference.
Then it measures the shipped bundle (size, load time, one-ticket latency through all three
heads, and in fresh processes the import of ``ticketml.bundle`` and the first load) and
training on 100k demo tickets (wall time and peak memory, in a child process).
Prints a table and saves ``bench/results/models.json`` (``--serving-only``: only the bundle,
saved in ``models-serving.json``); reports land in
``bench/results/models/<dataset>/<split>/`` (report.md, metrics.json, PNGs).
Datasets are read from where they are and never copied into the repository; without them
the quality part is skipped with a message.
"""

import argparse
import csv
import json
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from bench.texts import MAX_CHARS, real_length, run_together

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"
RESULTS = ROOT / "bench" / "results"
TEST_SHARE = 0.2
SEED = 7
SPLITS = ("random", "time")

# name: (folder, file, mapping, extra evaluate options, targets: head -> [(metric, op, value)])
BENCHMARKS = {
    "twitter-airline": ("twitter-airline-sentiment", "Tweets_exact_ids_reduced_cols.csv",
                        "twitter-airline", [], {"sentiment": [("macro_f1", ">=", 0.80)]}),
    "endava-urgency": ("endava-support-tickets", "all_tickets.csv", "endava-urgency",
                       ["--group-by", "type"], {"priority": [("macro_f1", ">=", 0.65)]}),
    "gitbugs-hadoop": ("gitbugs-hadoop", "hadoop_bugs.csv", "gitbugs-hadoop", [],
                       {"priority": [("macro_f1", ">=", 0.45)],
                        "resolution": [("log_mae", "<=", 1.55)]}),
    "servicenow-incidents": ("servicenow-incident-log", "incidents_summary.csv",
                             "servicenow-incidents", ["--recency-half-life-days", "14"],
                             {"resolution": [("log_mae", "<=", 1.10), ("within_2x", ">=", 0.40),
                                             ("p90_coverage", "in", [0.85, 0.95])]}),
}
DEMO_N = 100_000
LATENCY_TICKETS = 2_000


def split_file(source: Path, mapping_name: str, out_dir: Path,
               method: str) -> tuple[Path, Path] | None:
    """Write ``train.csv`` and ``test.csv`` from ``source``: the newest 20% as the test file
    (``method="time"``, by the mapping's ``created_at``) or a seeded random 20% (``random``).
    Returns None for a time split of a file whose rows are not all timestamped."""
    from training.mapping import load_mapping

    mapping = load_mapping(mapping_name)
    with open(source, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        header, rows = reader.fieldnames, list(reader)
    order = list(range(len(rows)))
    random.Random(SEED).shuffle(order)
    if method == "time":
        times = [mapping.apply(r)["created_at"] for r in rows]
        if not all(t is not None for t in times):
            return None
        order.sort(key=lambda i: times[i])
    n_test = round(len(rows) * TEST_SHARE)
    paths = out_dir / "train.csv", out_dir / "test.csv"
    for path, idx in zip(paths, (order[:-n_test], order[-n_test:])):
        with open(path, "w", encoding="utf-8", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=header)
            writer.writeheader()
            writer.writerows(rows[i] for i in idx)
    return paths


def quality(names: list[str], splits: list[str]) -> dict:
    """Run the benchmark command on each dataset and split; returns {name: {split: result}}."""
    from training.__main__ import main as training_main
    from training.benchmark import headline

    results = {}
    for name in names:
        folder, file, mapping, options, targets = BENCHMARKS[name]
        source = DATASETS / folder / file
        if not source.is_file():
            print(f"skip {name}: {source} not found (the datasets live in ../shared/datasets)")
            continue
        results[name] = {}
        for method in splits:
            out = RESULTS / "models" / name / method
            with tempfile.TemporaryDirectory() as tmp:
                paths = split_file(source, mapping, Path(tmp), method)
                if paths is None:
                    print(f"skip {name} {method} split: not every row has a timestamp")
                    continue
                started = time.perf_counter()
                argv = ["evaluate", "--mapping", mapping, "--train", str(paths[0]),
                        "--test", str(paths[1]), "--out", str(out), "--seed", str(SEED),
                        "--split", method, "--quiet", *options]
                if training_main(argv) != 0:
                    raise SystemExit(f"benchmark {name} ({method} split) failed")
                seconds = time.perf_counter() - started
            doc = json.loads((out / "metrics.json").read_text())
            figures = headline(doc)
            results[name][method] = {
                "source": f"{folder}/{file}", "mapping": mapping, "split": method,
                "test_share": TEST_SHARE, "options": options, "seconds": round(seconds, 1),
                "train_rows": doc["train"]["report"]["rows_used"],
                "test_rows": doc["test"]["report"]["rows_used"],
                "heads": doc["heads"], "figures": figures, "groups": doc.get("groups"),
                "plain": doc["plain"], "predictor": doc["predictor"],
                "lexicon_macro_f1": doc["metrics"]["sentiment"].get("lexicon", {}).get("macro_f1"),
                "targets": {head: judge(figures.get(head), goals)
                            for head, goals in targets.items()},
            }
    return results


def judge(row: dict | None, goals: list) -> list[dict]:
    """Each target of a head with the measured figure and whether it is met (None when the
    head was not measured)."""
    out = []
    for metric, op, value in goals:
        measured = None if row is None else (
            row["model"] if metric == row["metric"] else row.get(metric))
        met = None
        if measured is not None:
            met = (measured >= value if op == ">=" else measured <= value if op == "<=" else
                   value[0] <= measured <= value[1])
        out.append({"metric": metric, "op": op, "value": value, "measured": measured,
                    "met": met})
    return out


def _goal(target: dict) -> str:
    value = target["value"]
    goal = (f"{value[0]}-{value[1]}" if target["op"] == "in" else f"{target['op']}{value}")
    return f"{target['metric']} {goal} " + {True: "met", False: "MISSED", None: "-"}[target["met"]]


def serving_cost() -> dict:
    """Size, load time and one-ticket latency of the shipped bundle."""
    from ticketml.bundle import load_bundle, read_current

    model_dir = ROOT / "model"
    version_dir = model_dir / "versions" / read_current(model_dir)["version"]
    size = sum(p.stat().st_size for p in version_dir.iterdir() if p.is_file())
    loads = []
    for _ in range(5):
        started = time.perf_counter()
        bundle = load_bundle(model_dir)
        loads.append(time.perf_counter() - started)
    tickets = _latency_tickets()
    bundle.predict(tickets[0])
    return {
        "version": bundle.version, "bundle_bytes": size,
        "load_s": {"median": round(statistics.median(loads), 3), "max": round(max(loads), 3)},
        "predict_ms": _latency(bundle, tickets),
        "predict_ms_by_text": _by_text(bundle, tickets),
        "fresh_process": _fresh_process_load(),
    }


# Tickets as long as real ones (bench.texts): the demo tickets' own descriptions run together up to a real helpdesk
# e-mail's length, and up to 2,000 and 5,000 characters (the rules' limit), each over this many tickets.
TEXT_TICKETS = 500


def _by_text(bundle, tickets: list[dict]) -> dict:
    """One ticket's latency (ms) by description length: the demo's (about 200 characters), a real e-mail's, 2,000
    and 5,000."""
    pool = [t["description"] for t in tickets if t.get("description")]
    lengths = {"real_mail": real_length, "2000_chars": lambda _: 2000, "5000_chars": lambda _: MAX_CHARS}
    out = {"demo": _latency(bundle, tickets[:TEXT_TICKETS])}
    for name, length in lengths.items():
        rnd = random.Random(SEED)
        out[name] = _latency(bundle, [{**t, "description": run_together(pool, length(rnd), rnd)}
                                      for t in tickets[:TEXT_TICKETS]])
    return out


def _latency(bundle, tickets: list[dict]) -> dict:
    """n, p50, p99 and max of one ticket's prediction (ms), each of ``tickets`` once."""
    durations = []
    for ticket in tickets:
        started = time.perf_counter()
        bundle.predict(ticket)
        durations.append((time.perf_counter() - started) * 1000)
    durations.sort()
    return {"n": len(durations), "p50": round(durations[len(durations) // 2], 3),
            "p99": round(durations[int(len(durations) * 0.99)], 3), "max": round(durations[-1], 3)}


_FRESH_LOAD = """
import time
started = time.perf_counter()
import json, sys
sys.path.insert(0, "functions")
from ticketml.bundle import load_bundle
imported = time.perf_counter()
load_bundle("model")
loaded = time.perf_counter()
print(json.dumps({"import_s": imported - started, "load_s": loaded - imported,
                  "sklearn_or_skops": sorted({m.split(".")[0] for m in sys.modules}
                                             & {"sklearn", "skops", "scipy"})}))
"""


def _fresh_process_load(runs: int = 5) -> dict:
    """In new processes, as a function instance starts: import ticketml.bundle (from
    functions/, as deployed), then load the shipped bundle."""
    results = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", _FRESH_LOAD], cwd=ROOT, check=True,
                             capture_output=True, text=True)
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {
        "runs": runs,
        "import_s": round(statistics.median(r["import_s"] for r in results), 3),
        "load_s": round(statistics.median(r["load_s"] for r in results), 3),
        "imports_of_sklearn_skops_scipy": sorted(
            {m for r in results for m in r["sklearn_or_skops"]}),
    }


def training_cost(n: int) -> dict:
    """Train on ``n`` demo tickets in a child process: wall time and peak resident memory."""
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "demo.jsonl"
        subprocess.run([sys.executable, "-m", "training", "demo-data", "--n", str(n), "--seed",
                        str(SEED), "--out", str(data), "--quiet"], check=True, cwd=ROOT)
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "training", "train", "--data", str(data), "--out",
                        str(Path(tmp) / "model"), "--seed", str(SEED), "--quiet"],
                       check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - started
        peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"tickets": n, "seconds": round(seconds, 1),
            "peak_rss_mib": round(max(peak_kib, before) / 1024, 1)}


def _latency_tickets() -> list[dict]:
    from training.demo_data import generate

    tickets = []
    for record in generate(LATENCY_TICKETS, seed=11):
        tickets.append({k: record.get(k) for k in (
            "subject", "description", "contact", "category", "type", "impact", "experience",
            "seniority", "created_at")})
    return tickets


def _table(results: dict) -> str:
    lines = [f"{'dataset':<21}{'split':<7}{'head':<11}{'metric':<9}{'model [95% CI]':<25}"
             f"{'naive':>6}  {'best baseline [95% CI]':<38}{'verdict':<8}target"]
    for name, by_split in results.items():
        for method, r in by_split.items():
            for head, row in r["figures"].items():
                goal = "; ".join(_goal(t) for t in r["targets"].get(head, []))
                best = _best_baseline(row)
                base = "-" if best is None else (
                    f"{best[0]} {best[1]['value']:.3f} {_ci(best[1]['interval'])}")
                lines.append(f"{name:<21}{method:<7}{head:<11}{row['metric']:<9}"
                             f"{row['model']:.3f} {_ci(row['interval']):<19}{row['naive']:>6.3f}  "
                             f"{base:<38}{row['verdict'] or '-':<8}{goal}")
    return "\n".join(lines)


def _best_baseline(row: dict):
    """The strongest baseline of a headline row: (name, figures), or None."""
    if not row["baselines"]:
        return None
    pick = min if row["metric"] == "log_mae" else max
    return pick(row["baselines"].items(), key=lambda kv: kv[1]["value"])


def _ci(bounds) -> str:
    return "-" if not bounds else f"[{bounds[0]:.3f}, {bounds[1]:.3f}]"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.models", description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="*", choices=sorted(BENCHMARKS), help="datasets to run")
    parser.add_argument("--splits", nargs="*", choices=SPLITS, default=list(SPLITS),
                        help="test splits: a seeded random 20%% and the newest 20%% (default both)")
    parser.add_argument("--skip-cost", action="store_true", help="quality only")
    parser.add_argument("--demo-n", type=int, default=DEMO_N, help="tickets for training cost")
    parser.add_argument("--serving-only", action="store_true",
                        help="only measure the shipped bundle (no datasets, no training)")
    args = parser.parse_args(argv)
    if args.serving_only:
        doc = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
               "machine": {"cpus": _cpus(), "python": platform.python_version()},
               "serving": serving_cost()}
        print(f"serving: {json.dumps(doc['serving'])}")
        RESULTS.mkdir(parents=True, exist_ok=True)
        out = RESULTS / "models-serving.json"
        out.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        print(f"saved {out.relative_to(ROOT)}")
        return 0
    doc = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           "machine": {"cpus": _cpus(), "python": platform.python_version()},
           "quality": quality(args.only or list(BENCHMARKS), args.splits)}
    print(_table(doc["quality"]))
    if not args.skip_cost:
        doc["serving"] = serving_cost()
        print(f"serving: {json.dumps(doc['serving'])}")
        doc["training"] = training_cost(args.demo_n)
        print(f"training: {json.dumps(doc['training'])}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    complete = not args.only and not args.skip_cost and set(args.splits) == set(SPLITS)
    out = RESULTS / ("models.json" if complete else "models-partial.json")
    out.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    print(f"saved {out.relative_to(ROOT)}")
    return 0


def _cpus() -> int:
    import os
    return len(os.sched_getaffinity(0))


if __name__ == "__main__":
    sys.exit(main())
