"""The benchmark: train on one file, evaluate on another, beside naive and plain baselines.

``python -m training evaluate --mapping M --train A.csv --test B.csv --out DIR`` runs
``run_benchmark``: the same preparation, heads and evaluation as ``train``, except that a
head whose labels the source lacks is skipped instead of failing, and nothing is published.
The validation set (calibration, thresholds, model choice) is carved out of the training
file: its newest share when every row has a timestamp, a seeded share otherwise.
DIR receives ``metrics.json``, ``report.md`` and PNG plots.
"""

import json
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ticketml.features import PRIORITIES, SENTIMENTS, categorical, input_hash
from ticketml.predictor import Predictor
from training.baselines import NAMES as BASELINE_NAMES
from training.baselines import plain_baselines
from training.data import DataError, Example, prepare, read_records, split
from training.evaluate import classification, evaluate
from training.folds import BOOTSTRAP_RESAMPLES, CONFIDENCE, bootstrap, interval, macro_f1_codes
from training.export import export_models
from training.mapping import FieldMapping
from training.plots import write_plots
from training.train import TrainParams, fit_heads, stage_timer

METRICS_FILE = "metrics.json"
REPORT_FILE = "report.md"
_MAX_GROUPS = 8


def run_benchmark(mapping: FieldMapping, train_path: str | Path, test_path: str | Path,
                  out_dir: str | Path, params: TrainParams, group_by: str | None = None,
                  show_progress: bool = True) -> dict:
    """Train on ``train_path``, evaluate on ``test_path``, write metrics, report and plots.

    Args:
        mapping: How to read both files.
        train_path: Export file to train (and validate) on.
        test_path: Export file to evaluate on.
        out_dir: Output directory (created).
        params: Hyper-parameters; ``val_share`` is the share of the training file kept for
            validation, ``split`` how it is chosen.
        group_by: Optional model input field (e.g. ``type``) whose values get their own
            priority and sentiment metrics.
        show_progress: Show progress bars.

    Returns:
        The metrics document written to ``metrics.json``.

    Raises:
        DataError: A file has no usable rows.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    train_set = _read(train_path, mapping, show_progress)
    test_set = _read(test_path, mapping, show_progress)
    _drop_seen(test_set, train_set.examples)
    fit, val, _, method = split(train_set.examples, params.seed, 0.0, params.val_share,
                                params.split)
    bar = tqdm(total=5, desc="benchmark", unit=" stage", disable=not show_progress)
    timings: dict = {}
    step = stage_timer(bar, timings)

    with bar:
        estimators, predictor_params = fit_heads(fit, val, params, step, require=())
        step("evaluate")
        predictor = Predictor(export_models(estimators), predictor_params, "benchmark")
        outputs = predictor.predict_many([e.ticket for e in test_set.examples], explain=False)
        metrics = evaluate(predictor, fit, test_set.examples, outputs)
        step("plain baselines")
        # The baselines learn from every training row, validation share included: they
        # need no calibration set, and a head must beat them at their strongest.
        baselines = plain_baselines(fit + val, test_set.examples, params.seed,
                                    time_folds=method == "time")
        comparison = compare(test_set.examples, outputs, baselines, params.seed)
        step("done")
    groups = _groups(predictor, test_set.examples, group_by) if group_by else None
    doc = {
        "mapping": mapping.name,
        "train": {"file": Path(train_path).name, "report": train_set.report,
                  "fit": len(fit), "validation": len(val), "validation_split": method},
        "test": {"file": Path(test_path).name, "report": test_set.report},
        "params": params.as_dict(),
        "heads": predictor.heads,
        "predictor": predictor_params_summary(predictor_params),
        "metrics": metrics,
        "plain": {head: [b.summary() for b in found] for head, found in baselines.items()},
        "comparison": comparison,
        "groups": groups,
        "seconds": timings,
    }
    doc["plots"] = write_plots(metrics, _resolution_points(predictor, test_set.examples), out_dir)
    (out_dir / METRICS_FILE).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    (out_dir / REPORT_FILE).write_text(render_report(doc), encoding="utf-8")
    return doc


def compare(test: list[Example], outputs: list[dict], baselines: dict, seed: int) -> dict:
    """The model beside each baseline, with seeded bootstrap intervals on the same test rows.

    For each head: the model's metric (macro-F1, or log-MAE of p50 on resolved tickets) and
    its 95% interval; each baseline's, with the interval of the paired difference (model
    minus baseline, on the same resamples). A baseline is beaten when that interval lies
    wholly on the better side of zero, lost to when it lies wholly on the worse side.

    Returns:
        ``{head: {"metric", "higher_is_better", "n", "model": {...}, "baselines": {...},
        "verdict"}}`` for the heads that have test labels and at least one baseline.
    """
    out = {}
    for head, labels in (("priority", PRIORITIES), ("sentiment", SENTIMENTS)):
        rows = [i for i, e in enumerate(test) if getattr(e, head)]
        if not rows or not baselines.get(head):
            continue
        truth = np.array([labels.index(getattr(test[i], head)) for i in rows])
        label = (lambda o: o["priority"]) if head == "priority" else (
            lambda o: o["sentiment"]["label"])
        model = np.array([labels.index(label(outputs[i])) for i in rows])
        others = {b.name: np.array([labels.index(p) for p in b.predicted]) for b in baselines[head]}

        def score(predicted, idx=slice(None), k=len(labels)):
            return macro_f1_codes(truth[idx], predicted[idx], k)
        out[head] = _compare(score, model, others, len(rows), seed, "macro_f1", True)
    rows = [i for i, e in enumerate(test) if e.hours is not None and not e.censored]
    if rows and baselines.get("resolution"):
        truth = np.log1p([test[i].hours for i in rows])
        model = np.log1p([outputs[i]["resolution_hours"]["p50"] for i in rows])
        others = {b.name: np.log1p(b.predicted) for b in baselines["resolution"]}

        def score(predicted, idx=slice(None)):
            return float(np.mean(np.abs(predicted[idx] - truth[idx])))
        out["resolution"] = _compare(score, model, others, len(rows), seed, "log_mae", False)
    return out


def _compare(score, model, others: dict, n: int, seed: int, metric: str, higher: bool) -> dict:
    model_values = bootstrap(lambda idx: score(model, idx), n, seed)
    result = {"metric": metric, "higher_is_better": higher, "n": n,
              "bootstrap": {"resamples": BOOTSTRAP_RESAMPLES, "confidence": CONFIDENCE,
                            "seed": seed},
              "model": {"value": _r(score(model)), "interval": interval(model_values)},
              "baselines": {}}
    sign = 1 if higher else -1
    for name, predicted in others.items():
        values = bootstrap(lambda idx: score(predicted, idx), n, seed)  # Same resamples.
        low, high = interval(model_values - values)
        verdict = ("better" if sign * (low if higher else high) > 0 else
                   "worse" if sign * (high if higher else low) < 0 else "tie")
        value, own = _r(score(predicted)), interval(values)
        result["baselines"][name] = {
            "value": value, "interval": own, "difference_interval": [low, high],
            "verdict": verdict,
            "beyond_its_interval": bool(sign * (result["model"]["value"]
                                                - (own[1] if higher else own[0])) > 0)}
    verdicts = [b["verdict"] for b in result["baselines"].values()]
    result["verdict"] = ("worse" if "worse" in verdicts else
                         "better" if verdicts and all(v == "better" for v in verdicts) else "tie")
    return result


def headline(doc: dict) -> dict:
    """The figures the benchmark table shows: per head, model vs naive vs the baselines."""
    m, comparison, rows = doc["metrics"], doc.get("comparison") or {}, {}
    for head in ("priority", "sentiment", "resolution"):
        if not m[head].get("n"):
            continue
        metric = "log_mae" if head == "resolution" else "macro_f1"
        row = {"metric": metric, "n": m[head]["n"], "model": m[head]["model"][metric],
               "naive": m[head]["baseline"][metric], "interval": None, "baselines": {},
               "verdict": None}
        if head in comparison:
            c = comparison[head]
            row.update(interval=c["model"]["interval"], baselines=c["baselines"],
                       verdict=c["verdict"])
        if head == "resolution":
            res = m["resolution"]
            row.update(within_2x=res["model"]["within_2x"],
                       p90_coverage=res["model"]["p90_coverage"],
                       concordance=res["model"]["concordance"],
                       censored_in_test=res["censored_in_test"])
        rows[head] = row
    return rows


def render_table(doc: dict) -> str:
    """The headline as a plain-text table: model and baselines with their 95% intervals."""
    lines = [f"{'head':<11}{'metric':<9}{'n':>6}  {'model [95% CI]':<24}{'naive':>7}  "
             f"baselines [95% CI] (model minus baseline)"]
    for head, row in headline(doc).items():
        others = "; ".join(
            f"{name} {b['value']:.4f} {_ci(b['interval'])} ({b['verdict']}, diff "
            f"{_ci(b['difference_interval'])})" for name, b in row["baselines"].items()) or "-"
        lines.append(f"{head:<11}{row['metric']:<9}{row['n']:>6}  "
                     f"{row['model']:.4f} {_ci(row['interval']):<17}{row['naive']:>7.4f}  {others}")
        if head == "resolution":
            lines.append(f"{'':<26}within_2x {row['within_2x']:.4f}  p90_coverage "
                         f"{row['p90_coverage']:.4f}  concordance {row['concordance']}")
    return "\n".join(lines)


def _ci(bounds) -> str:
    return "-" if not bounds else f"[{bounds[0]:.3f}, {bounds[1]:.3f}]"


def _r(value: float) -> float:
    return round(float(value), 4)


def predictor_params_summary(params: dict) -> dict:
    """The readable part of the predictor's params (no category code tables)."""
    resolution = {k: v for k, v in params["resolution"].items() if k not in ("codes", "numeric")}
    return {"priority": params["priority"], "sentiment": params["sentiment"],
            "resolution": resolution}


def render_report(doc: dict) -> str:
    """Markdown report of a benchmark run."""
    lines = [
        f"# Benchmark: mapping `{doc['mapping']}`",
        "",
        f"Trained on `{doc['train']['file']}` ({doc['train']['fit']} rows, validation "
        f"{doc['train']['validation']}, {doc['train']['validation_split']}), evaluated on "
        f"`{doc['test']['file']}` ({doc['test']['report']['rows_used']} rows).",
        f"Heads: {', '.join(f'{k} {v}' for k, v in doc['heads'].items())}.",
        "",
        f"Baselines ({', '.join(f'`{k}`: {v}' for k, v in BASELINE_NAMES.items())}) are "
        "compared on the same test rows; intervals are seeded percentile bootstraps "
        f"({BOOTSTRAP_RESAMPLES} resamples), the difference's paired.",
        "",
        "| head | n | metric | model [95% CI] | naive | baseline [95% CI] | model minus "
        "baseline [95% CI] | verdict |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for head, row in headline(doc).items():
        first = f"| {head} | {row['n']} | {row['metric']} | {row['model']} {_ci(row['interval'])} | " \
                f"{row['naive']} |"
        if not row["baselines"]:
            lines.append(first + " - | - | - |")
        for j, (name, b) in enumerate(row["baselines"].items()):
            lead = first if j == 0 else "| | | | | |"
            lines.append(f"{lead} {name} {b['value']} {_ci(b['interval'])} | "
                         f"{_ci(b['difference_interval'])} | {b['verdict']} |")
        if head == "resolution":
            base = doc["metrics"]["resolution"]["baseline"]
            lines.append(f"| | | within 2x | {row['within_2x']} | {base['within_2x']} | | | |")
            lines.append(f"| | | p90 coverage | {row['p90_coverage']} | "
                         f"{base['p90_coverage']} | | | |")
            lines.append(f"| | | concordance | {row['concordance']} | 0.5 | | | |")
    m = doc["metrics"]
    for head in ("priority", "sentiment"):
        if not m[head].get("n"):
            continue
        lines += ["", f"## {head}", "", "| class | precision | recall | F1 | support |",
                  "|---|---|---|---|---|"]
        lines += [f"| {c} | {v['precision']} | {v['recall']} | {v['f1']} | {v['support']} |"
                  for c, v in m[head]["model"]["per_class"].items()]
        if head == "priority":
            review = m[head]["needs_review"]
            lines += ["", f"Calibration ECE {m[head]['model']['calibration']['ece']}; "
                      f"needs_review below {review['threshold']:.3f}: {review['review_rate']:.1%} "
                      f"flagged, accuracy accepted {review['accuracy_accepted']}, flagged "
                      f"{review['accuracy_reviewed']}."]
        else:
            lines += ["", f"VADER alone (the fallback without labels): macro-F1 "
                      f"{m[head]['lexicon']['macro_f1']}."]
    res = m["resolution"]
    if res.get("n"):
        cens = res["model"]["censored"]
        lines += ["", "## resolution", "",
                  f"{res['n']} resolved test tickets; {res['censored_in_test']} still open."]
        if cens.get("n"):
            lines.append(f"Open tickets: p50 already exceeded for {cens['p50_below_open_time']:.1%} "
                         f"(naive {res['baseline']['censored']['p50_below_open_time']:.1%}); "
                         f"certain log shortfall {cens['log_shortfall']}.")
    if doc.get("groups"):
        lines += ["", f"## by {doc['groups']['field']}", "", "| value | head | n | macro-F1 |",
                  "|---|---|---|---|"]
        lines += [f"| {g['value']} | {g['head']} | {g['n']} | {g['macro_f1']} |"
                  for g in doc["groups"]["rows"]]
    lines += ["", *[f"![{p}]({p})" for p in doc.get("plots", [])], ""]
    return "\n".join(lines)


def _read(path, mapping, show_progress):
    path = Path(path)
    with tqdm(desc="read " + path.name, unit=" rows", disable=not show_progress) as bar:
        def progress(records):
            for record in records:
                bar.update(1)
                yield record
        dataset = prepare(read_records(path), mapping, progress=progress)
    if not dataset.examples:
        raise DataError(f'Invalid data file "{path}": no usable rows ({dataset.report}).')
    return dataset


def _drop_seen(test_set, train: list[Example]) -> None:
    """Drop test rows whose text and fields also occur in training (a retweet, a resubmission):
    they would measure memory, not prediction."""
    seen = {input_hash(e.ticket) for e in train if _has_text(e)}
    kept = [e for e in test_set.examples if not (_has_text(e) and input_hash(e.ticket) in seen)]
    dropped = len(test_set.examples) - len(kept)
    if dropped:
        test_set.report["rows_skipped"]["also in training"] = dropped
        test_set.report["rows_used"] = len(kept)
        test_set.examples = kept


def _has_text(example: Example) -> bool:
    return bool(example.ticket.get("subject") or example.ticket.get("description"))


def _groups(predictor: Predictor, test: list[Example], field: str) -> dict:
    values = [categorical(e.ticket.get(field)) for e in test]
    outputs = predictor.predict_many([e.ticket for e in test], explain=False)
    rows = []
    for value in sorted(set(values))[:_MAX_GROUPS]:
        for head, labels in (("priority", PRIORITIES), ("sentiment", SENTIMENTS)):
            idx = [i for i, v in enumerate(values) if v == value and getattr(test[i], head)]
            if not idx:
                continue
            truth = [getattr(test[i], head) for i in idx]
            predicted = [outputs[i][head] if head == "priority" else outputs[i][head]["label"]
                         for i in idx]
            rows.append({"value": value, "head": head, "n": len(idx),
                         "macro_f1": classification(truth, predicted, labels)["macro_f1"]})
    return {"field": field, "rows": rows}


def _resolution_points(predictor: Predictor, test: list[Example]) -> dict | None:
    rows = [e for e in test if e.hours is not None and not e.censored]
    if not rows or predictor.heads["resolution"] == "constant":
        return None
    centre, _ = predictor.resolution_log_hours([e.ticket for e in rows])
    return {"true": [e.hours for e in rows], "p50": np.expm1(centre).tolist()}
