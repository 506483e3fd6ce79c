"""Do stacking or soft voting beat the plain text baseline? A measurement, not a feature.

Run: ``python -m training.experiments.ensembles [--only NAME ...] [--splits random time]``.

For each dataset and split of ``bench.models`` that has a text classification head, it fits
the strong plain baseline (``training.baselines``: word 1-2 + char 2-5 TF-IDF, logistic
regression, C and class weight by cross-validation over the training period) and two
ensembles built from models of other kinds on the same rows:

  * base models: that logistic regression (at the C and class weight the baseline chose),
    complement naive Bayes on the same TF-IDF (another view of the words), histogram
    gradient boosting on the structured fields (where the data has them), and VADER's four
    scores (sentiment);
  * ``stacked``: a logistic regression over the base models' out-of-fold log-probabilities
    (and VADER's scores), fitted on the rows that have out-of-fold predictions (time-aware
    expanding folds on a time split: the oldest block has none);
  * ``soft_vote``: the mean of the base models' probabilities.

Each is compared with the baseline on the test rows by the paired bootstrap of
``training.benchmark``. Writes ``bench/results/models/ensembles.json``.
"""

import argparse
import json
import time
from datetime import datetime, timezone

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import ComplementNB
from threadpoolctl import threadpool_limits

from bench.models import RESULTS, SEED, SPLITS
from ticketml import lexicon
from training.baselines import _field_features, _logreg, _text_features
from training.benchmark import _compare
from training.experiments import HEADS, head_split
from training.folds import cv_folds, macro_f1_codes

STACK_FOLDS = 5
_FLOOR = 1e-6


def _probabilities(model, x, n_classes: int) -> np.ndarray:
    """(n, n_classes) probabilities, zero for classes the model never saw."""
    out = np.zeros((x.shape[0], n_classes))
    out[:, model.classes_] = model.predict_proba(x)
    return out


def _base_models(text, fields, params: dict, seed: int) -> dict:
    """``{name: (make, (training matrix, test matrix))}``: each base model's factory and inputs."""
    weighting = None if params["class_weight"] == "none" else params["class_weight"]
    makers = {
        "text_logreg": (lambda: LogisticRegression(C=params["C"], class_weight=weighting,
                                                   max_iter=3000, tol=1e-3), text),
        "text_nb": (lambda: ComplementNB(alpha=0.5), text),
    }
    if fields is not None:
        makers["fields_gbm"] = (lambda: HistGradientBoostingClassifier(
            categorical_features=fields[2], random_state=seed), fields)
    return makers


def _stack_inputs(probabilities: dict, lexicon_block) -> np.ndarray:
    blocks = [np.log(np.clip(p, _FLOOR, 1.0)) for p in probabilities.values()]
    if lexicon_block is not None:
        blocks.append(lexicon_block)
    return np.hstack(blocks)


def measure(name: str, method: str) -> dict | None:
    split = head_split(name, method)
    if split is None:
        return None
    head, labels, test = split.head, split.labels, split.test
    rows, test_rows, y, times = split.rows, split.test_rows, split.y, split.times
    train_texts, test_texts = split.train_texts, split.test_texts
    text = _text_features(train_texts, test_texts)
    fields = (_field_features(split.train_fields, split.test_fields) if head == "priority"
              else None)
    lexicon_scores = None
    if head == "sentiment":
        lexicon_scores = (lexicon.features([train_texts[i] for i in rows]),
                          lexicon.features([test_texts[i] for i in test_rows]))
    started = time.perf_counter()
    plain = _logreg(text, rows, test_rows, y, times, labels, SEED)
    plain_seconds = time.perf_counter() - started

    started = time.perf_counter()
    makers = _base_models(text, fields, plain.params, SEED)
    folds, fold_method = cv_folds(times, y, SEED, n_folds=STACK_FOLDS)
    out_of_fold = {b: np.full((len(rows), len(labels)), np.nan) for b in makers}
    on_test = {}
    with threadpool_limits(1):
        for base, (make, source) in makers.items():
            x, x_test = source[0][rows], source[1][test_rows]
            for fit, val in folds:
                if len(set(y[fit])) < 2:
                    continue
                out_of_fold[base][val] = _probabilities(make().fit(x[fit], y[fit]), x[val],
                                                        len(labels))
            on_test[base] = _probabilities(make().fit(x, y), x_test, len(labels))
    covered = ~np.isnan(next(iter(out_of_fold.values()))).any(axis=1)
    weighting = None if plain.params["class_weight"] == "none" else plain.params["class_weight"]
    meta = LogisticRegression(C=1.0, class_weight=weighting, max_iter=3000).fit(
        _stack_inputs({b: p[covered] for b, p in out_of_fold.items()},
                      None if lexicon_scores is None else lexicon_scores[0][covered]),
        y[covered])
    stacked = meta.predict(_stack_inputs(on_test, None if lexicon_scores is None
                                         else lexicon_scores[1]))
    soft_vote = np.mean(list(on_test.values()), axis=0).argmax(axis=1)
    ensemble_seconds = time.perf_counter() - started

    truth = np.array([labels.index(getattr(test[i], head)) for i in test_rows])

    def score(predicted, idx=slice(None)):
        return macro_f1_codes(truth[idx], predicted[idx], len(labels))
    plain_codes = np.array([labels.index(p) for p in plain.predicted])
    result = {"head": head, "n": len(test_rows), "plain_params": plain.params,
              "stack": {"folds": fold_method, "n_folds": len(folds),
                        "rows_with_out_of_fold": int(covered.sum()), "rows": len(rows),
                        "base_models": list(makers),
                        "meta_inputs": list(makers) + (["vader"] if lexicon_scores else [])},
              "base_models_alone": {b: round(score(p.argmax(axis=1)), 4)
                                    for b, p in on_test.items()},
              "fit_seconds": {"plain": round(plain_seconds, 1),
                              "ensembles": round(ensemble_seconds, 1)}}
    for variant, predicted in (("stacked", stacked), ("soft_vote", soft_vote)):
        comparison = _compare(score, predicted, {"tfidf_logreg": plain_codes}, len(test_rows),
                              SEED, "macro_f1", True)
        result[variant] = {**comparison["model"],
                           "verdict": comparison["baselines"]["tfidf_logreg"]["verdict"],
                           "difference_interval":
                               comparison["baselines"]["tfidf_logreg"]["difference_interval"]}
        result["plain"] = {k: comparison["baselines"]["tfidf_logreg"][k]
                           for k in ("value", "interval")}
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.experiments.ensembles")
    parser.add_argument("--only", nargs="*", choices=sorted(HEADS))
    parser.add_argument("--splits", nargs="*", choices=SPLITS, default=list(SPLITS))
    args = parser.parse_args(argv)
    doc = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "results": {}}
    for name in args.only or list(HEADS):
        for method in args.splits:
            result = measure(name, method)
            if result is None:
                continue
            doc["results"].setdefault(name, {})[method] = result
            p = result["plain"]
            line = f"{name:<17}{method:<7}{result['head']:<10} plain {p['value']:.4f} {p['interval']}"
            for variant in ("stacked", "soft_vote"):
                v = result[variant]
                line += (f"  {variant} {v['value']:.4f} diff {v['difference_interval']} "
                         f"{v['verdict']}")
            print(line + f"  alone {result['base_models_alone']}", flush=True)
    out = RESULTS / "models" / "ensembles.json"
    out.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    print(f"saved {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
