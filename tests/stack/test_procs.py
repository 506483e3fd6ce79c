"""The process manager under the stack: readiness means serving, and a stop is prompt."""

import time

import pytest

from stack import FUNCTIONS_FRAMEWORK
from stack.procs import GUNICORN_READY, PYTHON, ROOT, ManagedProcess, answers_http


def _function() -> ManagedProcess:
    args = [FUNCTIONS_FRAMEWORK, "--source", str(ROOT / "functions" / "main.py"), "--target", "helpdesk_webhook",
            "--signature-type", "http", "--host", "127.0.0.1", "--port", "0"]
    return ManagedProcess(args, ready=GUNICORN_READY, timeout=60, probe=answers_http,
                          env={"GUNICORN_LOG_LEVEL": "info", "MODEL_DIR": str(ROOT / "model")})


@pytest.mark.parametrize("attempt", range(3))
def test_a_function_stopped_as_soon_as_it_is_ready_exits_promptly(attempt):
    # gunicorn prints "Listening at" before forking its worker; a SIGTERM that reaches the worker before it
    # installs its handlers is lost, and the arbiter then waits 30 s before killing it. Ready must mean serving.
    proc = _function().start()
    started = time.monotonic()
    assert proc.stop(timeout=10.0) == 0
    assert time.monotonic() - started < 10.0


def test_a_process_that_prints_ready_but_never_answers_is_not_ready():
    script = "import time; print('Listening at: http://127.0.0.1:9', flush=True); time.sleep(60)"
    proc = ManagedProcess([PYTHON, "-c", script], ready=GUNICORN_READY, timeout=2.0, probe=answers_http)
    with pytest.raises(RuntimeError, match="does not answer"):
        proc.start()
    assert proc.proc.poll() is not None  # killed, not left behind


def test_a_process_that_exits_before_ready_reports_its_output():
    proc = ManagedProcess([PYTHON, "-c", "print('config is wrong'); raise SystemExit(2)"], ready="never", timeout=10)
    with pytest.raises(RuntimeError, match="config is wrong"):
        proc.start()
    assert proc.proc.returncode == 2
