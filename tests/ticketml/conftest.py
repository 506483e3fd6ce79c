"""Fixtures for ticketml tests: the shipped bundle, and private copies of it to tamper with."""

import json
import shutil
from pathlib import Path

import pytest

from ticketml.bundle import MANIFEST_FILE, VERSIONS_DIR, load_bundle, read_current
from training.publish import publish

SHIPPED_MODEL_DIR = Path(__file__).resolve().parents[2] / "model"


@pytest.fixture(scope="session")
def shipped_bundle():
    """The bundle committed in model/, loaded as the function loads it."""
    return load_bundle(SHIPPED_MODEL_DIR)


@pytest.fixture
def model_dir(tmp_path):
    """A private copy of the shipped model directory (published version only)."""
    target = tmp_path / "model"
    version = read_current(SHIPPED_MODEL_DIR)["version"]
    shutil.copytree(SHIPPED_MODEL_DIR / VERSIONS_DIR / version, target / VERSIONS_DIR / version)
    shutil.copy(SHIPPED_MODEL_DIR / "current.json", target / "current.json")
    return target


def clone_version(model_dir: Path, new_version: str, source: str | None = None) -> Path:
    """Copy a version (default: the published one) under a new name and publish the copy."""
    source = model_dir / VERSIONS_DIR / (source or read_current(model_dir)["version"])
    target = model_dir / VERSIONS_DIR / new_version
    shutil.copytree(source, target)
    manifest = json.loads((target / MANIFEST_FILE).read_text())
    manifest["version"] = new_version
    (target / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2))
    publish(model_dir, new_version)
    return target
