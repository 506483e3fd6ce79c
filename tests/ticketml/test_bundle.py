"""Bundles load only when every checksum matches and every type is allow-listed."""

import io
import json
import os
import time

import pytest
import skops.io
from sklearn.preprocessing import FunctionTransformer

from ticketml.bundle import (
    CURRENT_FILE, MANIFEST_FILE, MODEL_FILE, VERSIONS_DIR, Bundle, load_bundle, read_current,
    sha256_bytes, sha256_file,
)
from ticketml.errors import BundleError, BundleNotFoundError, ChecksumError, UntrustedTypeError

from .conftest import SHIPPED_MODEL_DIR


def _version_dir(model_dir):
    return model_dir / VERSIONS_DIR / read_current(model_dir)["version"]


def _reseal(model_dir, manifest_changes=None):
    """Recompute artifact digests into the manifest and pin the manifest in current.json."""
    version_dir = _version_dir(model_dir)
    manifest = json.loads((version_dir / MANIFEST_FILE).read_text())
    for name, meta in manifest["artifacts"].items():
        meta["sha256"] = sha256_file(version_dir / name)
    manifest.update(manifest_changes or {})
    (version_dir / MANIFEST_FILE).write_text(json.dumps(manifest))
    current = json.loads((model_dir / CURRENT_FILE).read_text())
    current["manifest_sha256"] = sha256_file(version_dir / MANIFEST_FILE)
    (model_dir / CURRENT_FILE).write_text(json.dumps(current))


def test_shipped_bundle_loads_with_version_card_and_metrics(shipped_bundle):
    assert isinstance(shipped_bundle, Bundle)
    assert shipped_bundle.version == read_current(SHIPPED_MODEL_DIR)["version"]
    assert shipped_bundle.card["version"] == shipped_bundle.version
    assert shipped_bundle.card["metrics"]["priority"]["model"]["macro_f1"] > 0


def test_shipped_bundle_is_small_and_loads_fast():
    version_dir = _version_dir(SHIPPED_MODEL_DIR)
    size = sum(p.stat().st_size for p in version_dir.iterdir())
    assert size < 5 * 1024 * 1024
    durations = []
    for _ in range(3):  # Best of three: the first pays for imports, CI shares its CPU.
        start = time.perf_counter()
        load_bundle(SHIPPED_MODEL_DIR)
        durations.append(time.perf_counter() - start)
    # The 1 s target is measured by bench.models on a quiet machine (0.70 s); other work on
    # a shared CPU can double it, which this test must not mistake for a regression.
    assert min(durations) < 2.0


def test_loads_from_a_version_directory_too(model_dir):
    bundle = load_bundle(_version_dir(model_dir))
    assert bundle.version == read_current(model_dir)["version"]


def test_refuses_a_tampered_model_file_naming_file_and_digests(model_dir):
    model_path = _version_dir(model_dir) / MODEL_FILE
    expected = sha256_file(model_path)
    with open(model_path, "ab") as f:
        f.write(b"\0")
    with pytest.raises(ChecksumError) as excinfo:
        load_bundle(model_dir)
    message = str(excinfo.value)
    assert MODEL_FILE in message and expected in message and sha256_file(model_path) in message


def test_refuses_a_manifest_that_differs_from_current_json(model_dir):
    manifest_path = _version_dir(model_dir) / MANIFEST_FILE
    manifest = json.loads(manifest_path.read_text())
    manifest["params"]["priority"]["review_threshold"] = 0.0
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(ChecksumError, match=MANIFEST_FILE):
        load_bundle(model_dir)


def test_refuses_an_untrusted_type_even_when_the_manifest_declares_it(model_dir):
    model_path = _version_dir(model_dir) / MODEL_FILE
    estimators = skops.io.load(model_path, trusted=[])
    estimators["evil"] = FunctionTransformer(func=os.system)
    buffer = io.BytesIO()
    skops.io.dump(estimators, buffer)
    model_path.write_bytes(buffer.getvalue())
    untrusted = skops.io.get_untrusted_types(data=buffer.getvalue())
    _reseal(model_dir, {"skops_trusted_types": untrusted})
    with pytest.raises(UntrustedTypeError, match="system"):
        load_bundle(model_dir)
    _reseal(model_dir, {"skops_trusted_types": []})
    with pytest.raises(UntrustedTypeError, match="system"):
        load_bundle(model_dir)


def test_refuses_a_model_file_that_is_not_a_dict_of_the_expected_estimators(model_dir):
    model_path = _version_dir(model_dir) / MODEL_FILE
    buffer = io.BytesIO()
    skops.io.dump({"word": 1}, buffer)
    model_path.write_bytes(buffer.getvalue())
    _reseal(model_dir)
    with pytest.raises(BundleError, match='Invalid estimator "word"'):
        load_bundle(model_dir)


def test_refuses_an_unknown_format(model_dir):
    _reseal(model_dir, {"format": "something-else/9"})
    with pytest.raises(BundleError, match="something-else/9"):
        load_bundle(model_dir)


def test_reports_a_missing_bundle(tmp_path):
    with pytest.raises(BundleNotFoundError, match="current.json"):
        load_bundle(tmp_path)


def test_refuses_a_version_name_that_escapes_the_versions_directory(model_dir):
    (model_dir / CURRENT_FILE).write_text(json.dumps({"version": "../..", "manifest_sha256": ""}))
    with pytest.raises(BundleError, match="Invalid version"):
        load_bundle(model_dir)


def test_sha256_helpers_agree():
    assert sha256_bytes(b"abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
