"""Does reading only the opening of a description cost accuracy? A measurement for ``features.DESCRIPTION_CHARS``.

Run: ``python -m training.experiments.opening [--limits 500 1000 1500 2000] [--only NAME ...]`` (by default
endava and gitbugs: the airline tweets are never longer than the shortest limit).

For each dataset and split of ``bench.models`` with a text classification head, it fits the strong plain
baseline (``training.baselines``: word 1-2 + char 2-5 TF-IDF, logistic regression, C and class weight by
cross-validation over the training period) on the whole masked description and on its opening of each
limit (``features.opening``, the same cut training and serving make), and compares each with the whole
text on the test rows with the paired bootstrap of ``training.benchmark``. For gitbugs, whose reports are
the longest, it does the same for the resolution baseline (TF-IDF ridge on log-hours, alpha by
cross-validation) with the paired bootstrap of the log-MAE. Writes ``bench/results/models/opening.json``.
"""

import argparse
import json
from datetime import datetime, timezone

import numpy as np

from bench.models import RESULTS, SEED, SPLITS
from ticketml.features import model_inputs
from training import baselines
from training.baselines import _logreg, _text_features
from training.benchmark import _compare
from training.experiments import HEADS, HeadSplit, head_split
from training.folds import macro_f1_codes

RESOLUTION_DATASETS = ("gitbugs-hadoop",)
# The airline tweets (at most 280 characters) are never cut, so by default only these are measured.
DEFAULT_DATASETS = ("endava-urgency", "gitbugs-hadoop")
_BOOTSTRAP = 1000


def classification(split: HeadSplit, limits: list[int]) -> dict:
    """The text baseline on the whole description and on each opening, for one dataset and split."""
    head, labels, test = split.head, split.labels, split.test
    rows, test_rows, y, times = split.rows, split.test_rows, split.y, split.times
    truth = np.array([labels.index(getattr(test[i], head)) for i in test_rows])

    def fitted(description_chars):
        train_texts = model_inputs([e.ticket for e in split.train], description_chars)[0]
        test_texts = model_inputs([e.ticket for e in test], description_chars)[0]
        baseline = _logreg(_text_features(train_texts, test_texts), rows, test_rows, y, times, labels, SEED)
        return np.array([labels.index(p) for p in baseline.predicted]), baseline.params

    def score(predicted, idx=slice(None)):
        return macro_f1_codes(truth[idx], predicted[idx], len(labels))

    whole, whole_params = fitted(None)
    lengths = [len(model_inputs([e.ticket], None)[0][0]) for e in test]
    out = {"head": head, "n": len(test_rows), "whole": {"value": round(score(whole), 4), "params": whole_params},
           "openings": {}}
    for limit in limits:
        cut, params = fitted(limit)
        comparison = _compare(score, cut, {"whole": whole}, len(test_rows), SEED, "macro_f1", True)
        out["openings"][str(limit)] = {
            "texts_longer": round(float(np.mean([n > limit for n in lengths])), 4),
            "value": comparison["model"]["value"], "interval": comparison["model"]["interval"],
            "difference_interval": comparison["baselines"]["whole"]["difference_interval"],
            "verdict": comparison["baselines"]["whole"]["verdict"], "params": params}
    return out


def resolution(split: HeadSplit, method: str, limits: list[int]) -> dict:
    """The TF-IDF ridge baseline's log-MAE on the whole description and on each opening."""
    train, test = split.train, split.test  # every example of the split, with a priority or not

    def log_errors(description_chars):
        texts = (model_inputs([e.ticket for e in train], description_chars)[0],
                 model_inputs([e.ticket for e in test], description_chars)[0])
        ridge = baselines._resolution(train, test, _text_features(*texts), None, SEED, method == "time")[0]
        truth = np.log1p([test[i].hours for i in ridge.rows])
        return np.abs(np.log1p(ridge.predicted) - truth), ridge.params

    whole, whole_params = log_errors(None)
    out = {"head": "resolution", "n": len(whole), "whole": {"log_mae": round(float(whole.mean()), 4),
                                                             "params": whole_params}, "openings": {}}
    rng = np.random.default_rng(SEED)
    draws = [rng.integers(0, len(whole), len(whole)) for _ in range(_BOOTSTRAP)]
    for limit in limits:
        cut, params = log_errors(limit)
        differences = [float(cut[idx].mean() - whole[idx].mean()) for idx in draws]
        low, high = np.percentile(differences, [2.5, 97.5])
        out["openings"][str(limit)] = {
            "log_mae": round(float(cut.mean()), 4), "difference_interval": [round(low, 4), round(high, 4)],
            "verdict": "better" if high < 0 else "worse" if low > 0 else "tie", "params": params}
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.experiments.opening")
    parser.add_argument("--limits", nargs="*", type=int, default=[500, 1000, 1500, 2000])
    parser.add_argument("--only", nargs="*", choices=sorted(HEADS))
    parser.add_argument("--splits", nargs="*", choices=SPLITS, default=list(SPLITS))
    args = parser.parse_args(argv)
    doc = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "limits": args.limits,
           "results": {}}
    out = RESULTS / "models" / "opening.json"
    for name in args.only or list(DEFAULT_DATASETS):
        for method in args.splits:
            split = head_split(name, method)
            if split is None:
                continue
            found = {"classification": classification(split, args.limits)}
            if name in RESOLUTION_DATASETS:
                found["resolution"] = resolution(split, method, args.limits)
            doc["results"].setdefault(name, {})[method] = found
            for kind, result in found.items():
                whole = result["whole"].get("value", result["whole"].get("log_mae"))
                cells = "  ".join(f"{limit}: {o.get('value', o.get('log_mae')):.4f} {o['verdict']}"
                                  for limit, o in result["openings"].items())
                print(f"{name:<17}{method:<7}{result['head']:<11} whole {whole:.4f}  {cells}", flush=True)
            out.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    print(f"saved {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
