"""The database URLs ``train --database`` accepts, and the namespace (database instance) each reads.

Forms, as firebase-admin and the Firebase CLI write them:

  * ``https://<namespace>.firebaseio.com`` or ``https://<namespace>.<region>.firebasedatabase.app``:
    Firebase, or the emulator at ``FIREBASE_DATABASE_EMULATOR_HOST`` when that is set; the
    namespace is the host's first label (firebase-admin's rule);
  * ``http://host:port`` or ``http://host:port/``, with or without ``?ns=<namespace>``: an
    emulator. Without ``?ns=`` the namespace is the one the function writes to, as the Firebase
    CLI chooses it for emulated functions: the first label of ``DATABASE_URL`` if set, else the
    project's default instance ``<project>-default-rtdb``, the project being ``GCLOUD_PROJECT``,
    ``GOOGLE_CLOUD_PROJECT``, the ``default`` of ``.firebaserc`` next to the nearest
    ``firebase.json`` at or above the working directory, else ``demo-tickets``.

``resolve`` turns any of them into the URL firebase-admin is given (always with ``?ns=`` for an
emulator, since firebase-admin refuses an http URL without it).
"""

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from training.data import DataError

EMULATOR_ENV = "FIREBASE_DATABASE_EMULATOR_HOST"
DATABASE_URL_ENV = "DATABASE_URL"
PROJECT_ENVS = ("GCLOUD_PROJECT", "GOOGLE_CLOUD_PROJECT")
DEFAULT_PROJECT = "demo-tickets"
DEFAULT_INSTANCE_SUFFIX = "-default-rtdb"
RULE = ("It must be http://host:port for an emulator (optionally with /?ns=<namespace>), "
        "https://<namespace>.firebaseio.com or https://<namespace>.<region>.firebasedatabase.app")

# The emulator's own check of a namespace (emulator/rest.py): a bad one fails here, with the rule.
_NAMESPACE = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_FIREBASE_HOST = re.compile(r"([^.]+)\.(?:firebaseio\.com|[a-z0-9-]+\.firebasedatabase\.app)")
_UNSAFE = re.compile(r"[\s\x00-\x1f\x7f]")


@dataclass(frozen=True)
class DatabaseURL:
    """A resolved database URL.

    Attributes:
        url: What firebase-admin is given (``http://host:port/?ns=<ns>`` or ``https://<host>``).
        namespace: The database instance read.
        emulator: ``host:port`` of the emulator read, or None for Firebase itself.
    """

    url: str
    namespace: str
    emulator: str | None

    def __str__(self) -> str:
        if self.emulator and self.url.startswith("https://"):  # the emulator is not in the URL
            return f"{self.url} (emulator {self.emulator})"
        return self.url


def resolve(value: str | None, environ: Mapping[str, str] | None = None, *,
            name: str = "--database", cwd: Path | None = None) -> DatabaseURL:
    """The database a URL names, in the form firebase-admin is given.

    Args:
        value: A URL in one of the module docstring's forms; empty or None means the default
            (``DATABASE_URL``, else ``https://<project>-default-rtdb.firebaseio.com``).
        environ: The environment (defaults to ``os.environ``).
        name: What the value is called in an error message (a flag or a variable).
        cwd: Where ``.firebaserc`` is looked for (defaults to the working directory).

    Raises:
        DataError: The URL is not one of the forms (the message quotes it and states the rule),
            or ``.firebaserc`` cannot be read.
    """
    environ = os.environ if environ is None else environ
    if not value:
        value, name = default_url(environ, cwd), DATABASE_URL_ENV
    if _UNSAFE.search(value):
        raise _invalid(name, value, "It contains spaces or control characters")
    parsed = urlparse(value)
    try:
        port = parsed.port
    except ValueError:
        raise _invalid(name, value, "Its port must be a number from 0 to 65535") from None
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise _invalid(name, value, RULE)
    if parsed.username is not None or parsed.params or parsed.fragment:
        raise _invalid(name, value, f"{RULE}, with no user, ';' parameters or '#' fragment")
    if parsed.path not in ("", "/"):
        raise _invalid(name, value, f"{RULE}; it has no path (the tickets' location is --path)")
    query = parse_qs(parsed.query, keep_blank_values=True)
    if parsed.scheme == "https":
        host = _FIREBASE_HOST.fullmatch(parsed.hostname)
        if host is None or port is not None or query:
            raise _invalid(name, value, RULE)
        namespace = _namespace(name, value, host.group(1))
        emulator = environ.get(EMULATOR_ENV) or None
        return DatabaseURL(f"https://{parsed.hostname}", namespace, emulator)
    if set(query) - {"ns"} or len(query.get("ns", ())) > 1:
        raise _invalid(name, value, f"{RULE}; the only query parameter is one ns")
    if "ns" in query:
        namespace = _namespace(name, value, query["ns"][0])
    else:
        namespace = default_namespace(environ, cwd)
    return DatabaseURL(f"http://{parsed.netloc}/?ns={namespace}", namespace, parsed.netloc)


def default_url(environ: Mapping[str, str], cwd: Path | None = None) -> str:
    """The database URL the function uses: ``DATABASE_URL``, else the project's default instance."""
    return (environ.get(DATABASE_URL_ENV)
            or f"https://{project(environ, cwd)}{DEFAULT_INSTANCE_SUFFIX}.firebaseio.com")


def default_namespace(environ: Mapping[str, str], cwd: Path | None = None) -> str:
    """The namespace of an emulator URL without ``?ns=``: the one the function writes to.

    Raises:
        DataError: ``DATABASE_URL`` is set but is not a database URL.
    """
    if environ.get(DATABASE_URL_ENV):
        without = {k: v for k, v in environ.items() if k != DATABASE_URL_ENV}
        return resolve(environ[DATABASE_URL_ENV], without, name=DATABASE_URL_ENV, cwd=cwd).namespace
    return f"{project(environ, cwd)}{DEFAULT_INSTANCE_SUFFIX}"


def project(environ: Mapping[str, str], cwd: Path | None = None) -> str:
    """The project id: ``GCLOUD_PROJECT``, ``GOOGLE_CLOUD_PROJECT``, ``.firebaserc`` or demo-tickets.

    Raises:
        DataError: The ``.firebaserc`` found is not valid JSON.
    """
    for variable in PROJECT_ENVS:
        if environ.get(variable):
            return environ[variable]
    return _project_from_rc(Path.cwd() if cwd is None else cwd) or DEFAULT_PROJECT


def _project_from_rc(start: Path) -> str | None:
    # The Firebase CLI's project directory is the nearest one holding firebase.json.
    for folder in (start, *start.parents):
        if (folder / "firebase.json").is_file():
            rc = folder / ".firebaserc"
            if not rc.is_file():
                return None
            try:
                projects = json.loads(rc.read_text(encoding="utf-8")).get("projects", {})
            except (OSError, ValueError, AttributeError) as exc:
                raise DataError(f'Invalid .firebaserc: "{rc}". It must be a JSON object with '
                                f'"projects": {{"default": "<project id>"}} ({exc}).') from exc
            default = projects.get("default") if isinstance(projects, dict) else None
            return default if isinstance(default, str) and default else None
    return None


def _namespace(name: str, value: str, namespace: str) -> str:
    if not _NAMESPACE.fullmatch(namespace):
        raise _invalid(name, value, f'Its namespace "{namespace}" must be lowercase letters, '
                                    "digits and hyphens, starting with a letter or digit")
    return namespace


def _invalid(name: str, value: str, rule: str) -> DataError:
    return DataError(f'Invalid {name}: "{value}". {rule}.')
