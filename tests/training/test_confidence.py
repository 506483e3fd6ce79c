"""Confidence thresholds chosen on validation data for a stated precision; training languages."""

import numpy as np
import pytest

from ticketml.bundle import load_bundle
from ticketml.confidence import HEADS
from training.confidence import threshold_for


def test_the_threshold_is_the_lowest_score_meeting_the_target():
    score = np.array([0.99, 0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    correct = np.array([1, 1, 1, 1, 0, 1, 0, 0], dtype=bool)
    assert threshold_for(score, correct, 1.0, min_support=1) == 0.8
    assert threshold_for(score, correct, 0.8, min_support=1) == 0.6
    assert threshold_for(score, correct, 0.9, min_support=5) is None
    assert threshold_for(score, correct, 0.5, min_support=1) == 0.4


def test_ties_are_taken_together():
    score = np.array([0.9, 0.8, 0.8, 0.8])
    correct = np.array([1, 1, 0, 0], dtype=bool)
    assert threshold_for(score, correct, 0.9, min_support=1) == 0.9


@pytest.mark.parametrize("seed", range(5))
def test_a_higher_target_never_gives_a_lower_threshold(seed):
    rng = np.random.default_rng(seed)
    score = rng.random(300)
    correct = rng.random(300) < score
    high, medium = threshold_for(score, correct, 0.9), threshold_for(score, correct, 0.7)
    assert medium is not None
    assert high is None or high >= medium


def test_training_writes_thresholds_that_meet_their_targets_and_the_languages(trained):
    model_dir, result = trained
    params = load_bundle(model_dir).manifest["params"]
    assert params["languages"] == ["en"]
    for head in HEADS:
        chosen = params["confidence"][head]
        assert chosen["high"] is None or chosen["medium"] is None or chosen["high"] >= chosen["medium"]
        for level in ("high", "medium"):
            measured = chosen["validation"][level]
            if chosen[level] is not None:
                assert measured["precision"] >= chosen["targets"][level]
    # Whether a head reaches 90% precision anywhere depends on the data and the settings chosen; on the demo
    # tickets sentiment does (priority's cross-validated C of 16 leaves its calibrated scores below it).
    assert any(params["confidence"][head]["high"] is not None for head in HEADS)
    assert result.card["predictor"]["confidence"] == params["confidence"]
