"""Dictionary-based sentiment for arbitrary English: VADER (vaderSentiment, MIT licence).

VADER's word and emoji lexicons ship inside the package; nothing is downloaded. It serves
twice: as the sentiment head of a bundle trained on data without sentiment labels, and as
four extra features (neg, neu, pos, compound) of a trained sentiment head, which keeps a
model trained on one kind of text honest on words it never saw ("losing sales every
minute!"). Its quality on real text is measured by ``training.evaluate`` (the "lexicon"
row of the sentiment metrics) and in ``bench/results/models.json``.
"""

import re
import threading

import numpy as np

FEATURE_NAMES = ("lexicon_neg", "lexicon_neu", "lexicon_pos", "lexicon_compound")
NEUTRAL_BAND = 0.05
"""|compound| below this is neutral: the thresholds VADER's authors recommend."""
# VADER reads a ticket's opening only. As shipped, its cost grows with the square of the words (each word with a
# valence lower-cases the whole text again, three or four times): 11 ms for 1,700 characters of ordinary prose and
# 59 ms for 4,700, where 100 words took under 1 ms. ``_WindowedAnalyzer`` hands those checks only the words they read,
# which makes the cost linear, but the cap stays: a ticket's opening carries its tone, the trained heads read VADER's
# scores of it, and the demo tickets (69 words at most) and the airline tweets (36) are read whole anyway.
# Measured in the README ("Models").
MAX_WORDS = 100
_MAX_CHARS = 2_000  # and at most this much of it (a few very long "words", such as a pasted token)
_WORD = re.compile(r"\S+")

_lock = threading.Lock()
_analyzer = None


def score(text: str) -> float:
    """Return VADER's compound score in [-1, 1] (0 for empty or cue-less text)."""
    return float(_scores(text)["compound"])


def label(text: str) -> str:
    """Return negative | neutral | positive by VADER's recommended thresholds."""
    return label_of(score(text))


def label_of(compound: float) -> str:
    """Return the label of a compound score (see ``label``)."""
    if compound >= NEUTRAL_BAND:
        return "positive"
    return "negative" if compound <= -NEUTRAL_BAND else "neutral"


def probabilities(text: str) -> list[float]:
    """Return pseudo-probabilities [negative, neutral, positive] for ``text``.

    Their argmax agrees with ``label``: inside the neutral band neutral dominates, outside it
    the polar side, the more so the stronger the compound score.
    """
    return probabilities_of(score(text))


def probabilities_of(s: float) -> list[float]:
    """Pseudo-probabilities of a compound score (see ``probabilities``)."""
    if abs(s) < NEUTRAL_BAND:
        return [max(-s, 0.0), 1.0 - abs(s), max(s, 0.0)]
    polar = 0.5 + abs(s) / 2
    rest = 1.0 - polar
    return [polar if s < 0 else 0.0, rest, polar if s > 0 else 0.0]


def features(texts: list[str]) -> np.ndarray:
    """Return an (n, 4) float32 array of VADER's neg, neu, pos and compound per text."""
    out = np.zeros((len(texts), len(FEATURE_NAMES)), dtype=np.float32)
    for i, text in enumerate(texts):
        s = _scores(text)
        out[i] = (s["neg"], s["neu"], s["pos"], s["compound"])
    return out


def valences(words: list[str]) -> dict[str, float]:
    """VADER's valence (-4 to 4) of each of ``words`` (lower-case) that its lexicon holds."""
    lexicon_ = _get_analyzer().lexicon
    return {w: float(lexicon_[w]) for w in words if w in lexicon_}


def scored_text(text: str) -> str:
    """The part of ``text`` VADER reads: its first ``MAX_WORDS`` whitespace-separated words (of its first
    2,000 characters), exactly as written; the whole text when it is shorter."""
    text = text[:_MAX_CHARS]
    for n, word in enumerate(_WORD.finditer(text), start=1):
        if n == MAX_WORDS:
            return text[:word.end()]
    return text


def _scores(text: str) -> dict:
    if not text:
        return {"neg": 0.0, "neu": 1.0, "pos": 0.0, "compound": 0.0}
    return _get_analyzer().polarity_scores(scored_text(text))


def _get_analyzer():
    global _analyzer
    if _analyzer is None:
        with _lock:
            if _analyzer is None:
                _analyzer = _windowed_analyzer_class()()
    return _analyzer


# The checks' reach: the three words before a valence word and the two after it.
_BEFORE, _AFTER = 3, 2


def _windowed_analyzer_class():
    """VADER's analyzer, whose two look-around checks are handed the words around the scored one only.

    ``_negation_check`` and ``_special_idioms_check`` lower-case every word of the text on each call, to read at
    most three before the word and two after it; VADER calls them for each of up to three preceding words of each
    word with a valence. Given those words alone, at the same relative place, they compute the same values in the
    same order, so the scores are bit for bit VADER's (``tests/ticketml/test_lexicon.py`` compares them with the
    stock analyzer's on generated and real text). Neither check is reached with fewer than one (negation) or three
    (idioms) words before the scored one, so no index the window shifts was negative before.
    """
    # Imported here: reading the lexicons takes ~0.1 s, paid on first use only.
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    class _WindowedAnalyzer(SentimentIntensityAnalyzer):
        @staticmethod
        def _negation_check(valence, words_and_emoticons, start_i, i):
            start = max(i - _BEFORE, 0)
            return SentimentIntensityAnalyzer._negation_check(
                valence, words_and_emoticons[start:i + _AFTER + 1], start_i, i - start)

        @staticmethod
        def _special_idioms_check(valence, words_and_emoticons, i):
            start = max(i - _BEFORE, 0)
            return SentimentIntensityAnalyzer._special_idioms_check(
                valence, words_and_emoticons[start:i + _AFTER + 1], i - start)

    return _WindowedAnalyzer
