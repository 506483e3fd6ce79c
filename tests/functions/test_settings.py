"""Function settings: the database URL from DATABASE_URL, else from FIREBASE_CONFIG (set by `firebase deploy`)."""

import json

import pytest

from enrichment import settings


def test_the_database_url_defaults_to_the_projects_default_instance():
    assert settings.load({"GCLOUD_PROJECT": "acme"}).database_url == "https://acme-default-rtdb.firebaseio.com"


def test_firebase_config_names_the_database_when_database_url_does_not():
    config = json.dumps({"projectId": "acme", "databaseURL": "https://acme-eu.europe-west1.firebasedatabase.app"})
    assert (settings.load({"GCLOUD_PROJECT": "acme", "FIREBASE_CONFIG": config}).database_url
            == "https://acme-eu.europe-west1.firebasedatabase.app")
    assert (settings.load({"FIREBASE_CONFIG": config, "DATABASE_URL": "https://other.firebaseio.com"}).database_url
            == "https://other.firebaseio.com")


def test_firebase_config_may_be_a_file(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"databaseURL": "https://acme-default-rtdb.firebaseio.com"}))
    assert settings.load({"FIREBASE_CONFIG": str(path)}).database_url == "https://acme-default-rtdb.firebaseio.com"


def test_firebase_config_without_a_database_falls_back_to_the_default_instance():
    config = json.dumps({"projectId": "acme", "storageBucket": "acme.appspot.com"})
    assert (settings.load({"GCLOUD_PROJECT": "acme", "FIREBASE_CONFIG": config}).database_url
            == "https://acme-default-rtdb.firebaseio.com")


@pytest.mark.parametrize("value", ["{not json", "/nonexistent/config.json", "[1, 2]"])
def test_an_unreadable_firebase_config_is_refused_with_the_rule(value):
    with pytest.raises(ValueError, match=r'^Invalid FIREBASE_CONFIG: ".+"\. It must be a JSON object'):
        settings.load({"FIREBASE_CONFIG": value})


def test_the_log_level_defaults_to_info_and_is_read_case_blind():
    assert settings.load({}).log_level == "INFO"
    assert settings.load({"LOG_LEVEL": "debug"}).log_level == "DEBUG"


def test_an_unknown_log_level_is_refused_with_the_rule():
    with pytest.raises(ValueError, match=r'^Invalid LOG_LEVEL: "chatty"\. Use one of DEBUG, INFO, WARNING, ERROR\.$'):
        settings.load({"LOG_LEVEL": "chatty"})
