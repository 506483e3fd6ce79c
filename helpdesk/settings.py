"""Every setting of the helpdesk stub, read in one place from environment variables.

Flags of ``python -m helpdesk`` and the mapping given to ``create_app`` override the same names.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping

from helpdesk.errors import ConfigError

DEFAULT_DB = ".data/helpdesk.sqlite3"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5005
# Local-only defaults: a real deployment points the client at Zendesk with a real token.
DEFAULT_API_TOKEN = "dev-helpdesk-token"
DEFAULT_WEBHOOK_SECRET = "dev-webhook-secret"
DEFAULT_WEBHOOK_MAX_ATTEMPTS = 5
DEFAULT_WEBHOOK_BACKOFF_SECONDS = 0.5
DEFAULT_WEBHOOK_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class Settings:
    """Resolved configuration of one stub instance.

    Attributes:
        db_path: SQLite file (``:memory:`` keeps everything in memory for one process).
        api_token: the token accepted in Basic ``email/token:TOKEN`` or Bearer auth.
        webhook_url: where solve/close events are POSTed; empty disables webhooks.
        webhook_secret: HMAC-SHA256 key for the Zendesk-style webhook signature.
        public_url: base of ticket ``url`` fields; empty uses the request's own host.
        host: interface the CLI server binds.
        port: TCP port the CLI server binds (0 picks a free one).
        webhook_max_attempts: deliveries tried this many times before being marked failed.
        webhook_backoff_seconds: first retry delay, doubled after each failure.
        webhook_timeout_seconds: per-attempt HTTP timeout.
    """

    db_path: str = DEFAULT_DB
    api_token: str = DEFAULT_API_TOKEN
    webhook_url: str = ""
    webhook_secret: str = DEFAULT_WEBHOOK_SECRET
    public_url: str = ""
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    webhook_max_attempts: int = DEFAULT_WEBHOOK_MAX_ATTEMPTS
    webhook_backoff_seconds: float = DEFAULT_WEBHOOK_BACKOFF_SECONDS
    webhook_timeout_seconds: float = DEFAULT_WEBHOOK_TIMEOUT_SECONDS


# Environment variable -> (Settings field, converter).
_VARIABLES = {
    "HELPDESK_DB": ("db_path", str),
    "HELPDESK_API_TOKEN": ("api_token", str),
    "HELPDESK_WEBHOOK_URL": ("webhook_url", str),
    "HELPDESK_WEBHOOK_SECRET": ("webhook_secret", str),
    "HELPDESK_PUBLIC_URL": ("public_url", str),
    "HELPDESK_HOST": ("host", str),
    "HELPDESK_PORT": ("port", int),
    "HELPDESK_WEBHOOK_MAX_ATTEMPTS": ("webhook_max_attempts", int),
    "HELPDESK_WEBHOOK_BACKOFF_SECONDS": ("webhook_backoff_seconds", float),
    "HELPDESK_WEBHOOK_TIMEOUT_SECONDS": ("webhook_timeout_seconds", float),
}


def load_settings(overrides: Mapping[str, object] | None = None,
                  environ: Mapping[str, str] | None = None) -> Settings:
    """Builds the settings from the environment, then applies overrides of the same names.

    Args:
        overrides: values keyed by environment variable name (``HELPDESK_DB``...), e.g. the
            mapping given to ``create_app`` or the CLI flags; ``None`` values are ignored.
        environ: the environment to read; ``os.environ`` when omitted.

    Returns:
        The resolved, validated ``Settings``.

    Raises:
        ConfigError: a value has the wrong form or an unknown name is overridden.
    """
    merged: dict[str, object] = dict(os.environ if environ is None else environ)
    for name, value in (overrides or {}).items():
        if name not in _VARIABLES:
            raise ConfigError(f'Invalid setting: "{name}". Known settings: {", ".join(_VARIABLES)}.')
        if value is not None:
            merged[name] = value
    values = {}
    for name, (field, convert) in _VARIABLES.items():
        if name not in merged:
            continue
        try:
            values[field] = convert(merged[name])
        except (TypeError, ValueError) as exc:
            raise ConfigError(f'Invalid {name}: "{merged[name]}". Expected {convert.__name__}.') from exc
    settings = Settings(**values)
    _check(settings)
    return settings


def _check(settings: Settings) -> None:
    if not 0 <= settings.port <= 65535:
        raise ConfigError(f'Invalid HELPDESK_PORT: "{settings.port}". Must be 0-65535.')
    if settings.webhook_max_attempts < 1:
        raise ConfigError(f'Invalid HELPDESK_WEBHOOK_MAX_ATTEMPTS: "{settings.webhook_max_attempts}". '
                          "Must be at least 1.")
    if settings.webhook_backoff_seconds < 0 or settings.webhook_timeout_seconds <= 0:
        raise ConfigError("Invalid webhook timing: backoff must be >= 0 and timeout > 0.")
    if not settings.api_token:
        raise ConfigError('Invalid HELPDESK_API_TOKEN: "". Must not be empty.')
