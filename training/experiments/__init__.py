"""One-off measurements behind the README's model decisions (not used by training or serving)."""

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ticketml.features import PRIORITIES, SENTIMENTS, model_inputs
from training.data import Example

# The dataset of ``bench.models`` with a text classification head, and that head.
HEADS = {"twitter-airline": "sentiment", "endava-urgency": "priority",
         "gitbugs-hadoop": "priority"}


@dataclass
class HeadSplit:
    """One dataset's training and test rows for its classification head, split as ``bench.models`` splits it.

    ``rows`` and ``test_rows`` index the examples that carry the head's label; ``y`` holds their codes in
    ``labels``; ``times`` their creation times on a time split (None otherwise, for random folds);
    ``*_texts`` and ``*_fields`` the model inputs of every training and test example.
    """

    head: str
    labels: tuple[str, ...]
    train: list[Example]
    test: list[Example]
    rows: list[int]
    test_rows: list[int]
    y: np.ndarray
    times: list
    train_texts: list[str]
    test_texts: list[str]
    train_fields: list[dict]
    test_fields: list[dict]


def head_split(name: str, method: str) -> HeadSplit | None:
    """``name``'s split ``method`` (random or time); None when the dataset has no such split."""
    from bench.models import BENCHMARKS, DATASETS, split_file
    from training.benchmark import _read
    from training.mapping import load_mapping

    folder, file, mapping_name, _, _ = BENCHMARKS[name]
    head = HEADS[name]
    labels = PRIORITIES if head == "priority" else SENTIMENTS
    mapping = load_mapping(mapping_name)
    with tempfile.TemporaryDirectory() as tmp:
        paths = split_file(DATASETS / folder / file, mapping_name, Path(tmp), method)
        if paths is None:
            return None
        train = _read(paths[0], mapping, False).examples
        test = _read(paths[1], mapping, False).examples
    rows = [i for i, e in enumerate(train) if getattr(e, head)]
    train_texts, train_fields = model_inputs([e.ticket for e in train])
    test_texts, test_fields = model_inputs([e.ticket for e in test])
    return HeadSplit(
        head, labels, train, test, rows, [i for i, e in enumerate(test) if getattr(e, head)],
        np.array([labels.index(getattr(train[i], head)) for i in rows]),
        [train[i].created_at if method == "time" else None for i in rows],
        train_texts, test_texts, train_fields, test_fields)
