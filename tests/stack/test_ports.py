"""The stack's ports: firebase.json's emulators section, overridden by the environment; `Ports.free()` for tests."""

import json
from dataclasses import astuple

from stack import Ports
from stack.procs import ROOT


def test_ports_come_from_firebase_json_then_the_environment(tmp_path):
    config = tmp_path / "firebase.json"
    config.write_text(json.dumps({"emulators": {"database": {"port": 9100}, "hosting": {"port": 5100},
                                                "auth": {"port": 9199}}}))
    ports = Ports.from_config(config, env={})
    assert (ports.database, ports.hosting, ports.auth) == (9100, 5100, 9199)
    assert Ports.from_config(config, env={"AUTH_EMULATOR_PORT": "9299"}).auth == 9299


def test_the_auth_port_defaults_to_firebases(tmp_path):
    assert Ports.from_config(tmp_path / "absent.json", env={}).auth == 9099
    assert Ports.from_config(ROOT / "firebase.json", env={}).auth == 9099


def test_free_ports_leave_every_port_to_the_system():
    assert set(astuple(Ports.free())) == {0}
