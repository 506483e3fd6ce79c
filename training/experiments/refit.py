"""Does refitting the heads on training + validation rows pay? The measurement behind ``refit``.

Run: ``python -m training.experiments.refit [--only NAME ...] [--splits random time]``.

For each dataset and split of ``bench.models`` (the same train and test files, the same
validation share carved out of the training file, the same options), it fits the heads once
(``training.train.fit_heads`` with ``refit``): the heads as fitted on the training share alone,
with every setting, calibration and threshold chosen on the validation share, are caught
before the refit (``on_validated``), and the same heads refitted on training + validation
with those settings and calibration come out of it. Both predict the withheld test rows
through ``Predictor.predict_many``, as serving does; each head with labels and a fitted model
(not a prior, VADER alone or the median) is compared with ``training.benchmark.compare``:
the paired bootstrap 95% interval (1,000 seeded resamples) of refit minus as-fitted, and
**better** or **worse** only when it excludes zero. The calibration each gives on the test
rows is recorded beside it (priority's expected calibration error and needs-review accuracy,
resolution's p90 coverage and within 2x). Writes ``bench/results/models/refit.json``.
"""

import argparse
import json
import os
import tempfile
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

from bench.models import BENCHMARKS, DATASETS, RESULTS, SEED, SPLITS, split_file
from ticketml.predictor import Predictor
from training.benchmark import _drop_seen, _read, compare
from training.data import split
from training.evaluate import evaluate
from training.export import export_models
from training.mapping import load_mapping
from training.train import TrainParams, fit_heads

OUT = RESULTS / "models" / "refit.json"
# The benchmark's extra options, as TrainParams fields.
_OPTIONS = {"--recency-half-life-days": ("recency_half_life_days", float)}


def measure(name: str, method: str) -> dict | None:
    """One dataset and split: the heads as fitted and refitted, on the same test rows."""
    folder, file, mapping_name, options, _ = BENCHMARKS[name]
    mapping = load_mapping(mapping_name)
    with tempfile.TemporaryDirectory() as tmp:
        paths = split_file(DATASETS / folder / file, mapping_name, Path(tmp), method)
        if paths is None:
            return None
        train_set, test_set = _read(paths[0], mapping, False), _read(paths[1], mapping, False)
    _drop_seen(test_set, train_set.examples)
    test = test_set.examples
    params = _params(options, method)
    fit, val, _, val_method = split(train_set.examples, params.seed, 0.0, params.val_share,
                                    params.split)
    validated = {}
    timings: dict = {}
    clock = {"stage": None, "start": time.perf_counter()}

    def step(stage):
        now = time.perf_counter()
        if clock["stage"]:
            timings[clock["stage"]] = round(now - clock["start"], 1)
        clock.update(stage=stage, start=now)
    started = time.perf_counter()
    estimators, predictor_params = fit_heads(
        fit, val, params, step, require=(),
        on_validated=lambda e, p: validated.update(estimators=e, params=p))
    step(None)
    fit_seconds = time.perf_counter() - started
    shipped = Predictor(export_models(validated["estimators"]), validated["params"], "as fitted")
    refit = Predictor(export_models(estimators), predictor_params, "refit")
    tickets = [e.ticket for e in test]
    outputs = {"as_fitted": shipped.predict_many(tickets, explain=False),
               "refit": refit.predict_many(tickets, explain=False)}
    metrics = {"as_fitted": evaluate(shipped, fit, test, outputs["as_fitted"]),
               "refit": evaluate(refit, fit + val, test, outputs["refit"])}
    heads = [h for h, kind in shipped.heads.items()
             if kind not in ("prior", "lexicon", "constant") and metrics["refit"][h].get("n")]
    comparison = compare(test, outputs["refit"],
                         {h: [_as_baseline(h, test, outputs["as_fitted"])] for h in heads},
                         params.seed)
    return {
        "source": f"{folder}/{file}", "split": method, "options": options,
        "rows": {"fit": len(fit), "validation": len(val), "validation_split": val_method,
                 "test": len(test)},
        "heads": shipped.heads,
        "settings": {h: validated["params"][h].get("settings") for h in heads},
        "seconds": {"fit_heads": round(fit_seconds, 1), **timings},
        "comparison": {h: _summary(comparison[h], metrics, h) for h in heads if h in comparison},
    }


def _params(options: list[str], method: str) -> TrainParams:
    params = TrainParams(seed=SEED, split=method, refit=True)
    for flag, value in zip(options[::2], options[1::2]):
        if flag in _OPTIONS:
            field, kind = _OPTIONS[flag]
            params = replace(params, **{field: kind(value)})
    return params


def _as_baseline(head: str, test, outputs: list[dict]) -> SimpleNamespace:
    """The as-fitted heads' test predictions in the shape ``compare`` takes a baseline's."""
    if head == "resolution":
        rows = [i for i, e in enumerate(test) if e.hours is not None and not e.censored]
        return SimpleNamespace(name="as_fitted",
                               predicted=[outputs[i]["resolution_hours"]["p50"] for i in rows])
    rows = [i for i, e in enumerate(test) if getattr(e, head)]
    label = ((lambda o: o["priority"]) if head == "priority" else
             (lambda o: o["sentiment"]["label"]))
    return SimpleNamespace(name="as_fitted", predicted=[label(outputs[i]) for i in rows])


def _summary(c: dict, metrics: dict, head: str) -> dict:
    """Refit against as-fitted on one head, with the calibration each gives on test rows."""
    b = c["baselines"]["as_fitted"]
    out = {"metric": c["metric"], "n": c["n"],
           "as_fitted": {"value": b["value"], "interval": b["interval"]},
           "refit": c["model"], "refit_minus_as_fitted": b["difference_interval"],
           "verdict_of_refit": b["verdict"]}
    for which in ("as_fitted", "refit"):
        m = metrics[which][head]
        if head == "priority":
            review = m["needs_review"]
            out[which]["ece"] = m["model"]["calibration"]["ece"]
            out[which]["needs_review"] = {k: review[k] for k in (
                "threshold", "review_rate", "accuracy_accepted")}
        elif head == "resolution":
            out[which].update({k: m["model"][k] for k in ("within_2x", "p90_coverage")})
    return out


def render(results: dict) -> str:
    lines = [f"{'dataset':<21}{'split':<7}{'head':<11}{'metric':<9}{'as fitted [95% CI]':<25}"
             f"{'refit [95% CI]':<25}{'refit - as fitted':<19}verdict  calibration (as fitted -> refit)"]
    for name, by_split in results.items():
        for method, r in by_split.items():
            for head, c in r["comparison"].items():
                a, b = c["as_fitted"], c["refit"]
                if head == "priority":
                    calib = f"ECE {a['ece']} -> {b['ece']}"
                elif head == "resolution":
                    calib = (f"p90 cov. {a['p90_coverage']} -> {b['p90_coverage']}, within 2x "
                             f"{a['within_2x']} -> {b['within_2x']}")
                else:
                    calib = ""
                lines.append(
                    f"{name:<21}{method:<7}{head:<11}{c['metric']:<9}"
                    f"{a['value']:.3f} {_ci(a['interval']):<19}{b['value']:.3f} "
                    f"{_ci(b['interval']):<19}{_ci(c['refit_minus_as_fitted']):<19}"
                    f"{c['verdict_of_refit']:<9}{calib}")
    return "\n".join(lines)


def _ci(bounds) -> str:
    return f"[{bounds[0]:.3f}, {bounds[1]:.3f}]"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.experiments.refit",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="*", choices=sorted(BENCHMARKS), help="datasets to run")
    parser.add_argument("--splits", nargs="*", choices=SPLITS, default=list(SPLITS))
    args = parser.parse_args(argv)
    doc = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           "load_average_before": list(os.getloadavg()), "results": {}}
    started = time.perf_counter()
    for name in args.only or list(BENCHMARKS):
        for method in args.splits:
            result = measure(name, method)
            if result is None:
                print(f"skip {name} {method} split: not every row has a timestamp", flush=True)
                continue
            doc["results"].setdefault(name, {})[method] = result
            print(render({name: {method: result}}).split("\n", 1)[1], flush=True)
    doc["seconds"] = round(time.perf_counter() - started, 1)
    doc["load_average_after"] = list(os.getloadavg())
    print(render(doc["results"]))
    OUT.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    print(f"saved {OUT} ({doc['seconds']} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
