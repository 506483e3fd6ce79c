"""Language detection: a ticket's language, "und" for too little text, and the review flag."""

import json

import pytest

from ticketml import language
from ticketml.bundle import load_bundle, sha256_file

from .conftest import clone_version

FRENCH = {"subject": "Impossible de se connecter",
          "description": "Bonjour, je ne peux plus me connecter à mon compte depuis ce matin. "
                         "Toute l'équipe est bloquée, merci de nous aider rapidement."}
ENGLISH = {"subject": "Cannot log in since this morning",
           "description": "Every login fails. Production is down for our whole team!"}


@pytest.mark.parametrize("text, code", [
    (ENGLISH["subject"] + "\n" + ENGLISH["description"], "en"),
    (FRENCH["subject"] + "\n" + FRENCH["description"], "fr"),
    ("Wir wurden diesen Monat zweimal belastet, bitte erstatten Sie den doppelten Betrag.", "de"),
    ("No puedo iniciar sesión desde esta mañana, todo el equipo está bloqueado.", "es"),
])
def test_the_language_of_a_ticket_is_detected(text, code):
    assert language.detect(text) == code


@pytest.mark.parametrize("text", ["", "   ", "ok", "Login broken", "[EMAIL] [PHONE]", "12345"])
def test_too_little_text_is_undetermined(text):
    assert language.detect(text) == language.UNDETERMINED


def test_text_cld2_would_refuse_is_cleaned_not_raised():
    text = "help\x00\x85 me \ud800 please, the login fails every time since the update yesterday"
    assert language.detect(text) == "en"


def test_training_languages_keep_the_common_ones():
    texts = [ENGLISH["description"]] * 100 + [FRENCH["description"]] * 30 + ["ok"] * 50
    assert language.training_languages(texts) == ["en", "fr"]
    assert language.training_languages(texts, min_count=31) == ["en"]
    assert language.training_languages(["ok", ""]) == []


def test_a_french_ticket_is_detected_and_flagged(shipped_bundle):
    result = shipped_bundle.predict(FRENCH)
    assert result["language"] == "fr"
    assert result["needs_review"] and "language:fr" in result["review_reasons"]
    english = shipped_bundle.predict({**ENGLISH, "impact": 4, "category": "authentication"})
    assert english["language"] == "en"
    assert not any(r.startswith("language:") for r in english["review_reasons"])


def test_a_short_ticket_is_undetermined_and_not_flagged_for_language(shipped_bundle):
    result = shipped_bundle.predict({"subject": "Help", "description": "ok"})
    assert result["language"] == "und"
    assert not any(r.startswith("language:") for r in result["review_reasons"])


def test_bundles_name_their_training_languages(model_dir, shipped_bundle):
    assert shipped_bundle.predictor.languages == frozenset(language.DEFAULT_LANGUAGES)
    target = clone_version(model_dir, "bilingual")
    manifest = json.loads((target / "manifest.json").read_text())
    manifest["params"]["languages"] = ["en", "fr"]
    (target / "manifest.json").write_text(json.dumps(manifest))
    _rehash(model_dir, target)
    bundle = load_bundle(model_dir)
    assert bundle.predictor.languages == {"en", "fr"}
    result = bundle.predict(FRENCH)
    assert result["language"] == "fr" and "language:fr" not in result["review_reasons"]


def _rehash(model_dir, target):
    """Re-pin the edited manifest in current.json, as publishing does."""
    current = json.loads((model_dir / "current.json").read_text())
    current["manifest_sha256"] = sha256_file(target / "manifest.json")
    (model_dir / "current.json").write_text(json.dumps(current))
