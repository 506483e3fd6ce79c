"""A small dictionary-based sentiment scorer: the fallback when training data has no labels.

Deliberately simple (word lists, one-word negation, ``tanh`` squashing) and unmeasured on real
data; a bundle says in its card when it uses this fallback. It exists so that a model trained
on a source without sentiment labels still honours the enrichment contract.
"""

import math
import re

_POSITIVE = frozenset("""
    thank thanks thankful grateful appreciate appreciated awesome great excellent amazing
    love loving helpful wonderful fantastic perfect pleased happy glad quick quickly
    brilliant kudos superb smooth resolved impressed nice good best cheers
""".split())
_NEGATIVE = frozenset("""
    angry annoyed annoying frustrated frustrating furious unacceptable ridiculous terrible
    awful horrible worst useless disappointed disappointing outrageous pathetic fed
    broken fail failed failing failure hate incompetent nightmare poor bad slow again
    disgusting waste wasted joke mess unhappy upset cancel complaint lost losing
""".split())
_NEGATIONS = frozenset({"not", "no", "never", "hardly", "isn't", "wasn't", "don't", "didn't"})
_WORD = re.compile(r"[a-z']+")
_SQUASH = 2.0


def score(text: str) -> float:
    """Return a sentiment score in [-1, 1] for English text (0 when no cue word is found)."""
    total = 0
    previous = ""
    for word in _WORD.findall(text.lower()):
        polarity = (word in _POSITIVE) - (word in _NEGATIVE)
        if polarity and previous in _NEGATIONS:
            polarity = -polarity
        total += polarity
        previous = word
    return math.tanh(total / _SQUASH)


def probabilities(text: str) -> list[float]:
    """Return pseudo-probabilities [negative, neutral, positive] whose pos - neg is ``score``."""
    s = score(text)
    return [max(-s, 0.0), 1.0 - abs(s), max(s, 0.0)]
