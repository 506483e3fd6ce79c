"""The opening measurement (``training.experiments.opening``) fits the baselines on the cut descriptions: a limit
no description reaches gives the whole text's figures exactly, a short one other figures."""

from dataclasses import replace

import numpy as np
import pytest

from ticketml.features import PRIORITIES, model_inputs
from training.data import prepare, read_records
from training.experiments import HeadSplit
from training.experiments.opening import classification, resolution
from training.mapping import NATIVE

SHORT = 40  # characters: most of the lengthened descriptions below are cut


@pytest.fixture(scope="module")
def split(demo_file):
    examples = prepare(read_records(demo_file), NATIVE).examples[:900]
    # Every third description three times as long, so that a short limit cuts what the model reads.
    examples = [replace(e, ticket={**e.ticket, "description": " ".join([e.ticket["description"]] * 3)})
                if i % 3 == 0 else e for i, e in enumerate(examples)]
    train, test = examples[:600], examples[600:]
    rows = [i for i, e in enumerate(train) if e.priority]
    train_texts, train_fields = model_inputs([e.ticket for e in train])
    test_texts, test_fields = model_inputs([e.ticket for e in test])
    return HeadSplit("priority", PRIORITIES, train, test, rows, [i for i, e in enumerate(test) if e.priority],
                     np.array([PRIORITIES.index(train[i].priority) for i in rows]), [None] * len(rows),
                     train_texts, test_texts, train_fields, test_fields)


def test_a_limit_no_description_reaches_ties_the_whole_text_exactly(split):
    longest = max(len(t) for t in split.train_texts + split.test_texts)
    found = classification(split, [longest + 1, SHORT])
    same, cut = found["openings"][str(longest + 1)], found["openings"][str(SHORT)]
    assert same["texts_longer"] == 0 and same["value"] == found["whole"]["value"]
    assert same["difference_interval"] == [0, 0] and same["verdict"] == "tie"
    assert cut["texts_longer"] > 0.3
    assert cut["value"] != found["whole"]["value"] or cut["difference_interval"] != [0, 0]


def test_the_resolution_baseline_reads_the_same_cut(split):
    longest = max(len(t) for t in split.train_texts + split.test_texts)
    found = resolution(split, "random", [longest + 1, SHORT])
    same, cut = found["openings"][str(longest + 1)], found["openings"][str(SHORT)]
    assert found["n"] > 100 and same["log_mae"] == found["whole"]["log_mae"]
    assert same["difference_interval"] == [0, 0] and same["verdict"] == "tie"
    assert cut["log_mae"] != found["whole"]["log_mae"]
