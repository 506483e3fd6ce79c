"""The VADER fallback: shipped with its lexicon, sensible on everyday complaints and thanks."""

import numpy as np
import pytest

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
