"""Child processes that announce readiness on stdout: start, wait until ready, stop or kill."""

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
_MAX_LINES = 5000  # output kept in memory per process (long-running stacks must not grow)
_URL = re.compile(r"https?://[\w.\-]+:(\d+)")
# gunicorn's arbiter prints this once its socket is bound, *before* it forks the worker that serves.
GUNICORN_READY = r"Listening at: (http://[\d.]+:(\d+))"


def answers_http(match: re.Match) -> bool:
    """Probe: the URL in the readiness line's first group answers an HTTP request (any status).

    For gunicorn this is what "ready" must mean: the worker accepts only after it has installed its
    signal handlers, so a SIGTERM sent before that is lost and the arbiter waits its 30 s graceful timeout.
    """
    import requests

    try:
        requests.get(match.group(1), timeout=1.0)
        return True
    except requests.RequestException:
        return False


class ManagedProcess:
    """A child process whose readiness is a line on stdout matching `ready`.

    Args:
      args: the command.
      echo: if given, a prefix; each output line is printed with it.
      ready: regex that a stdout line matches once the process serves.
      env: extra environment variables.
      cwd: working directory (defaults to the repository root).
      timeout: seconds to wait for readiness.
      probe: if given, called with the readiness line's match until it returns True (within `timeout`).
    """

    def __init__(self, args, ready: str, env=None, cwd=None, timeout: float = 30.0, echo: str | None = None,
                 probe=None):
        self.args, self.ready, self.timeout, self.probe = list(args), re.compile(ready), timeout, probe
        self.echo = echo  # print each output line with this prefix (for a person watching)
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.cwd = cwd or ROOT
        self.proc: subprocess.Popen | None = None
        self.lines: list[str] = []
        self.on_line = None  # if set, called with every output line (from the reader thread)
        self.match = None
        self._ready = threading.Event()

    def start(self) -> "ManagedProcess":
        self.lines, self.match = [], None
        self._ready.clear()
        # Own process group: stop/kill reach a server's workers too (gunicorn forks one).
        self.proc = subprocess.Popen(self.args, cwd=self.cwd, env=self.env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, bufsize=1, start_new_session=True)
        threading.Thread(target=self._pump, daemon=True).start()
        deadline = time.monotonic() + self.timeout
        if not self._ready.wait(self.timeout) or self.match is None:
            self.kill()
            raise RuntimeError(f"{self.args} did not become ready; output:\n" + "".join(self.lines))
        while self.probe is not None and not self.probe(self.match):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.kill()
                raise RuntimeError(f"{self.args} printed its readiness line but does not answer; output:\n"
                                   + "".join(self.lines))
            time.sleep(0.02)
        return self

    def _pump(self):
        for line in self.proc.stdout:
            self.lines.append(line)
            if len(self.lines) > _MAX_LINES:
                del self.lines[: _MAX_LINES // 2]
            if self.echo is not None:
                print(f"{self.echo} {line}", end="", flush=True)
            if self.on_line is not None:
                self.on_line(line)
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
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        self._kill_group()  # anything the process left behind
        return code

    def kill(self) -> None:
        """SIGKILL to the whole process group: the crash case."""
        if self.proc is not None:
            self._kill_group()
            self.proc.wait()

    def _kill_group(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


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
