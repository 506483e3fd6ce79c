"""BundleWatcher serves the published bundle and picks up a newly published one."""

import logging
import shutil

import pytest

from ticketml.bundle import MODEL_FILE, BundleWatcher, read_current
from ticketml.errors import BundleNotFoundError

from .conftest import clone_version


class FakeClock:
    """A monotonic clock moved by hand."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_serves_the_published_bundle_and_reuses_it(model_dir):
    watcher = BundleWatcher(model_dir, check_interval=5, clock=FakeClock())
    first = watcher.current()
    assert watcher.current() is first


def test_picks_up_a_newly_published_version_after_the_check_interval(model_dir):
    clock = FakeClock()
    watcher = BundleWatcher(model_dir, check_interval=5, clock=clock)
    old = watcher.current()
    clone_version(model_dir, "2099.01.01-newer000")
    clock.now += 4
    assert watcher.current() is old  # Not checked yet: at most one stat per interval.
    clock.now += 1
    new = watcher.current()
    assert new.version == "2099.01.01-newer000"
    assert new.predict({"subject": "hello"})["model_version"] == "2099.01.01-newer000"
    clock.now += 10
    assert watcher.current() is new


def test_keeps_serving_when_the_new_version_is_broken(model_dir, caplog):
    clock = FakeClock()
    watcher = BundleWatcher(model_dir, check_interval=1, clock=clock)
    old = watcher.current()
    broken = clone_version(model_dir, "2099.01.01-broken00")
    with open(broken / MODEL_FILE, "ab") as f:
        f.write(b"tampered")
    clock.now += 1
    with caplog.at_level(logging.ERROR, logger="ticketml.bundle"):
        assert watcher.current() is old
    assert "still serving" in caplog.text
    clone_version(model_dir, "2099.01.02-fixed000", source=old.version)
    clock.now += 1
    assert watcher.current().version == "2099.01.02-fixed000"


def test_raises_when_nothing_was_ever_published(tmp_path):
    with pytest.raises(BundleNotFoundError):
        BundleWatcher(tmp_path).current()


def test_loads_once_the_first_bundle_appears(tmp_path, model_dir):
    empty = tmp_path / "empty"
    empty.mkdir()
    watcher = BundleWatcher(empty, check_interval=60, clock=FakeClock())
    with pytest.raises(BundleNotFoundError):
        watcher.current()
    shutil.copytree(model_dir, empty, dirs_exist_ok=True)
    assert watcher.current().version == read_current(model_dir)["version"]
