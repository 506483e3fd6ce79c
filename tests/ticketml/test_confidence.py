"""Confidence levels: monotone in the score, from a bundle's thresholds or the defaults."""

import math

import numpy as np
import pytest

from ticketml.confidence import DEFAULT_THRESHOLDS, HEADS, Levels, resolution_score
from training import demo_data

RANK = {"low": 0, "medium": 1, "high": 2}


@pytest.mark.parametrize("params", [
    None,
    {},
    {"priority": {"high": 0.93, "medium": 0.61}, "sentiment": {"high": None, "medium": 0.4},
     "resolution": {"high": -0.5, "medium": -1.5}},
    # A medium threshold above high is capped at high, so levels stay monotone.
    {"priority": {"high": 0.6, "medium": 0.8}},
])
def test_levels_are_monotone_in_the_score(params):
    levels = Levels(params)
    for head in HEADS:
        scores = np.linspace(-5, 1.5, 2001) if head == "resolution" else np.linspace(0, 1, 1001)
        ranks = [RANK[levels.level(head, float(s))] for s in scores]
        assert all(a <= b for a, b in zip(ranks, ranks[1:])), head


def test_thresholds_split_the_levels():
    levels = Levels({"priority": {"high": 0.9, "medium": 0.7}})
    assert [levels.level("priority", p) for p in (0.95, 0.9, 0.8, 0.7, 0.5)] == [
        "high", "high", "medium", "medium", "low"]


def test_a_target_never_reached_gives_no_such_level():
    levels = Levels({"sentiment": {"high": None, "medium": None}})
    assert levels.level("sentiment", 1.0) == "low"


def test_bundles_without_thresholds_use_the_defaults():
    assert Levels(None).thresholds["priority"] == (DEFAULT_THRESHOLDS["priority"]["high"],
                                                   DEFAULT_THRESHOLDS["priority"]["medium"])


def test_a_narrow_resolution_interval_is_more_confident():
    narrow, wide = resolution_score(10.0, 15.0), resolution_score(10.0, 80.0)
    assert narrow > wide
    assert resolution_score(10.0, 10.0) == 0.0
    assert Levels(None).level("resolution", resolution_score(10, 15)) == "high"
    assert Levels(None).level("resolution", resolution_score(10, 80)) == "low"
    assert resolution_score(3.0, 7.0) == pytest.approx(-(math.log1p(7) - math.log1p(3)))


def test_a_bad_threshold_is_refused():
    with pytest.raises(ValueError, match="Invalid confidence threshold"):
        Levels({"priority": {"high": "very", "medium": 0.5}})


def test_the_predictor_levels_follow_its_probability(shipped_bundle):
    """Across many tickets, a higher top probability never gets a lower priority level."""
    results = shipped_bundle.predictor.predict_many(list(demo_data.generate(200, 3)), explain=False)
    pairs = sorted((max(r["priority_scores"].values()), RANK[r["confidence"]["priority"]])
                   for r in results)
    ranks = [rank for _, rank in pairs]
    assert ranks == sorted(ranks)
    assert len(set(ranks)) >= 2
