"""Write versioned bundles into a model directory and publish one of them atomically.

The format is described in ``ticketml.bundle``. A version directory is assembled under a
temporary name and renamed into place, and ``current.json`` is replaced with ``os.replace``,
so a reader (a running function) sees either the old bundle or the new one, never half of
either. A version is a 12-hex digest of the training data, the parameters, the library
versions and the source code of ``training`` and ``ticketml``: retraining the same data
with the same seed and code gives the same version, whatever the date. Writing a version
that exists with the same metrics reuses it; with other metrics (a non-deterministic
library), ``-2``, ``-3``... is appended.

Promotion is gated: ``compare`` lists the metrics on which a candidate is worse than the
published bundle on the same evaluation, and ``training.pipeline`` refuses to publish it
unless forced. ``prune`` deletes old versions.
"""

import hashlib
import json
import os
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import scipy
import sklearn

from ticketml.arraymodels import dump_models, write_npz
from ticketml.bundle import (
    BUNDLE_FORMAT, CARD_FILE, CARD_MARKDOWN_FILE, CURRENT_FILE, MANIFEST_FILE, MODEL_FILE,
    MODEL_SPEC_FILE, VERSIONS_DIR, load_bundle, read_current, sha256_file,
)
from ticketml.errors import BundleError, BundleNotFoundError
from ticketml.predictor import check_dimensions
from training.card import render_markdown

_TEMP_PREFIX = ".tmp-"


def library_versions() -> dict:
    """Versions of the libraries that trained (scikit-learn, scipy) and serve (numpy) a bundle."""
    return {"scikit-learn": sklearn.__version__, "numpy": np.__version__,
            "scipy": scipy.__version__}


PROMOTION_TOLERANCE = 0.005
"""How much worse a primary metric may be before a candidate counts as worse (noise)."""
_PRIMARY_METRICS = (  # (head, metric, higher is better)
    ("priority", "macro_f1", True), ("sentiment", "macro_f1", True),
    ("resolution", "log_mae", False), ("resolution", "within_2x", True),
)
_CODE_PACKAGES = ("training", "ticketml")


def make_version(data_sha256: str, params: dict) -> str:
    """Return the 12-hex digest of data, parameters, library versions and source code."""
    payload = json.dumps({"data": data_sha256, "params": params, "libs": library_versions(),
                          "code": code_digest()}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def code_digest() -> str:
    """sha256 over the Python sources of ``training`` and ``ticketml`` (names and bytes)."""
    import ticketml
    import training
    digest = hashlib.sha256()
    for package in (training, ticketml):
        root = Path(package.__file__).parent
        for path in sorted(root.rglob("*.py")):
            digest.update(str(path.relative_to(root.parent)).encode() + b"\0")
            digest.update(path.read_bytes())
    return digest.hexdigest()


def compare(candidate: dict, current: dict, tolerance: float = PROMOTION_TOLERANCE) -> list[str]:
    """List the primary metrics on which ``candidate`` is worse than ``current``.

    Args:
        candidate: ``evaluate`` output of the new model.
        current: ``evaluate`` output of the published model on the same test set.
        tolerance: Differences up to this are noise, not a regression.

    Returns:
        Human-readable regressions, e.g. ``priority macro_f1 0.61 < 0.64``; empty if none.
    """
    worse = []
    for head, metric, higher in _PRIMARY_METRICS:
        new = candidate.get(head, {}).get("model", {}).get(metric)
        old = current.get(head, {}).get("model", {}).get(metric)
        if new is None or old is None or not candidate[head].get("n"):
            continue
        if (old - new if higher else new - old) > tolerance:
            worse.append(f"{head} {metric} {new} {'<' if higher else '>'} {old}")
    return worse


def card_regressions(model_dir: str | Path, version: str) -> list[str]:
    """Regressions of ``version`` against the published one, judged from their model cards.

    Cards are comparable only when both were evaluated on the same data (digest, mapping and
    split); otherwise there is nothing to judge and the list is empty.
    """
    active = current_version(model_dir)
    if active is None or active == version:
        return []
    cards = []
    for name in (version, active):
        try:
            cards.append(json.loads(
                (Path(model_dir) / VERSIONS_DIR / name / CARD_FILE).read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError):
            return []
    new, old = cards
    same = all(new.get("data", {}).get(k) == old.get("data", {}).get(k)
               for k in ("sha256", "mapping", "split"))
    if not same:
        return []
    return [f"{r} (published {active})" for r in compare(new["metrics"], old["metrics"])]


def find_version(model_dir: str | Path, version: str, metrics: dict) -> str | None:
    """The existing version named ``version`` (or ``version-N``) with exactly these metrics."""
    versions = Path(model_dir) / VERSIONS_DIR
    for name in list_versions(model_dir):
        if name == version or name.startswith(version + "-"):
            try:
                card = json.loads((versions / name / CARD_FILE).read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                continue
            if card.get("metrics") == metrics:
                return name
    return None


def prune(model_dir: str | Path, keep: int) -> list[str]:
    """Delete all versions but the published one and the ``keep`` newest others.

    Newest is by the manifest's ``created_at``. Returns the deleted version names.
    """
    model_dir = Path(model_dir)
    current = current_version(model_dir)
    others = [v for v in list_versions(model_dir) if v != current]
    others.sort(key=lambda v: (_created_at(model_dir / VERSIONS_DIR / v), v), reverse=True)
    removed = others[max(keep, 0):]
    for name in removed:
        shutil.rmtree(model_dir / VERSIONS_DIR / name)
    return sorted(removed)


def _created_at(version_dir: Path) -> str:
    try:
        return str(json.loads((version_dir / MANIFEST_FILE).read_text())["created_at"] or "")
    except (OSError, ValueError, KeyError):
        return ""


def write_bundle(model_dir: str | Path, version: str, models: dict,
                 predictor_params: dict, card: dict, extra_files: dict | None = None) -> Path:
    """Write a complete version directory; does not publish it.

    Args:
        model_dir: The model directory.
        version: Desired version name (a suffix is added if it exists).
        models: The models, as ``training.export.export_models`` makes them from the fitted
            estimators (see ``ticketml.predictor``).
        predictor_params: JSON-able predictor params.
        card: The JSON model card; its ``version`` is set to the final name.
        extra_files: ``{name: bytes}`` written beside the card and listed with their
            digests (evaluation plots).

    Returns:
        The version directory.

    Raises:
        BundleError: A model is not a ``ticketml.arraymodels`` model, or models and params
            do not fit together: a bundle the loader would refuse is not written.
    """
    versions = Path(model_dir) / VERSIONS_DIR
    versions.mkdir(parents=True, exist_ok=True)
    spec, arrays = dump_models(models)
    check_dimensions(models, predictor_params)
    final = _free_name(versions, version)
    tmp = Path(tempfile.mkdtemp(prefix=_TEMP_PREFIX, dir=versions))
    try:
        _write_bytes(tmp / MODEL_FILE, write_npz(arrays))
        _write_text(tmp / MODEL_SPEC_FILE, json.dumps(spec, ensure_ascii=False,
                                                      separators=(",", ":")) + "\n")
        card = {**card, "version": final.name}
        _write_text(tmp / CARD_FILE, json.dumps(card, indent=2, sort_keys=False) + "\n")
        _write_text(tmp / CARD_MARKDOWN_FILE, render_markdown(card))
        reserved = (MODEL_FILE, MODEL_SPEC_FILE, CARD_FILE, CARD_MARKDOWN_FILE, MANIFEST_FILE)
        for name, data in (extra_files or {}).items():
            if Path(name).name != name or name in reserved:
                raise BundleError(f'Invalid extra file name: "{name}". Expected a plain name.')
            (tmp / name).write_bytes(data)
        manifest = {
            "format": BUNDLE_FORMAT,
            "version": final.name,
            "created_at": card.get("created_at"),
            "params": predictor_params,
            "library": library_versions(),
            "artifacts": {
                name: {"sha256": sha256_file(tmp / name), "bytes": (tmp / name).stat().st_size}
                for name in (MODEL_FILE, MODEL_SPEC_FILE, CARD_FILE, CARD_MARKDOWN_FILE,
                             *sorted(extra_files or {}))
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


def _write_bytes(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


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
