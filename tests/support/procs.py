"""Start the project's real processes on free ports for tests."""

import re
from pathlib import Path

from stack.procs import PYTHON, ROOT, ManagedProcess, wait_for
from stack.tokens import user_token

__all__ = ["PYTHON", "ROOT", "ManagedProcess", "wait_for", "start_emulator", "user_token"]


TEST_CONFIG = Path(__file__).with_name("firebase.json")  # no rules file: Firebase's emulator then allows all
_AUTH_READY = re.compile(r"Auth emulator ready at (http://[\d.]+:\d+)/")


def start_emulator(*extra, data_dir=None, env=None, config=None) -> ManagedProcess:
    """Start `python -m emulator` on a free port (in memory unless `data_dir` is given).

    `proc.url` is the database's URL; `proc.auth_url` the Auth emulator's own (with `"--auth-port", "0"`), else None.
    """
    args = [PYTHON, "-m", "emulator", "--port", "0", "--hosting-port", "0", "--config", str(config or TEST_CONFIG)]
    args += ["--data-dir", str(data_dir)] if data_dir else ["--in-memory"]
    proc = ManagedProcess(args + list(extra), ready=r"Database emulator ready at (http://[\d.]+:(\d+))", env=env)
    proc.start()
    proc.url = proc.match.group(1)
    proc.port = int(proc.match.group(2))
    auth = next((m for m in map(_AUTH_READY.search, proc.lines) if m), None)  # printed before the database line
    proc.auth_url = auth.group(1) if auth else None
    return proc

