"""Running a benchmark module the way a developer does, for the smoke tests."""

import json
import subprocess

from stack.procs import PYTHON, ROOT


def run_bench(module: str, *args: str, out, timeout: float) -> tuple[subprocess.CompletedProcess, dict]:
    """`python -m <module> <args> --out <out>` from the repository root; its result and the JSON it saved."""
    run = subprocess.run([PYTHON, "-m", module, *args, "--out", str(out)], cwd=ROOT, capture_output=True,
                         text=True, timeout=timeout)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return run, json.loads(out.read_text())
