"""Function settings, read from the environment in one place (Cloud Functions sets them at deploy).

| variable | meaning | local default |
|---|---|---|
| GCLOUD_PROJECT / GOOGLE_CLOUD_PROJECT | project id | demo-tickets |
| DATABASE_URL | Realtime Database URL | FIREBASE_CONFIG's `databaseURL`, else https://<project>-default-rtdb.firebaseio.com |
| FIREBASE_CONFIG | set by `firebase deploy`: JSON (or a file of it) with the project's `databaseURL` | (unset) |
| FIREBASE_DATABASE_EMULATOR_HOST | set only locally: firebase-admin talks to the emulator | (unset) |
| MODEL_DIR | model bundle folder | functions/model if present, else ../model |
| HELPDESK_URL | Zendesk base URL (https://<subdomain>.zendesk.com) or the stub | http://127.0.0.1:5005 |
| HELPDESK_EMAIL | agent e-mail for Zendesk API-token auth (empty: Bearer token) | (empty) |
| HELPDESK_API_TOKEN | Zendesk API token | dev-helpdesk-token |
| HELPDESK_WEBHOOK_SECRET | signing secret of the helpdesk's webhook | dev-webhook-secret |
| HELPDESK_TIMEOUT_S | seconds per helpdesk call | 10 |
| LOG_LEVEL | DEBUG, INFO, WARNING or ERROR; DEBUG adds a line for each event skipped because the fields the model reads did not change (the function's own write-back, one of each ticket's two events) | INFO |
"""

import json
import os
from dataclasses import dataclass
from pathlib import Path

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
_HERE = Path(__file__).resolve().parent.parent  # the functions/ folder


@dataclass(frozen=True)
class Settings:
    project: str
    database_url: str
    model_dir: Path
    helpdesk_url: str
    helpdesk_email: str
    helpdesk_token: str
    webhook_secret: str
    helpdesk_timeout_s: float
    log_level: str = "INFO"


def load(env=None) -> Settings:
    """Settings from `env` (defaults to os.environ).

    Raises:
      ValueError: FIREBASE_CONFIG or LOG_LEVEL is set to something unusable.
    """
    env = os.environ if env is None else env
    log_level = (env.get("LOG_LEVEL") or "INFO").upper()
    if log_level not in LOG_LEVELS:
        raise ValueError(f'Invalid LOG_LEVEL: "{env.get("LOG_LEVEL")}". Use one of {", ".join(LOG_LEVELS)}.')
    project = env.get("GCLOUD_PROJECT") or env.get("GOOGLE_CLOUD_PROJECT") or "demo-tickets"
    model_dir = env.get("MODEL_DIR")
    if not model_dir:
        model_dir = _HERE / "model" if (_HERE / "model" / "current.json").exists() else _HERE.parent / "model"
    return Settings(
        project=project,
        database_url=(env.get("DATABASE_URL") or _firebase_config(env.get("FIREBASE_CONFIG")).get("databaseURL")
                      or f"https://{project}-default-rtdb.firebaseio.com"),
        model_dir=Path(model_dir),
        helpdesk_url=(env.get("HELPDESK_URL") or "http://127.0.0.1:5005").rstrip("/"),
        helpdesk_email=env.get("HELPDESK_EMAIL", ""),
        helpdesk_token=env.get("HELPDESK_API_TOKEN") or "dev-helpdesk-token",
        webhook_secret=env.get("HELPDESK_WEBHOOK_SECRET") or "dev-webhook-secret",
        helpdesk_timeout_s=float(env.get("HELPDESK_TIMEOUT_S") or 10),
        log_level=log_level,
    )


def _firebase_config(value: str | None) -> dict:
    """FIREBASE_CONFIG as firebase-admin reads it: a JSON object, or the path of a file holding one.

    Raises:
      ValueError: it is set but is neither.
    """
    if not value:
        return {}
    try:
        config = json.loads(value if value.lstrip().startswith("{") else Path(value).read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f'Invalid FIREBASE_CONFIG: "{value[:200]}". It must be a JSON object or the path of a '
                         f"file holding one ({exc}).") from exc
    if not isinstance(config, dict):
        raise ValueError(f'Invalid FIREBASE_CONFIG: "{value[:200]}". It must be a JSON object.')
    return config
