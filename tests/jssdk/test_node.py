"""Runs the Node test files of this folder (the real Firebase JS SDK, firebase-admin for Node, rules-unit-testing).

Each `*.test.mjs` is one pytest test, run by Node's own test runner; the files start their own emulator
processes (support/emulator.mjs) with this Python. Without Node.js or the pinned packages they skip,
naming what to install (`.ci/run` installs both, so CI never skips them).
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
FILES = sorted(HERE.glob("*.test.mjs"))
FILE_TIMEOUT_S = 600


@pytest.fixture(scope="session")
def node() -> str:
    """The node binary, with the lockfile's packages installed (else the test skips)."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed: apt-get install nodejs npm (Debian's packages), then make test")
    if not (HERE / "node_modules" / "firebase").is_dir():
        pytest.skip("The JS SDK packages are not installed: make test runs `npm ci` in tests/jssdk when npm is "
                    "installed (apt-get install npm)")
    return node


@pytest.mark.timeout(FILE_TIMEOUT_S)
@pytest.mark.parametrize("test_file", FILES, ids=[f.name for f in FILES])
def test_node_file(node, test_file):
    env = {**os.environ, "PYTHON": sys.executable}
    proc = subprocess.run([node, "--test", "--test-reporter=spec", test_file.name], cwd=HERE, env=env,
                          capture_output=True, text=True, timeout=FILE_TIMEOUT_S - 10)
    output = proc.stdout + proc.stderr
    print(output)
    assert proc.returncode == 0, f"{test_file.name} failed:\n{output[-20000:]}"
