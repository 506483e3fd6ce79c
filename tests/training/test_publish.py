"""Publishing is atomic, verified, and versions are never overwritten."""

import json
import shutil
from datetime import datetime, timezone

import pytest

from ticketml.bundle import CURRENT_FILE, MODEL_FILE, VERSIONS_DIR, read_current
from ticketml.errors import BundleNotFoundError, ChecksumError
from training.publish import current_version, list_versions, make_version, publish


@pytest.fixture
def model_dir(trained, tmp_path):
    """A private copy of the small trained model directory."""
    target = tmp_path / "model"
    shutil.copytree(trained[0], target)
    return target


def _copy_version(model_dir, name):
    source = model_dir / VERSIONS_DIR / read_current(model_dir)["version"]
    shutil.copytree(source, model_dir / VERSIONS_DIR / name)


def test_publish_points_current_json_at_the_version_and_leaves_no_temp_files(model_dir):
    old = current_version(model_dir)
    _copy_version(model_dir, "zz-copy")  # Same manifest, other directory: still valid.
    current = publish(model_dir, "zz-copy")
    assert read_current(model_dir)["version"] == current["version"] == "zz-copy"
    assert sorted(list_versions(model_dir)) == sorted([old, "zz-copy"])
    assert [p.name for p in model_dir.iterdir() if p.name.startswith(".")] == []
    publish(model_dir, old)  # Roll back.
    assert current_version(model_dir) == old


def test_publish_refuses_an_unknown_version(model_dir):
    with pytest.raises(BundleNotFoundError, match="Known versions"):
        publish(model_dir, "nope")


def test_publish_refuses_a_tampered_version_and_keeps_the_current_one(model_dir):
    before = (model_dir / CURRENT_FILE).read_text()
    _copy_version(model_dir, "zz-bad")
    with open(model_dir / VERSIONS_DIR / "zz-bad" / MODEL_FILE, "ab") as f:
        f.write(b"x")
    with pytest.raises(ChecksumError):
        publish(model_dir, "zz-bad")
    assert (model_dir / CURRENT_FILE).read_text() == before


def test_version_names_are_date_and_digest_of_data_and_params():
    now = datetime(2026, 3, 4, tzinfo=timezone.utc)
    version = make_version("ab" * 32, {"seed": 7}, now)
    assert version.startswith("2026.03.04-") and len(version) == len("2026.03.04-") + 8
    assert make_version("ab" * 32, {"seed": 7}, now) == version
    assert make_version("ab" * 32, {"seed": 8}, now) != version


def test_retraining_the_same_version_adds_a_suffix(trained, demo_file, tmp_path):
    from training.mapping import NATIVE
    from training.pipeline import run
    from training.train import TrainParams

    from .conftest import FIXED_NOW

    first = run(demo_file, NATIVE, tmp_path, TrainParams(), show_progress=False, now=FIXED_NOW,
                publish_bundle=False)
    second = run(demo_file, NATIVE, tmp_path, TrainParams(), show_progress=False, now=FIXED_NOW,
                 publish_bundle=False)
    assert second.version == f"{first.version}-2"
    assert current_version(tmp_path) is None
    manifest = json.loads((second.version_dir / "manifest.json").read_text())
    assert manifest["version"] == second.version
