"""The VADER fallback: shipped with its lexicon, sensible on everyday complaints and thanks."""

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
