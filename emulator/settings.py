"""Emulator settings: firebase.json, then environment variables, then command-line flags.

Everything the emulator is told comes through `load_settings`; nothing else reads the
environment. Environment variables: RTDB_EMULATOR_CONFIG, RTDB_EMULATOR_HOST, RTDB_EMULATOR_PORT,
RTDB_EMULATOR_DATA_DIR, RTDB_EMULATOR_IMPORT, RTDB_EMULATOR_EXPORT_ON_EXIT, RTDB_EMULATOR_IN_MEMORY,
RTDB_EMULATOR_TRIGGERS, HOSTING_EMULATOR_PORT, AUTH_EMULATOR_PORT, GCLOUD_PROJECT; trigger URLs may use
`${VAR:-default}`. Firebase's CLI reads ports from firebase.json only; the variables are this emulator's.
"""

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from emulator.errors import ConfigError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9000
DEFAULT_HOSTING_PORT = 5000
DEFAULT_AUTH_PORT = 9099  # Firebase's Auth emulator port
DEFAULT_PROJECT = "demo-tickets"
DEFAULT_DATA_DIR = ".data/database"
DEFAULT_KEEP_ALIVE_S = 30.0
DEFAULT_TRIGGERS_FILE = "triggers.json"
_ENV_REF = re.compile(r"\$\{([A-Z0-9_]+)(?::-([^}]*))?\}")


@dataclass
class Settings:
    """Resolved settings of one emulator process."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    project: str = DEFAULT_PROJECT
    data_dir: Path | None = None  # None: in memory
    import_dir: Path | None = None
    export_on_exit: Path | None = None
    rules_file: Path | None = None
    hosting_port: int | None = None  # None: no hosting
    hosting_public: Path | None = None
    hosting_ignore: list = field(default_factory=list)  # globs, as firebase.json hosting.ignore
    auth_host: str = DEFAULT_HOST
    auth_port: int | None = None  # None: the Auth emulator is served on the database port only
    config_dir: Path = field(default_factory=Path.cwd)
    triggers: list = field(default_factory=list)
    keep_alive_s: float = DEFAULT_KEEP_ALIVE_S

    @property
    def namespace(self) -> str:
        """The default database instance, `<project>-default-rtdb` as Firebase names it."""
        return f"{self.project}-default-rtdb"


def load_settings(args=None, env=None) -> Settings:
    """Merge firebase.json, environment and flags.

    Args:
      args: parsed flags (argparse Namespace with config, host, port, data_dir, import_dir,
        export_on_exit, in_memory, hosting_port, auth_port, project); None values fall through.
      env: the environment mapping (defaults to os.environ).

    Raises:
      ConfigError: a file is missing or invalid, or a value has the wrong type.
    """
    env = os.environ if env is None else env
    flag = (lambda name: getattr(args, name, None)) if args is not None else (lambda name: None)
    config_path = Path(flag("config") or env.get("RTDB_EMULATOR_CONFIG") or "firebase.json")
    config = _read_json(config_path, "config") if config_path.exists() else {}
    if not config_path.exists() and (flag("config") or env.get("RTDB_EMULATOR_CONFIG")):
        named = "--config" if flag("config") else "RTDB_EMULATOR_CONFIG"  # only ./firebase.json is optional
        raise ConfigError(f'Invalid {named}: "{config_path}". The file does not exist.')
    base = config_path.resolve().parent
    emulators = _section(config, "emulators", config_path)
    db_conf = _section(emulators, "database", config_path)
    hosting_conf = _section(emulators, "hosting", config_path)
    auth_conf = _section(emulators, "auth", config_path)

    s = Settings(config_dir=base)
    s.host = flag("host") or env.get("RTDB_EMULATOR_HOST") or db_conf.get("host") or DEFAULT_HOST
    s.port = _port(flag("port"), env.get("RTDB_EMULATOR_PORT"), db_conf.get("port"), DEFAULT_PORT, "port")
    s.project = flag("project") or env.get("GCLOUD_PROJECT") or _project_from_rc(base) or DEFAULT_PROJECT
    if flag("in_memory") and flag("data_dir"):
        raise ConfigError("Invalid flags: --in-memory and --data-dir exclude each other.")
    if flag("in_memory") or flag("data_dir"):  # a flag overrides both variables
        in_memory, data_dir = bool(flag("in_memory")), flag("data_dir")
    else:
        in_memory = env.get("RTDB_EMULATOR_IN_MEMORY", "").lower() in ("1", "true", "yes")
        data_dir = env.get("RTDB_EMULATOR_DATA_DIR")
    s.data_dir = None if in_memory else Path(data_dir) if data_dir else base / DEFAULT_DATA_DIR
    imp = flag("import_dir") or env.get("RTDB_EMULATOR_IMPORT")
    s.import_dir = Path(imp) if imp else None
    if s.import_dir is not None and not s.import_dir.is_dir():
        named = "--import" if flag("import_dir") else "RTDB_EMULATOR_IMPORT"
        raise ConfigError(f'Invalid {named}: "{s.import_dir}". It must be a directory (an emulator export).')
    exp = flag("export_on_exit") or env.get("RTDB_EMULATOR_EXPORT_ON_EXIT")
    s.export_on_exit = Path(exp) if exp else None
    s.rules_file = _rules_file(config.get("database"), base, config_path)
    hosting = _section(config, "hosting", config_path)
    public = hosting.get("public")
    if public:
        s.hosting_public = base / public
        s.hosting_ignore = [g for g in hosting.get("ignore", []) if isinstance(g, str)]
        s.hosting_port = _port(flag("hosting_port"), env.get("HOSTING_EMULATOR_PORT"), hosting_conf.get("port"),
                               DEFAULT_HOSTING_PORT, "hosting port")
    # The Auth emulator always answers on the database port; its own port (Firebase's emulators.auth) is opt-in.
    if flag("auth_port") is not None or env.get("AUTH_EMULATOR_PORT") or "auth" in emulators:
        s.auth_port = _port(flag("auth_port"), env.get("AUTH_EMULATOR_PORT"), auth_conf.get("port"),
                            DEFAULT_AUTH_PORT, "auth port")
        s.auth_host = auth_conf.get("host") or s.host
        if not isinstance(s.auth_host, str):
            raise ConfigError(f'Invalid emulators.auth.host: {json.dumps(s.auth_host)}. It must be a string.')
    s.triggers = _triggers(flag("triggers") or env.get("RTDB_EMULATOR_TRIGGERS"), base, env,
                           "--triggers" if flag("triggers") else "RTDB_EMULATOR_TRIGGERS")
    keep_alive = flag("keep_alive")
    if keep_alive is not None:
        s.keep_alive_s = float(keep_alive)
    return s


def _read_json(path: Path, what: str):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f'Invalid {what}: "{path}". It cannot be read ({exc.strerror}).') from exc
    except ValueError as exc:
        raise ConfigError(f'Invalid {what}: "{path}". It is not valid JSON ({exc}).') from exc


def _section(parent: dict, key: str, path: Path) -> dict:
    value = parent.get(key, {}) if isinstance(parent, dict) else {}
    if not isinstance(value, dict):
        raise ConfigError(f'Invalid config: "{path}". "{key}" must be an object, found {json.dumps(value)}.')
    return value


def _port(flag_value, env_value, config_value, default, what) -> int:
    raw = next((v for v in (flag_value, env_value, config_value) if v is not None and v != ""), default)
    try:
        port = int(raw)
    except (TypeError, ValueError):
        raise ConfigError(f'Invalid {what}: "{raw}". It must be an integer from 0 to 65535.') from None
    if not 0 <= port <= 65535:
        raise ConfigError(f'Invalid {what}: "{raw}". It must be an integer from 0 to 65535.')
    return port


def _project_from_rc(base: Path) -> str | None:
    rc = base / ".firebaserc"
    if not rc.exists():
        return None
    projects = _read_json(rc, ".firebaserc").get("projects", {})
    return projects.get("default") if isinstance(projects, dict) else None


def _rules_file(database, base: Path, config_path: Path) -> Path | None:
    if isinstance(database, list):  # [{"instance": ..., "rules": ...}]: the first names the default rules
        database = database[0] if database else {}
    if not database:
        return None
    if not isinstance(database, dict):
        raise ConfigError(f'Invalid config: "{config_path}". "database" must be an object or a list of objects.')
    rules = database.get("rules")
    if rules is None:
        return None
    path = base / rules
    if not path.exists():
        raise ConfigError(f'Invalid database.rules: "{rules}". The file {path} does not exist.')
    return path


def _triggers(explicit, base: Path, env, named: str) -> list:
    from emulator.triggers import parse_triggers  # triggers imports the store; settings stays light

    path = Path(explicit) if explicit else base / DEFAULT_TRIGGERS_FILE
    if not path.exists():
        if explicit:
            raise ConfigError(f'Invalid {named}: "{path}". The file does not exist.')
        return []
    doc = _read_json(path, "triggers file")
    for entry in doc.get("triggers", []) if isinstance(doc, dict) else []:
        if isinstance(entry, dict) and isinstance(entry.get("url"), str):
            entry["url"] = expand_env(entry["url"], env)
    return parse_triggers(doc, f'"{path}"')


def expand_env(text: str, env) -> str:
    """`text` with each `${VAR}` or `${VAR:-default}` replaced from `env` (unset or empty: the default, or "")."""
    return _ENV_REF.sub(lambda m: env.get(m.group(1)) or (m.group(2) or ""), text)
