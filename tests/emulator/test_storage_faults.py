"""A full or read-only disk under the emulator: writes refused with a clear error, nothing acknowledged lost.

Uses a real, tiny tmpfs mounted for the test (needs root and mount permission; skipped otherwise).
"""

import subprocess
import uuid

import pytest
import requests

from tests.support.procs import PYTHON, ROOT, TEST_CONFIG, start_emulator


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB tmpfs: a real filesystem that fills up."""
    mount = tmp_path / "disk"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({result.stderr.strip()}): needs root and mount permission")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def _write_until_refused(url, limit=5000):
    acked, refusal = {}, None
    for i in range(limit):
        value = {"n": i, "pad": uuid.uuid4().hex * 8}
        r = requests.put(f"{url}/fill/k{i}.json", json=value)
        if r.status_code == 200:
            acked[f"k{i}"] = value
        else:
            refusal = r
            break
    return acked, refusal


def test_disk_full_refuses_writes_clearly_and_keeps_what_was_acknowledged(small_disk):
    emu = start_emulator(data_dir=small_disk / "db")
    try:
        acked, refusal = _write_until_refused(emu.url)
        assert refusal is not None, "the disk never filled"
        assert refusal.status_code == 503
        message = refusal.json()["error"]
        assert "refused the write" in message and "full" in message and "The write was not applied" in message
        stored = requests.get(f"{emu.url}/fill.json").json()
        assert stored == acked  # the refused write is not visible, nothing else changed
        assert requests.get(f"{emu.url}/metrics").status_code == 200  # still serving
    finally:
        emu.kill()
    subprocess.run(["mount", "-o", "remount,size=8m", str(small_disk)], check=True)
    emu = start_emulator(data_dir=small_disk / "db")
    try:
        assert requests.get(f"{emu.url}/fill.json").json() == acked
        assert requests.put(f"{emu.url}/after.json", json="room again").status_code == 200
    finally:
        emu.stop()


def test_read_only_data_dir_is_refused_clearly_and_its_data_kept(small_disk):
    emu = start_emulator(data_dir=small_disk / "db")
    requests.put(f"{emu.url}/kept.json", json={"v": 1}).raise_for_status()
    assert emu.stop() == 0
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    try:
        result = subprocess.run([PYTHON, "-m", "emulator", "--port", "0", "--hosting-port", "0", "--config",
                                 str(TEST_CONFIG), "--data-dir", str(small_disk / "db")],
                                cwd=ROOT, capture_output=True, text=True, timeout=30)
        assert result.returncode == 2
        assert f'Cannot open the data dir "{small_disk / "db"}"' in result.stderr
        assert "Read-only file system" in result.stderr and "must be a writable folder" in result.stderr
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
    emu = start_emulator(data_dir=small_disk / "db")
    try:
        assert requests.get(f"{emu.url}/kept.json").json() == {"v": 1}
    finally:
        emu.stop()
