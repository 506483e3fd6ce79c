"""The whole local stack as one object: emulator (+ hosting, Auth, event delivery), functions, helpdesk stub.

`Stack(ports, data_dir).start()` starts each process in dependency order, waits until each is
healthy, and registers the database trigger with the function's real URL; `stop()` stops them in
reverse. `make up` runs it on the ports of firebase.json; the end-to-end tests on free ports.
"""

import json
import os
import time
from dataclasses import dataclass, field, fields
from pathlib import Path

import requests

from emulator.settings import expand_env
from stack.procs import GUNICORN_READY, PYTHON, ROOT, ManagedProcess, answers_http

FUNCTIONS_FRAMEWORK = str(Path(PYTHON).parent / "functions-framework")
NAMESPACE_SUFFIX = "-default-rtdb"
ENRICH_TRIGGER = "enrich_ticket"  # the trigger in triggers.json that delivers tickets to the enrich function


@dataclass
class Ports:
    """Ports of the stack; 0 picks a free one."""

    database: int = 9000
    hosting: int = 5000
    auth: int = 9099  # the Auth emulator's own port (it also answers on the database port)
    enrich: int = 5001
    webhook: int = 5002
    helpdesk: int = 5005
    enrich_metrics: int = 5011
    webhook_metrics: int = 5012

    @classmethod
    def free(cls) -> "Ports":
        return cls(**{f.name: 0 for f in fields(cls)})

    @classmethod
    def from_config(cls, config: Path, env=None) -> "Ports":
        env = os.environ if env is None else env
        emulators = json.loads(config.read_text()).get("emulators", {}) if config.exists() else {}
        return cls(
            database=int(env.get("RTDB_EMULATOR_PORT") or emulators.get("database", {}).get("port", 9000)),
            hosting=int(env.get("HOSTING_EMULATOR_PORT") or emulators.get("hosting", {}).get("port", 5000)),
            auth=int(env.get("AUTH_EMULATOR_PORT") or emulators.get("auth", {}).get("port", 9099)),
            enrich=int(env.get("FUNCTIONS_PORT") or emulators.get("functions", {}).get("port", 5001)),
            webhook=int(env.get("WEBHOOK_PORT") or 5002),
            helpdesk=int(env.get("HELPDESK_PORT") or 5005),
            enrich_metrics=int(env.get("ENRICH_METRICS_PORT") or 5011),
            webhook_metrics=int(env.get("WEBHOOK_METRICS_PORT") or 5012),
        )


@dataclass
class Stack:
    """The running stack.

    Args:
      ports: where to listen.
      data_dir: folder for the database journal and the helpdesk's SQLite file; None keeps the
        database in memory (the helpdesk then uses a file in a temp folder the caller provides).
      env: extra environment for every process (e.g. HELPDESK_* fault settings).
      echo: print every process's output with a name prefix.
      triggers_file: the database triggers (`triggers.json`); the enrich trigger's URL becomes the running
        function's, and the policy fields below, when given, replace the file's.
      max_attempts / min_backoff_s / max_backoff_s: event delivery policy for the enrich trigger (None: the file's).
      enrich_source: the functions-framework source serving `enrich_ticket` (the benchmark swaps in a
        no-op model and helpdesk to measure the pipeline's own overhead).
    """

    ports: Ports = field(default_factory=Ports)
    data_dir: Path = ROOT / ".data"
    env: dict = field(default_factory=dict)
    echo: bool = False
    triggers_file: Path = ROOT / "triggers.json"
    max_attempts: int | None = None
    min_backoff_s: float | None = None
    max_backoff_s: float | None = None
    project: str = "demo-tickets"
    model_dir: Path = ROOT / "model"
    enrich_source: Path = ROOT / "functions" / "main.py"
    procs: dict = field(default_factory=dict)
    urls: dict = field(default_factory=dict)

    @property
    def namespace(self) -> str:
        return self.project + NAMESPACE_SUFFIX

    def start(self) -> "Stack":
        """Start everything; on any failure stop what started and raise RuntimeError."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._start_all()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_all(self) -> None:
        base_env = {"GCLOUD_PROJECT": self.project, **self.env}
        # triggers.json's enrich URL: the function's fixed port, or, for a free port not known yet, the
        # discard port (refused, so retried) until register_trigger() points it at the real function.
        function_url = f"http://127.0.0.1:{self.ports.enrich}/" if self.ports.enrich else "http://127.0.0.1:9/"
        emu = self._start("database", [PYTHON, "-m", "emulator", "--config", str(ROOT / "firebase.json"),
                                       "--triggers", str(self.triggers_file),
                                       "--port", str(self.ports.database), "--hosting-port", str(self.ports.hosting),
                                       "--auth-port", str(self.ports.auth),
                                       "--data-dir", str(self.data_dir / "database")],
                          r"Database emulator ready at (http://[\d.]+:(\d+))",
                          {**base_env, "ENRICH_FUNCTION_URL": function_url})
        self.urls["database"] = emu.match.group(1)
        self.urls["hosting"] = f"http://127.0.0.1:{emu.port_of('Hosting emulator ready')}/"
        self.urls["auth"] = f"http://127.0.0.1:{emu.port_of('Auth emulator ready')}/"
        db_host = self.urls["database"].removeprefix("http://")
        # As the Firebase CLI does for the functions it runs: firebase-admin then uses both emulators.
        fn_env = {**base_env, "FIREBASE_DATABASE_EMULATOR_HOST": db_host, "GUNICORN_LOG_LEVEL": "info",
                  "FIREBASE_AUTH_EMULATOR_HOST": self.urls["auth"].removeprefix("http://").rstrip("/"),
                  "MODEL_DIR": str(self.model_dir)}
        hook = self._start("webhook", self._function("helpdesk_webhook", "http", self.ports.webhook), GUNICORN_READY,
                           {**fn_env, "METRICS_PORT": str(self.ports.webhook_metrics)})
        self.urls["webhook"] = hook.match.group(1) + "/"
        desk = self._start("helpdesk", [PYTHON, "-m", "helpdesk", "--port", str(self.ports.helpdesk),
                                        "--db", str(self.data_dir / "helpdesk.sqlite3")],
                           r"listening on (http://[\d.]+:(\d+))", {**base_env, "HELPDESK_WEBHOOK_URL": self.urls["webhook"]})
        self.urls["helpdesk"] = desk.match.group(1) + "/"
        enrich = self._start("enrich", self._function("enrich_ticket", "cloudevent", self.ports.enrich, self.enrich_source), GUNICORN_READY,
                             {**fn_env, "HELPDESK_URL": desk.match.group(1), "METRICS_PORT": str(self.ports.enrich_metrics)})
        self.urls["enrich"] = enrich.match.group(1) + "/"
        self.register_trigger()

    def _function(self, target: str, signature: str, port: int, source: Path = ROOT / "functions" / "main.py") -> list:
        return [FUNCTIONS_FRAMEWORK, "--source", str(source), "--target", target,
                "--signature-type", signature, "--host", "127.0.0.1", "--port", str(port)]

    def _start(self, name, args, ready, env) -> ManagedProcess:
        proc = ManagedProcess(args, ready=ready, env=env, timeout=60, echo=f"[{name}]" if self.echo else None,
                              probe=answers_http if ready == GUNICORN_READY else None)
        self.procs[name] = proc
        return proc.start()

    def register_trigger(self) -> None:
        """Register `triggers_file`'s triggers with the enrich trigger pointed at the running function.

        Raises:
          RuntimeError: the file declares no `enrich_ticket` trigger.
        """
        triggers = json.loads(self.triggers_file.read_text())["triggers"]
        enrich = next((t for t in triggers if t.get("name") == ENRICH_TRIGGER), None)
        if enrich is None:
            raise RuntimeError(f'Invalid triggers file: "{self.triggers_file}". It declares no "{ENRICH_TRIGGER}" '
                               "trigger, and the stack has no function to deliver tickets to.")
        for trigger in triggers:  # as the emulator does when it loads the file itself
            if isinstance(trigger.get("url"), str):
                trigger["url"] = expand_env(trigger["url"], os.environ)
        enrich["url"] = self.urls["enrich"]
        for key in ("max_attempts", "min_backoff_s", "max_backoff_s"):
            if getattr(self, key) is not None:
                enrich[key] = getattr(self, key)
        r = requests.put(f"{self.urls['database']}/.settings/functionTriggers.json", json={"triggers": triggers},
                         headers={"Authorization": "Bearer owner"}, timeout=10)
        r.raise_for_status()

    def restart(self, name: str, kill: bool = False) -> None:
        """Stop (or kill -9) one process and start it again on the same port."""
        proc = self.procs[name]
        self.stop_one(name, kill)
        self.start_again(name)

    def stop_one(self, name: str, kill: bool = False) -> None:
        """Stop (or kill -9, with its workers) one process; `start_again` brings it back."""
        proc = self.procs[name]
        for i, arg in enumerate(proc.args):
            if arg == "--port" and proc.args[i + 1] == "0":
                proc.args[i + 1] = str(proc.port_of(r"Database emulator ready at|Listening at|listening on"))
            if arg == "--auth-port" and proc.args[i + 1] == "0":  # signed-in clients keep the Auth URL they have
                proc.args[i + 1] = str(proc.port_of("Auth emulator ready at"))
        proc.kill() if kill else proc.stop()

    def start_again(self, name: str) -> None:
        """Start a stopped process on its former port (the database re-registers the trigger)."""
        if name == "database":
            self.procs[name].env["ENRICH_FUNCTION_URL"] = self.urls["enrich"]
        # The former port came from the ephemeral range, so for a moment an outgoing connection of
        # another process (a client retrying while this one was down) may hold it as its local port.
        deadline = time.monotonic() + 15.0
        while True:
            try:
                self.procs[name].start()
                break
            except RuntimeError as exc:
                if "address already in use" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.25)
        if name == "database":
            self.register_trigger()  # as a functions emulator re-registers with a restarted database

    def stop(self) -> None:
        for name in reversed(list(self.procs)):
            try:
                self.procs[name].stop()
            except Exception:  # keep stopping the others
                self.procs[name].kill()

    def metrics_url(self, name: str, timeout: float = 15.0) -> str:
        """The /metrics URL a function process printed once its worker started."""
        from stack.procs import wait_for

        line = wait_for(lambda: next((l for l in self.procs[name].lines if "Function metrics at" in l), None),
                        timeout=timeout, what=f"{name} metrics")
        return line.split(" at ", 1)[1].strip()

    def check(self) -> dict:
        """Which processes have exited (name -> exit code)."""
        return {n: p.proc.returncode for n, p in self.procs.items() if p.proc and p.proc.poll() is not None}


def wait_until_stopped(stack: Stack, stop_event) -> None:
    """Block until `stop_event` is set or a process dies (then say which)."""
    while not stop_event.wait(0.5):
        dead = stack.check()
        if dead:
            names = ", ".join(f"{n} (exit {c})" for n, c in dead.items())
            print(f"stack: {names} stopped unexpectedly; stopping the rest.", flush=True)
            return
    time.sleep(0)
