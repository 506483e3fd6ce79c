"""Confidence levels (high / medium / low) of each head's prediction, from thresholds on a score.

A level is a step function of one score per head, higher score, higher level:
  * priority and sentiment: the top class's probability;
  * resolution: minus the width of the interval, log1p(p90) - log1p(p50), so a narrow
    interval is a confident one.
Training (``training.confidence``) chooses the thresholds on validation data for a stated
precision: ``high`` is the lowest score from which the predictions at or above it were right
at least ``targets.high`` of the time (a class: the label; resolution: the solved time within
2x of p50), ``medium`` the same for ``targets.medium``. A threshold of None means no score
reached its target. Bundles without thresholds get ``DEFAULT_THRESHOLDS``, which were not
chosen on any data. The levels are monotone in the score by construction: ``medium`` is
never above ``high``.

May import only the standard library.
"""

import math
from collections.abc import Mapping

HEADS = ("priority", "sentiment", "resolution")
LEVELS = ("high", "medium", "low")
DEFAULT_TARGETS = {
    "priority": {"high": 0.9, "medium": 0.7},
    "sentiment": {"high": 0.9, "medium": 0.7},
    "resolution": {"high": 0.8, "medium": 0.5},
}
"""Stated precision of each level: the share of validation predictions at that level or above
that were right (resolution: solved within 2x of p50)."""
DEFAULT_THRESHOLDS = {
    "priority": {"high": 0.8, "medium": 0.5},
    "sentiment": {"high": 0.8, "medium": 0.5},
    # p90 at most 2x p50 (in log1p hours), at most 4x.
    "resolution": {"high": -math.log(2.0), "medium": -math.log(4.0)},
}


class Levels:
    """The thresholds of one bundle, turning scores into levels.

    Args:
        params: The ``confidence`` entry of a bundle's params, ``{head: {"high": t, "medium":
            t, ...}}``; missing heads take ``DEFAULT_THRESHOLDS``.

    Raises:
        ValueError: A threshold is neither a number nor None.
    """

    def __init__(self, params: Mapping | None):
        params = params if isinstance(params, Mapping) else {}
        self.thresholds: dict[str, tuple[float, float]] = {}
        for head in HEADS:
            given = params.get(head)
            chosen = given if isinstance(given, Mapping) else DEFAULT_THRESHOLDS[head]
            high, medium = _threshold(chosen.get("high")), _threshold(chosen.get("medium"))
            self.thresholds[head] = (high, min(medium, high))

    def level(self, head: str, score: float) -> str:
        """``high``, ``medium`` or ``low`` for one head's score."""
        high, medium = self.thresholds[head]
        if score >= high:
            return "high"
        return "medium" if score >= medium else "low"


def resolution_score(p50_hours: float, p90_hours: float) -> float:
    """The resolution head's score: minus the interval's width in log1p hours."""
    return -(math.log1p(max(p90_hours, 0.0)) - math.log1p(max(p50_hours, 0.0)))


def _threshold(value: object) -> float:
    if value is None:
        return math.inf  # No score reached the target on validation data.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ValueError(f'Invalid confidence threshold: "{value}". Expected a number or null.')
    return float(value)
