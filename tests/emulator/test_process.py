"""The emulator as a process: durability across kill -9, import/export, signals, bad configuration."""

import json
import os
import subprocess
import threading

import requests

from tests.support.procs import PYTHON, ROOT, start_emulator


def _run_cli(*args, timeout=30):
    return subprocess.run([PYTHON, "-m", "emulator", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def test_acknowledged_writes_survive_kill_9(tmp_path):
    emu = start_emulator(data_dir=tmp_path)
    acked: dict[str, int] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def writer(worker):
        with requests.Session() as http:
            i = 0
            while not stop.is_set():
                key = f"w{worker}-{i}"
                try:
                    r = http.put(f"{emu.url}/crash/{key}.json", json=i, timeout=5)
                except requests.RequestException:
                    return  # the server died mid-request: this write was never acknowledged
                if r.status_code == 200:
                    with lock:
                        acked[key] = i
                i += 1

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    while len(acked) < 400:
        threading.Event().wait(0.01)
    emu.kill()  # SIGKILL while writers are mid-flight
    stop.set()
    for t in threads:
        t.join()

    emu = start_emulator(data_dir=tmp_path)
    try:
        stored = requests.get(f"{emu.url}/crash.json").json()
        missing = [k for k, v in acked.items() if stored.get(k) != v]
        assert not missing, f"{len(missing)} acknowledged writes lost, e.g. {missing[:5]}"
    finally:
        emu.stop()


def test_rules_and_multi_path_updates_survive_restart(tmp_path):
    # No rules file in the config: a rules file is applied again at every start, as Firebase's emulator does.
    config = tmp_path / "firebase.json"
    config.write_text("{}")
    emu = start_emulator(data_dir=tmp_path, config=config)
    requests.put(f"{emu.url}/a.json", json={"x": 1, "y": {"z": [1, 2]}})
    requests.patch(f"{emu.url}/.json", json={"a/x": None, "b/c": {".sv": "timestamp"}})
    requests.put(f"{emu.url}/.settings/rules.json", data='{"rules": {".read": true}}',
                 headers={"Authorization": "Bearer owner"})
    before = requests.get(f"{emu.url}/.json").json()
    emu.kill()
    emu = start_emulator(data_dir=tmp_path, config=config)
    try:
        assert requests.get(f"{emu.url}/.json").json() == before
        rules = requests.get(f"{emu.url}/.settings/rules.json?access_token=owner").text
        assert rules == '{"rules": {".read": true}}'
    finally:
        emu.stop()


def test_export_on_exit_then_import(tmp_path):
    export = tmp_path / "export"
    emu = start_emulator("--export-on-exit", str(export))
    requests.put(f"{emu.url}/tickets.json", json={"-a": {"subject": "hi", "n": [1, 2]}})
    requests.put(f"{emu.url}/x.json?ns=second-ns", json=True)
    assert emu.stop() == 0
    files = sorted(p.name for p in (export / "database_export").iterdir())
    assert files == ["demo-tickets-default-rtdb.json", "second-ns.json"]
    assert (export / "firebase-export-metadata.json").exists()

    emu = start_emulator("--import", str(export))
    try:
        assert requests.get(f"{emu.url}/tickets.json").json() == {"-a": {"subject": "hi", "n": [1, 2]}}
        assert requests.get(f"{emu.url}/x.json?ns=second-ns").json() is True
    finally:
        emu.stop()


def test_sigterm_and_sigint_exit_cleanly():
    emu = start_emulator()
    assert emu.stop() == 0
    emu = start_emulator()
    emu.proc.send_signal(2)
    assert emu.proc.wait(15) == 0


def test_event_loop_is_uvloop_unless_asyncio_is_chosen():
    for choice, named in (("uvloop", "uvloop"), ("asyncio", "asyncio loop")):
        emu = start_emulator(env={**os.environ, "RTDB_EMULATOR_EVENT_LOOP": choice})
        try:
            ready = next(line for line in emu.lines if "Database emulator ready" in line)
            assert ready.rstrip().endswith(f"(in memory, {named})"), ready
            assert requests.put(f"{emu.url}/loop.json", json=choice, timeout=10).status_code == 200
            assert requests.get(f"{emu.url}/loop.json", timeout=10).json() == choice
        finally:
            assert emu.stop() == 0

    bad = subprocess.run([PYTHON, "-m", "emulator", "--in-memory", "--port", "0", "--hosting-port", "0"], cwd=ROOT,
                         capture_output=True, text=True, timeout=30,
                         env={**os.environ, "RTDB_EMULATOR_EVENT_LOOP": "tokio"})
    assert bad.returncode == 2
    assert _assert_one_clean_line(bad.stderr) == (
        'emulator: Invalid RTDB_EMULATOR_EVENT_LOOP: "tokio". It must be "uvloop" or "asyncio".')


def _assert_one_clean_line(stderr: str) -> str:
    """A failed start reports one line: no asyncio "Unclosed client session" noise, no traceback."""
    assert "Unclosed" not in stderr, stderr
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


def test_port_in_use_is_reported():
    first = start_emulator()
    try:
        result = _run_cli("--port", str(first.port), "--hosting-port", "0", "--in-memory")
        assert result.returncode == 2
        line = _assert_one_clean_line(result.stderr)
        assert line.startswith(f"emulator: Cannot listen for the database emulator on 127.0.0.1:{first.port}: ")
        assert line.endswith("Is another emulator running? Stop it, or choose another port (0 picks a free one).")

        # The database port (and the rules file watcher) are up by then: both are released again.
        hosting = first.port_of(r"Hosting emulator ready")
        result = _run_cli("--port", "0", "--hosting-port", str(hosting), "--in-memory")
        assert result.returncode == 2
        line = _assert_one_clean_line(result.stderr)
        assert line.startswith(f"emulator: Cannot listen for the hosting emulator on 127.0.0.1:{hosting}: ")
    finally:
        first.stop()


def test_invalid_config_is_reported(tmp_path):
    bad = tmp_path / "firebase.json"
    bad.write_text("{not json")
    result = _run_cli("--config", str(bad), "--in-memory")
    assert result.returncode == 2
    assert f'Invalid config: "{bad}". It is not valid JSON' in result.stderr

    bad.write_text(json.dumps({"emulators": {"database": {"port": "ninety"}}}))
    result = _run_cli("--config", str(bad), "--in-memory")
    assert result.returncode == 2 and 'Invalid port: "ninety"' in result.stderr

    bad.write_text(json.dumps({"database": {"rules": "missing.rules.json"}}))
    result = _run_cli("--config", str(bad), "--in-memory", "--port", "0")
    assert result.returncode == 2 and 'Invalid database.rules: "missing.rules.json"' in result.stderr

    # An invalid rules file is reported with the line and column of the problem, and nothing else.
    rules = tmp_path / "broken.rules.json"
    bad.write_text(json.dumps({"database": {"rules": "broken.rules.json"}}))
    for text, problem in [
        ('{"rules": ', "line 1, column 11: Unexpected end of the document, expected a value."),
        ('{\n  "rules": {\n    ".read": true,\n    ".wrte": false\n  }\n}\n',
         'line 4, column 5: Invalid key: ".wrte". Rule keys are .read, .write, .validate and .indexOn.'),
    ]:
        rules.write_text(text)
        result = _run_cli("--config", str(bad), "--in-memory", "--port", "0")
        assert result.returncode == 2
        assert _assert_one_clean_line(result.stderr) == f'emulator: Invalid rules file: "{rules}". Invalid rules: {problem}'

    result = _run_cli("--config", str(tmp_path / "absent.json"))
    assert result.returncode == 2 and "does not exist" in result.stderr


def test_unusable_data_dir_is_reported(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = _run_cli("--data-dir", str(blocker / "db"), "--port", "0", "--hosting-port", "0")
    assert result.returncode == 2
    assert f'Cannot open the data dir "{blocker / "db"}"' in result.stderr


def test_env_overrides_config(tmp_path):
    cfg = tmp_path / "firebase.json"
    cfg.write_text(json.dumps({"emulators": {"database": {"port": 1}}}))
    emu = start_emulator(config=cfg, env={"GCLOUD_PROJECT": "demo-other"})
    try:
        assert "ns=demo-other-default-rtdb" in emu.output
    finally:
        emu.stop()
