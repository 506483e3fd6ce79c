"""Start the project's real processes on free ports for tests, and stop or kill them."""

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
_URL = re.compile(r"https?://[\w.\-]+:(\d+)")


class ManagedProcess:
    """A child process whose readiness is a line on stdout matching `ready`.

    Args:
      args: the command.
      ready: regex that a stdout line matches once the process serves.
      env: extra environment variables.
      cwd: working directory (defaults to the repository root).
      timeout: seconds to wait for readiness.
    """

    def __init__(self, args, ready: str, env=None, cwd=None, timeout: float = 30.0):
        self.args, self.ready, self.timeout = list(args), re.compile(ready), timeout
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.cwd = cwd or ROOT
        self.proc: subprocess.Popen | None = None
        self.lines: list[str] = []
        self.match = None
        self._ready = threading.Event()

    def start(self) -> "ManagedProcess":
        self.lines, self.match = [], None
        self._ready.clear()
        self.proc = subprocess.Popen(self.args, cwd=self.cwd, env=self.env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, bufsize=1)
        threading.Thread(target=self._pump, daemon=True).start()
        if not self._ready.wait(self.timeout) or self.match is None:
            self.kill()
            raise RuntimeError(f"{self.args} did not become ready; output:\n" + "".join(self.lines))
        return self

    def _pump(self):
        for line in self.proc.stdout:
            self.lines.append(line)
            if self.match is None:
                m = self.ready.search(line)
                if m:
                    self.match = m
                    self._ready.set()
        self._ready.set()

    def port_of(self, pattern: str) -> int:
        """The port in the first output line matching `pattern`."""
        for line in self.lines:
            if re.search(pattern, line):
                return int(_URL.search(line).group(1))
        raise LookupError(f"no line matches {pattern!r}: {self.lines}")

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, then wait; SIGKILL if it does not exit in time. Returns the exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def kill(self) -> None:
        """SIGKILL: the crash case."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.02, what: str = "condition"):
    """Poll `predicate` until it returns a truthy value; return it, or fail naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def start_emulator(*extra, data_dir=None, env=None, config=None) -> ManagedProcess:
    """Start `python -m emulator` on a free port (in memory unless `data_dir` is given)."""
    args = [PYTHON, "-m", "emulator", "--port", "0", "--hosting-port", "0", "--config", str(config or ROOT / "firebase.json")]
    args += ["--data-dir", str(data_dir)] if data_dir else ["--in-memory"]
    proc = ManagedProcess(args + list(extra), ready=r"Database emulator ready at (http://[\d.]+:(\d+))", env=env)
    proc.start()
    proc.url = proc.match.group(1)
    proc.port = int(proc.match.group(2))
    return proc
