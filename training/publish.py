"""Write versioned bundles into a model directory and publish one of them atomically.

The format is described in ``ticketml.bundle``. A version directory is assembled under a
temporary name and renamed into place, and ``current.json`` is replaced with ``os.replace``,
so a reader (a running function) sees either the old bundle or the new one, never half of
either. Versions are ``YYYY.MM.DD-<8 hex>``: the training date (UTC) and a digest of the
training data, parameters and library versions; ``-2``, ``-3``... is appended when the
same name already exists.
"""

import hashlib
import json
import os
import shutil
import tempfile
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import scipy
import skops
import skops.io
import sklearn

from ticketml.bundle import (
    ALLOWED_TYPES, BUNDLE_FORMAT, CARD_FILE, CARD_MARKDOWN_FILE, CURRENT_FILE, MANIFEST_FILE,
    MODEL_FILE, VERSIONS_DIR, load_bundle, read_current, sha256_file,
)
from ticketml.errors import BundleError, BundleNotFoundError
from training.card import render_markdown

_TEMP_PREFIX = ".tmp-"


def library_versions() -> dict:
    """Versions of the libraries a bundle depends on."""
    return {"scikit-learn": sklearn.__version__, "numpy": np.__version__,
            "scipy": scipy.__version__, "skops": skops.__version__}


def make_version(data_sha256: str, params: dict, now: datetime) -> str:
    """Return ``YYYY.MM.DD-<sha8>`` for data, parameters and library versions."""
    payload = json.dumps({"data": data_sha256, "params": params, "libs": library_versions()},
                         sort_keys=True)
    return f"{now:%Y.%m.%d}-{hashlib.sha256(payload.encode()).hexdigest()[:8]}"


def write_bundle(model_dir: str | Path, version: str, estimators: dict,
                 predictor_params: dict, card: dict) -> Path:
    """Write a complete version directory; does not publish it.

    Args:
        model_dir: The model directory.
        version: Desired version name (a suffix is added if it exists).
        estimators: Fitted estimators (see ``ticketml.predictor``).
        predictor_params: JSON-able predictor params.
        card: The JSON model card; its ``version`` is set to the final name.

    Returns:
        The version directory.

    Raises:
        BundleError: The estimators contain a type outside ``ticketml.bundle.ALLOWED_TYPES``.
    """
    versions = Path(model_dir) / VERSIONS_DIR
    versions.mkdir(parents=True, exist_ok=True)
    final = _free_name(versions, version)
    tmp = Path(tempfile.mkdtemp(prefix=_TEMP_PREFIX, dir=versions))
    try:
        model_path = tmp / MODEL_FILE
        skops.io.dump(estimators, model_path, compression=zipfile.ZIP_DEFLATED, compresslevel=9)
        trusted = sorted(skops.io.get_untrusted_types(file=model_path))
        refused = sorted(set(trusted) - ALLOWED_TYPES)
        if refused:
            raise BundleError(
                f"Invalid estimators: types {refused} are outside ticketml.bundle.ALLOWED_TYPES; "
                "a bundle containing them would be refused at load time."
            )
        card = {**card, "version": final.name}
        _write_text(tmp / CARD_FILE, json.dumps(card, indent=2, sort_keys=False) + "\n")
        _write_text(tmp / CARD_MARKDOWN_FILE, render_markdown(card))
        manifest = {
            "format": BUNDLE_FORMAT,
            "version": final.name,
            "created_at": card.get("created_at"),
            "params": predictor_params,
            "skops_trusted_types": trusted,
            "library": library_versions(),
            "artifacts": {
                name: {"sha256": sha256_file(tmp / name), "bytes": (tmp / name).stat().st_size}
                for name in (MODEL_FILE, CARD_FILE, CARD_MARKDOWN_FILE)
            },
        }
        _write_text(tmp / MANIFEST_FILE, json.dumps(manifest, indent=2) + "\n")
        os.chmod(tmp, 0o755)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def publish(model_dir: str | Path, version: str) -> dict:
    """Make ``version`` the bundle that ``current.json`` points at, after loading it once.

    Returns:
        The new content of ``current.json``.

    Raises:
        BundleNotFoundError: The version does not exist.
        BundleError: It fails verification (checksum, types, format).
    """
    model_dir = Path(model_dir)
    version_dir = model_dir / VERSIONS_DIR / version
    if not (version_dir / MANIFEST_FILE).is_file():
        raise BundleNotFoundError(
            f'Invalid version: "{version}". Known versions: {list_versions(model_dir)}.')
    load_bundle(version_dir)  # Refuse to publish what a function would refuse to load.
    current = {
        "version": version,
        "manifest_sha256": sha256_file(version_dir / MANIFEST_FILE),
        "published_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    _write_atomic(model_dir / CURRENT_FILE, json.dumps(current, indent=2) + "\n")
    return current


def list_versions(model_dir: str | Path) -> list[str]:
    """Names of the complete version directories, oldest name first."""
    versions = Path(model_dir) / VERSIONS_DIR
    if not versions.is_dir():
        return []
    return sorted(p.name for p in versions.iterdir()
                  if (p / MANIFEST_FILE).is_file() and not p.name.startswith("."))


def current_version(model_dir: str | Path) -> str | None:
    """The published version, or None when nothing is published."""
    try:
        return read_current(model_dir)["version"]
    except BundleNotFoundError:
        return None


def _free_name(versions: Path, version: str) -> Path:
    candidate, counter = versions / version, 1
    while candidate.exists():
        counter += 1
        candidate = versions / f"{version}-{counter}"
    return candidate


def _write_text(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=_TEMP_PREFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # Make the rename itself durable.
    finally:
        os.close(dir_fd)
