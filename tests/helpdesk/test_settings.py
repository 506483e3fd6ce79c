"""Settings come from HELPDESK_* variables, overridden by the factory's mapping or CLI flags."""

from __future__ import annotations

import pytest

from helpdesk.errors import ConfigError
from helpdesk.settings import DEFAULT_API_TOKEN, load_settings


def test_defaults_are_local_only_values():
    settings = load_settings(environ={})
    assert settings.api_token == DEFAULT_API_TOKEN == "dev-helpdesk-token"
    assert settings.webhook_secret == "dev-webhook-secret"
    assert (settings.host, settings.port, settings.webhook_url) == ("127.0.0.1", 5005, "")


def test_environment_then_overrides():
    env = {"HELPDESK_PORT": "6000", "HELPDESK_DB": "/tmp/x.db", "HELPDESK_WEBHOOK_URL": "http://h/w"}
    settings = load_settings({"HELPDESK_PORT": "0", "HELPDESK_DB": None}, environ=env)
    assert (settings.port, settings.db_path, settings.webhook_url) == (0, "/tmp/x.db", "http://h/w")


@pytest.mark.parametrize("overrides, fragment", [
    ({"HELPDESK_PORT": "http"}, 'Invalid HELPDESK_PORT: "http".'),
    ({"HELPDESK_PORT": "70000"}, 'Invalid HELPDESK_PORT: "70000".'),
    ({"HELPDESK_API_TOKEN": ""}, 'Invalid HELPDESK_API_TOKEN: "".'),
    ({"HELPDESK_TYPO": "1"}, 'Invalid setting: "HELPDESK_TYPO".'),
    ({"HELPDESK_WEBHOOK_MAX_ATTEMPTS": "0"}, 'Invalid HELPDESK_WEBHOOK_MAX_ATTEMPTS: "0".'),
])
def test_invalid_settings_name_the_value(overrides, fragment):
    with pytest.raises(ConfigError, match=fragment.replace(".", r"\.")):
        load_settings(overrides, environ={})
