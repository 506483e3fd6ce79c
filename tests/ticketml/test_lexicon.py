"""The VADER fallback: shipped with its lexicon, sensible on everyday complaints and thanks."""

import csv
import random
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ticketml import lexicon

COMPLAINTS = [
    "Checkout times out for all our customers… losing sales every minute!",
    "This is unacceptable, I am extremely frustrated with your service.",
    "Your app crashed again and we lost a whole day of work. Terrible.",
]
THANKS = [
    "Thanks a lot for your help, really appreciate it!",
    "Great support, the fix works perfectly. Cheers!",
]


@pytest.mark.parametrize("text", COMPLAINTS)
def test_complaints_are_negative(text):
    assert lexicon.label(text) == "negative" and lexicon.score(text) < 0


@pytest.mark.parametrize("text", THANKS)
def test_thanks_are_positive(text):
    assert lexicon.label(text) == "positive" and lexicon.score(text) > 0


def test_empty_and_plain_text_are_neutral():
    assert lexicon.label("") == "neutral" and lexicon.score("") == 0.0
    assert lexicon.label("The report is attached.") == "neutral"


def test_probabilities_agree_with_the_label():
    for text in [*COMPLAINTS, *THANKS, "Invoice attached."]:
        probs = lexicon.probabilities(text)
        assert sum(probs) == pytest.approx(1.0)
        assert ["negative", "neutral", "positive"][probs.index(max(probs))] == lexicon.label(text)


def test_features_are_four_scores_per_text():
    features = lexicon.features(["Great, thanks!", "", "awful"])
    assert features.shape == (3, len(lexicon.FEATURE_NAMES))
    assert features[0, 3] > 0 > features[2, 3] and features[1, 3] == 0


def test_vader_reads_the_first_hundred_words_as_written():
    words = [f"w{i}" for i in range(250)]
    text = "  ".join(words[:50]) + "\n\n" + "\t".join(words[50:])
    prefix = lexicon.scored_text(text)
    assert prefix.split() == words[:lexicon.MAX_WORDS]
    assert text.startswith(prefix)  # its whitespace kept, cut right after the last word read
    short = "Thanks a lot,\n  really appreciate it!"
    assert lexicon.scored_text(short) == short  # a shorter text is read whole
    exactly = " ".join(words[:lexicon.MAX_WORDS]) + "  "
    assert lexicon.scored_text(exactly) == exactly.rstrip()


def test_a_long_ticket_is_scored_by_its_opening():
    # VADER's own cost grows with the square of the words: a 5,000-character ticket must not cost
    # what reading it whole would (see scored_text). Its opening carries the tone.
    opening = "This is unacceptable, I am extremely frustrated: checkout fails for every customer. "
    log = "INFO request handled in 12 ms by worker 3 for tenant 42 " * 80
    text = (opening + log)[:5000]
    assert len(text.split()) > 4 * lexicon.MAX_WORDS
    np.testing.assert_array_equal(lexicon.features([text]), lexicon.features([lexicon.scored_text(text)]))
    assert lexicon.label(text) == "negative"
    late = log + " This is unacceptable, terrible, awful!"  # a complaint after the opening is not read
    assert lexicon.score(late) == lexicon.score(log)


# --- The windowed analyzer scores exactly as stock VADER -------------------------------------------------------------

DATASETS = Path(__file__).resolve().parents[3] / "shared" / "datasets"
# Words that VADER's look-around checks act on (negations, boosters, "no", "least", "but", idioms' words, "kind of"),
# valence words in several cases, emoticons and a few plain words.
_VADER_WORDS = [
    "not", "never", "isn't", "without", "doubt", "no", "or", "nor", "so", "this", "least", "at", "very", "but",
    "kind", "of", "sort", "extremely", "barely", "hardly", "the", "shit", "bomb", "bad", "ass", "yeah", "right",
    "cut", "mustard", "kiss", "death", "hand", "to", "mouth", "back", "handed", "good", "GOOD", "Good", "great",
    "terrible", "TERRIBLE", "love", "hate", "awful!", "thanks,", "fine.", ":)", ":(", "server", "checkout",
    "again", "really", "😠", "🙂", "!!!", "??", "upgrade", "quite", "die", "for", "bus", "stop", "beating", "heart",
]


def _stock_scores(texts):
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
    stock = SentimentIntensityAnalyzer()
    return [stock.polarity_scores(t) for t in texts]


@given(st.lists(st.sampled_from(_VADER_WORDS) | st.text(min_size=1, max_size=8), min_size=0, max_size=40))
@settings(max_examples=400, deadline=None)
@example(["we", "all", "knew", "it", "was", "the", "kiss", "of", "death"])  # an idiom two words after the scored one
@example(["and", "the", "new", "release", "is", "to", "die", "for"])
@example(["not", "so", "very", "good", "but", "the", "bus", "stop", "is", "never", "this", "bad"])
def test_the_windowed_analyzer_scores_generated_text_as_vader_does(words):
    text = " ".join(words)
    assert lexicon._get_analyzer().polarity_scores(text) == _stock_scores([text])[0]


def test_the_windowed_analyzer_scores_demo_and_real_text_as_vader_does():
    from training.demo_data import generate
    texts = [f"{r['subject']}. {r['description']}" for r in generate(300, seed=5)]
    for folder, file, column in (("twitter-airline-sentiment", "Tweets_exact_ids_reduced_cols.csv", "text"),
                                 ("gitbugs-hadoop", "hadoop_bugs.csv", "Description")):
        source = DATASETS / folder / file
        if source.is_file():  # The public datasets live beside the repository, not beside a clone elsewhere.
            with open(source, encoding="utf-8", newline="") as f:
                rows = list(csv.DictReader(f))
            texts += [lexicon.scored_text(r[column]) for r in random.Random(3).sample(rows, 500)]
    analyzer = lexicon._get_analyzer()
    assert [analyzer.polarity_scores(t) for t in texts] == _stock_scores(texts)
