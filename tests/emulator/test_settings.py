"""The settings loader: firebase.json, overridden by the environment, overridden by flags."""

import json
from pathlib import Path

import pytest

from emulator.__main__ import build_parser
from emulator.errors import ConfigError
from emulator.settings import DEFAULT_KEEP_ALIVE_S, load_settings

TRIGGER = {"name": "fn", "ref": "tickets/{id}", "event_type": "written", "url": "${FN_URL:-http://127.0.0.1:5001/}"}


def _flags(*argv):
    """Flags exactly as `python -m emulator` parses them."""
    return build_parser().parse_args(list(argv))


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project folder (the working directory) whose firebase.json sets every value it can."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "web").mkdir()
    (tmp_path / "database.rules.json").write_text('{"rules": {".read": true}}')
    (tmp_path / ".firebaserc").write_text(json.dumps({"projects": {"default": "demo-from-rc"}}))
    (tmp_path / "triggers.json").write_text(json.dumps({"triggers": [TRIGGER]}))
    (tmp_path / "firebase.json").write_text(json.dumps({
        "database": {"rules": "database.rules.json"},
        "hosting": {"public": "web", "ignore": ["firebase.json", "**/.*"]},
        "emulators": {"database": {"host": "0.0.0.0", "port": 9100}, "hosting": {"port": 5100}},
    }))
    return tmp_path


@pytest.fixture
def dirs(tmp_path):
    """Two existing import directories and a few other paths."""
    for name in ("import-env", "import-flag"):
        (tmp_path / name).mkdir()
    return tmp_path


def test_defaults_without_any_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = load_settings(env={})
    assert (s.host, s.port, s.project) == ("127.0.0.1", 9000, "demo-tickets")
    assert s.namespace == "demo-tickets-default-rtdb"
    assert s.data_dir == tmp_path / ".data/database"
    assert s.import_dir is None and s.export_on_exit is None and s.rules_file is None
    assert s.hosting_port is None and s.hosting_public is None and s.hosting_ignore == []
    assert s.triggers == [] and s.keep_alive_s == DEFAULT_KEEP_ALIVE_S
    assert s.config_dir == tmp_path


def test_firebase_json_alone(project):
    s = load_settings(env={})
    assert (s.host, s.port) == ("0.0.0.0", 9100)
    assert s.hosting_port == 5100 and s.hosting_public == project / "web"
    assert s.hosting_ignore == ["firebase.json", "**/.*"]
    assert s.rules_file == project / "database.rules.json"
    assert s.project == "demo-from-rc" and s.namespace == "demo-from-rc-default-rtdb"
    assert s.data_dir == project / ".data/database"
    assert [(t.name, t.url) for t in s.triggers] == [("fn", "http://127.0.0.1:5001/")]


def test_environment_overrides_firebase_json(project, dirs):
    env = {
        "RTDB_EMULATOR_HOST": "10.0.0.1",
        "RTDB_EMULATOR_PORT": "9200",
        "HOSTING_EMULATOR_PORT": "5200",
        "RTDB_EMULATOR_DATA_DIR": str(dirs / "data-env"),
        "RTDB_EMULATOR_IMPORT": str(dirs / "import-env"),
        "RTDB_EMULATOR_EXPORT_ON_EXIT": str(dirs / "export-env"),
        "GCLOUD_PROJECT": "demo-env",
        "FN_URL": "http://fn.env:8080/",
    }
    s = load_settings(env=env)
    assert (s.host, s.port, s.hosting_port) == ("10.0.0.1", 9200, 5200)
    assert s.data_dir == dirs / "data-env"
    assert s.import_dir == dirs / "import-env" and s.export_on_exit == dirs / "export-env"
    assert s.project == "demo-env" and s.namespace == "demo-env-default-rtdb"
    assert [t.url for t in s.triggers] == ["http://fn.env:8080/"]  # ${FN_URL:-...} reads the same environment


def test_flags_override_the_environment(project, dirs):
    env = {
        "RTDB_EMULATOR_HOST": "10.0.0.1", "RTDB_EMULATOR_PORT": "9200", "HOSTING_EMULATOR_PORT": "5200",
        "RTDB_EMULATOR_DATA_DIR": str(dirs / "data-env"), "RTDB_EMULATOR_IMPORT": str(dirs / "import-env"),
        "RTDB_EMULATOR_EXPORT_ON_EXIT": str(dirs / "export-env"), "GCLOUD_PROJECT": "demo-env",
    }
    args = _flags("--host", "10.0.0.2", "--port", "9300", "--hosting-port", "5300",
                  "--data-dir", str(dirs / "data-flag"), "--import", str(dirs / "import-flag"),
                  "--export-on-exit", str(dirs / "export-flag"), "--project", "demo-flag", "--keep-alive", "2.5")
    s = load_settings(args, env)
    assert (s.host, s.port, s.hosting_port) == ("10.0.0.2", 9300, 5300)
    assert s.data_dir == dirs / "data-flag"
    assert s.import_dir == dirs / "import-flag" and s.export_on_exit == dirs / "export-flag"
    assert s.project == "demo-flag" and s.keep_alive_s == 2.5


def test_flags_left_out_fall_through_to_the_environment(project):
    s = load_settings(_flags("--host", "10.0.0.2"), {"RTDB_EMULATOR_PORT": "9200"})
    assert (s.host, s.port, s.hosting_port) == ("10.0.0.2", 9200, 5100)


def test_port_zero_is_a_value_not_a_fallthrough(project):
    assert load_settings(_flags("--port", "0"), {"RTDB_EMULATOR_PORT": "9200"}).port == 0
    assert load_settings(env={"RTDB_EMULATOR_PORT": "0"}).port == 0
    assert load_settings(env={"HOSTING_EMULATOR_PORT": "0"}).hosting_port == 0


def test_empty_variables_are_unset(project):
    env = {"RTDB_EMULATOR_HOST": "", "RTDB_EMULATOR_PORT": "", "HOSTING_EMULATOR_PORT": "", "GCLOUD_PROJECT": "",
           "RTDB_EMULATOR_DATA_DIR": "", "RTDB_EMULATOR_IMPORT": "", "RTDB_EMULATOR_IN_MEMORY": ""}
    s = load_settings(env=env)
    assert (s.host, s.port, s.hosting_port, s.project) == ("0.0.0.0", 9100, 5100, "demo-from-rc")
    assert s.data_dir == project / ".data/database" and s.import_dir is None


@pytest.mark.parametrize("value, in_memory", [
    ("1", True), ("true", True), ("TRUE", True), ("yes", True), ("0", False), ("false", False), ("no", False),
])
def test_in_memory_variable(project, value, in_memory):
    s = load_settings(env={"RTDB_EMULATOR_IN_MEMORY": value})
    assert (s.data_dir is None) is in_memory


def test_in_memory_variable_wins_over_the_data_dir_variable(project):
    env = {"RTDB_EMULATOR_IN_MEMORY": "1", "RTDB_EMULATOR_DATA_DIR": str(project / "d")}
    assert load_settings(env=env).data_dir is None


def test_in_memory_flag_overrides_the_data_dir_variable(project):
    s = load_settings(_flags("--in-memory"), {"RTDB_EMULATOR_DATA_DIR": str(project / "d")})
    assert s.data_dir is None


def test_data_dir_flag_overrides_the_in_memory_variable(project):
    s = load_settings(_flags("--data-dir", str(project / "d")), {"RTDB_EMULATOR_IN_MEMORY": "1"})
    assert s.data_dir == project / "d"


def test_in_memory_and_data_dir_flags_exclude_each_other(project):
    with pytest.raises(ConfigError) as err:
        load_settings(_flags("--in-memory", "--data-dir", "d"), {})
    assert str(err.value) == "Invalid flags: --in-memory and --data-dir exclude each other."


def test_config_from_the_environment_then_the_flag(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name, port in (("env.json", 9400), ("flag.json", 9500)):
        (tmp_path / name).write_text(json.dumps({"emulators": {"database": {"port": port}}}))
    (tmp_path / "firebase.json").write_text(json.dumps({"emulators": {"database": {"port": 9100}}}))
    assert load_settings(env={}).port == 9100
    assert load_settings(env={"RTDB_EMULATOR_CONFIG": "env.json"}).port == 9400
    assert load_settings(_flags("--config", "flag.json"), {"RTDB_EMULATOR_CONFIG": "env.json"}).port == 9500


def test_paths_in_the_config_are_relative_to_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "proj"
    folder.mkdir()
    (folder / "rules.json").write_text("{}")
    (folder / "firebase.json").write_text(json.dumps({"database": [{"instance": "x", "rules": "rules.json"}]}))
    s = load_settings(env={"RTDB_EMULATOR_CONFIG": str(folder / "firebase.json")})
    assert s.rules_file == folder / "rules.json"
    assert s.config_dir == folder and s.data_dir == folder / ".data/database"


def test_missing_named_config_is_an_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as err:
        load_settings(_flags("--config", "absent.json"), {})
    assert str(err.value) == 'Invalid --config: "absent.json". The file does not exist.'
    with pytest.raises(ConfigError) as err:
        load_settings(env={"RTDB_EMULATOR_CONFIG": "absent.json"})
    assert str(err.value) == 'Invalid RTDB_EMULATOR_CONFIG: "absent.json". The file does not exist.'


def test_project_variable_overrides_firebaserc(project):
    assert load_settings(env={}).project == "demo-from-rc"
    assert load_settings(env={"GCLOUD_PROJECT": "demo-env"}).project == "demo-env"
    assert load_settings(_flags("--project", "demo-flag"), {"GCLOUD_PROJECT": "demo-env"}).project == "demo-flag"


def test_triggers_file_from_the_environment_then_the_flag(project):
    for name in ("env", "flag"):
        doc = {"triggers": [{**TRIGGER, "name": f"fn-{name}", "url": f"http://{name}.example/"}]}
        (project / f"triggers-{name}.json").write_text(json.dumps(doc))
    assert [t.name for t in load_settings(env={}).triggers] == ["fn"]
    env = {"RTDB_EMULATOR_TRIGGERS": "triggers-env.json"}
    assert [t.name for t in load_settings(env=env).triggers] == ["fn-env"]
    assert [t.name for t in load_settings(_flags("--triggers", "triggers-flag.json"), env).triggers] == ["fn-flag"]


def test_a_missing_triggers_file_is_reported_by_where_it_was_named(project):
    with pytest.raises(ConfigError) as err:
        load_settings(env={"RTDB_EMULATOR_TRIGGERS": "absent.json"})
    assert str(err.value) == 'Invalid RTDB_EMULATOR_TRIGGERS: "absent.json". The file does not exist.'
    with pytest.raises(ConfigError) as err:
        load_settings(_flags("--triggers", "absent.json"), {"RTDB_EMULATOR_TRIGGERS": "triggers.json"})
    assert str(err.value) == 'Invalid --triggers: "absent.json". The file does not exist.'


def test_hosting_port_needs_a_hosting_section(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "firebase.json").write_text(json.dumps({"emulators": {"hosting": {"port": 5100}}}))
    s = load_settings(_flags("--hosting-port", "5300"), {"HOSTING_EMULATOR_PORT": "5200"})
    assert s.hosting_port is None and s.hosting_public is None


def test_the_auth_emulator_gets_its_own_port_only_when_one_is_named(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_settings(env={}).auth_port is None  # still served on the database port
    (tmp_path / "firebase.json").write_text(json.dumps({"emulators": {"auth": {}}}))
    s = load_settings(env={})
    assert (s.auth_host, s.auth_port) == ("127.0.0.1", 9099)  # Firebase's default Auth emulator port


def test_auth_port_from_firebase_json_then_the_environment_then_the_flag(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "firebase.json").write_text(json.dumps({"emulators": {
        "database": {"host": "0.0.0.0"}, "auth": {"host": "127.0.0.2", "port": 9199}}}))
    s = load_settings(env={})
    assert (s.host, s.auth_host, s.auth_port) == ("0.0.0.0", "127.0.0.2", 9199)
    assert load_settings(env={"AUTH_EMULATOR_PORT": "9299"}).auth_port == 9299
    assert load_settings(env={"AUTH_EMULATOR_PORT": ""}).auth_port == 9199  # empty is unset
    assert load_settings(_flags("--auth-port", "0"), {"AUTH_EMULATOR_PORT": "9299"}).auth_port == 0


def test_the_auth_flag_or_variable_alone_serve_it_beside_the_database(project):
    s = load_settings(env={"AUTH_EMULATOR_PORT": "9299"})
    assert (s.auth_host, s.auth_port) == ("0.0.0.0", 9299)  # no emulators.auth.host: the database's host
    assert load_settings(_flags("--auth-port", "0"), {}).auth_port == 0
    assert load_settings(env={"AUTH_EMULATOR_PORT": ""}).auth_port is None


def test_an_auth_host_that_is_not_a_string_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "firebase.json").write_text(json.dumps({"emulators": {"auth": {"host": 9099}}}))
    with pytest.raises(ConfigError) as err:
        load_settings(env={})
    assert str(err.value) == "Invalid emulators.auth.host: 9099. It must be a string."


@pytest.mark.parametrize("env, message", [
    ({"RTDB_EMULATOR_PORT": "ninety"}, 'Invalid port: "ninety". It must be an integer from 0 to 65535.'),
    ({"RTDB_EMULATOR_PORT": "65536"}, 'Invalid port: "65536". It must be an integer from 0 to 65535.'),
    ({"RTDB_EMULATOR_PORT": "-1"}, 'Invalid port: "-1". It must be an integer from 0 to 65535.'),
    ({"HOSTING_EMULATOR_PORT": "x"}, 'Invalid hosting port: "x". It must be an integer from 0 to 65535.'),
    ({"AUTH_EMULATOR_PORT": "99999"}, 'Invalid auth port: "99999". It must be an integer from 0 to 65535.'),
])
def test_invalid_ports_from_the_environment(project, env, message):
    with pytest.raises(ConfigError) as err:
        load_settings(env=env)
    assert str(err.value) == message


def test_a_valid_flag_hides_an_invalid_variable(project):
    assert load_settings(_flags("--port", "9300"), {"RTDB_EMULATOR_PORT": "ninety"}).port == 9300


def test_import_must_name_a_directory(project):
    absent = project / "absent"
    with pytest.raises(ConfigError) as err:
        load_settings(env={"RTDB_EMULATOR_IMPORT": str(absent)})
    assert str(err.value) == f'Invalid RTDB_EMULATOR_IMPORT: "{absent}". It must be a directory (an emulator export).'
    with pytest.raises(ConfigError) as err:
        load_settings(_flags("--import", str(absent)), {"RTDB_EMULATOR_IMPORT": str(project)})
    assert str(err.value) == f'Invalid --import: "{absent}". It must be a directory (an emulator export).'


def test_the_process_environment_is_the_default(project, monkeypatch):
    monkeypatch.setenv("RTDB_EMULATOR_PORT", "9600")
    monkeypatch.setenv("RTDB_EMULATOR_HOST", "10.0.0.9")
    s = load_settings()
    assert (s.host, s.port) == ("10.0.0.9", 9600)
    assert load_settings(env={}).port == 9100  # an explicit mapping replaces os.environ entirely


def test_relative_data_dir_variable_is_relative_to_the_working_directory(project):
    assert load_settings(env={"RTDB_EMULATOR_DATA_DIR": "rel/db"}).data_dir == Path("rel/db")
