"""Load model bundles safely, and pick up newly published ones without a restart.

Layout of a model directory (written by ``training.publish``)::

    model/
      current.json                  {"version", "manifest_sha256", "published_at"}
      versions/<version>/
        manifest.json               format, version, params, artifacts {name: {sha256, bytes}},
                                    skops_trusted_types, library versions
        model.skops                 the fitted estimators (skops format, not pickle)
        model_card.json             metrics, data, intended use
        MODEL_CARD.md               the same card for people

Loading never runs code from the bundle: ``current.json`` pins the manifest's sha256, the
manifest pins every artifact's sha256, and the skops file may contain only types skops trusts
by default or that are listed in ``ALLOWED_TYPES`` here, whatever the manifest claims.
"""

import hashlib
import io
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import skops.io
import sklearn

from ticketml.errors import BundleError, BundleNotFoundError, ChecksumError, UntrustedTypeError
from ticketml.predictor import Predictor

BUNDLE_FORMAT = "ticketml-bundle/2"
SUPPORTED_FORMATS = ("ticketml-bundle/1", BUNDLE_FORMAT)
"""Format 2 adds optional heads (None when the data had no labels for them) and the
gradient-boosted resolution head; format 1 bundles still load."""
CURRENT_FILE = "current.json"
VERSIONS_DIR = "versions"
MANIFEST_FILE = "manifest.json"
MODEL_FILE = "model.skops"
CARD_FILE = "model_card.json"
CARD_MARKDOWN_FILE = "MODEL_CARD.md"
REQUIRED_ARTIFACTS = (MODEL_FILE, CARD_FILE)

ALLOWED_TYPES = frozenset({
    # Reviewed: plain data holder of HistGradientBoosting models (arrays of nodes, no code).
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
})
"""Types a bundle may contain beyond those skops trusts by default (builtins, numpy, scipy
containers and scikit-learn estimators). Extend only after checking the type cannot run code
when it is constructed or its state is set."""

DEFAULT_CHECK_INTERVAL_S = 5.0
_CHUNK = 1 << 20

logger = logging.getLogger(__name__)


class Bundle:
    """A loaded, verified model bundle.

    Attributes:
        version: The bundle's version string, e.g. ``2026.11.21-3f9c2a1b``.
        card: The model card (metrics, data, intended use) as a dict.
        manifest: The verified manifest as a dict.
        path: The version directory it was loaded from.
    """

    def __init__(self, path: Path, manifest: dict, card: dict, predictor: Predictor):
        self.path = path
        self.manifest = manifest
        self.card = card
        self.version = manifest["version"]
        self._predictor = predictor

    def predict(self, ticket: Mapping) -> dict:
        """Return the enrichment for one ticket; see ``Predictor.predict_many``."""
        return self._predictor.predict(ticket)

    def predict_many(self, tickets: Sequence[Mapping]) -> list[dict]:
        """Return the enrichment for each of many tickets, in order."""
        return self._predictor.predict_many(tickets)

    @property
    def predictor(self) -> Predictor:
        """The underlying Predictor (for evaluation code)."""
        return self._predictor

    def __repr__(self) -> str:
        return f"Bundle(version={self.version!r}, path={str(self.path)!r})"


def load_bundle(path: str | os.PathLike) -> Bundle:
    """Load and verify a bundle.

    Args:
        path: A model directory holding ``current.json`` (the published version is loaded),
            or a version directory holding ``manifest.json``.

    Returns:
        The verified Bundle.

    Raises:
        BundleNotFoundError: Neither ``current.json`` nor ``manifest.json`` exists at path.
        ChecksumError: The manifest or an artifact differs from its recorded sha256.
        UntrustedTypeError: The model file contains a type outside the allow-list.
        BundleError: The bundle is malformed in any other way.
    """
    path = Path(path)
    expected_manifest_sha = None
    if (path / CURRENT_FILE).is_file():
        current = read_current(path)
        expected_manifest_sha = current["manifest_sha256"]
        path = path / VERSIONS_DIR / current["version"]
    manifest_path = path / MANIFEST_FILE
    if not manifest_path.is_file():
        raise BundleNotFoundError(
            f'Invalid model path: "{path}". Expected a model directory with {CURRENT_FILE} '
            f"or a version directory with {MANIFEST_FILE}."
        )
    manifest_bytes = manifest_path.read_bytes()
    if expected_manifest_sha is not None:
        _verify_digest(manifest_path, manifest_bytes, expected_manifest_sha)
    manifest = _parse_manifest(manifest_path, manifest_bytes)
    payloads = {}
    for name, meta in manifest["artifacts"].items():
        file_path = path / name
        if Path(name).name != name or not file_path.is_file():
            raise BundleError(f'Invalid bundle "{path}": artifact "{name}" is missing.')
        payloads[name] = file_path.read_bytes()
        _verify_digest(file_path, payloads[name], meta.get("sha256", ""))
    estimators = _load_skops(
        path / MODEL_FILE, payloads[MODEL_FILE], manifest.get("skops_trusted_types", [])
    )
    card = _parse_json(path / CARD_FILE, payloads[CARD_FILE])
    trained_with = manifest.get("library", {}).get("scikit-learn")
    if trained_with and trained_with != sklearn.__version__:
        logger.warning(
            "Bundle %s was trained with scikit-learn %s but %s is installed; predictions may "
            "differ slightly.", manifest["version"], trained_with, sklearn.__version__,
        )
    predictor = Predictor(estimators, manifest["params"], manifest["version"])
    return Bundle(path, manifest, card, predictor)


def read_current(model_dir: str | os.PathLike) -> dict:
    """Read ``current.json`` of a model directory.

    Returns:
        ``{"version": str, "manifest_sha256": str, ...}``.

    Raises:
        BundleNotFoundError: The file does not exist.
        BundleError: It is not valid JSON or lacks a field.
    """
    current_path = Path(model_dir) / CURRENT_FILE
    try:
        raw = current_path.read_bytes()
    except FileNotFoundError as exc:
        raise BundleNotFoundError(
            f'Invalid model directory: "{model_dir}". It has no {CURRENT_FILE}; '
            "publish a bundle with `python -m training train` or `python -m training publish`."
        ) from exc
    current = _parse_json(current_path, raw)
    version = current.get("version")
    if not isinstance(version, str) or not version or "/" in version or version.startswith("."):
        raise BundleError(f'Invalid version in {current_path}: "{version}". Expected a name.')
    if not isinstance(current.get("manifest_sha256"), str):
        raise BundleError(f"Invalid {current_path}: manifest_sha256 is missing.")
    return current


def sha256_bytes(data: bytes) -> str:
    """Return the sha256 hex digest of bytes."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike) -> str:
    """Return the sha256 hex digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class BundleWatcher:
    """Hand out the published bundle of a model directory, reloading when a new one appears.

    ``current()`` stats ``current.json`` at most once per ``check_interval`` seconds; when the
    file changed and names another version, that version is loaded and swapped in. A bundle
    that fails to load is logged and skipped (the previous one keeps serving) until
    ``current.json`` changes again. Safe to share between threads.

    Args:
        model_dir: The model directory (holding ``current.json``).
        check_interval: Minimum seconds between two stats of ``current.json``.
        clock: Monotonic clock, injectable for tests.
        loader: Bundle loader, injectable for tests.
    """

    def __init__(
        self,
        model_dir: str | os.PathLike,
        check_interval: float = DEFAULT_CHECK_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
        loader: Callable[[Path], Bundle] = load_bundle,
    ):
        self.model_dir = Path(model_dir)
        self.check_interval = check_interval
        self._clock = clock
        self._loader = loader
        self._lock = threading.Lock()
        self._bundle: Bundle | None = None
        self._signature: tuple | None = None
        self._next_check = float("-inf")

    def current(self) -> Bundle:
        """Return the current bundle, loading or reloading it if due.

        Raises:
            BundleError: No bundle has ever loaded successfully from the directory.
        """
        now = self._clock()
        if self._bundle is not None and now < self._next_check:
            return self._bundle
        with self._lock:
            if self._bundle is None or now >= self._next_check:
                self._next_check = now + self.check_interval
                self._refresh()
            return self._bundle

    def _refresh(self) -> None:
        signature = self._stat_signature()
        if self._bundle is not None and signature == self._signature:
            return
        try:
            bundle = self._loader(self.model_dir)
        except BundleError:
            self._signature = signature
            if self._bundle is None:
                raise
            logger.exception(
                "Could not load the bundle published in %s; still serving %s.",
                self.model_dir, self._bundle.version,
            )
            return
        self._signature = signature
        if self._bundle is None or bundle.version != self._bundle.version:
            logger.info("Loaded model bundle %s from %s.", bundle.version, bundle.path)
        self._bundle = bundle

    def _stat_signature(self) -> tuple | None:
        try:
            st = os.stat(self.model_dir / CURRENT_FILE)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)


def _verify_digest(path: Path, data: bytes, expected: str) -> None:
    actual = sha256_bytes(data)
    if actual != expected:
        raise ChecksumError(
            f'Invalid checksum of "{path}": expected sha256 {expected or "(none recorded)"}, '
            f"found {actual}. The file was modified after publishing; refusing to load it."
        )


def _parse_json(path: Path, raw: bytes) -> dict:
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f'Invalid JSON in "{path}": {exc}.') from exc
    if not isinstance(value, dict):
        raise BundleError(f'Invalid JSON in "{path}": expected an object.')
    return value


def _parse_manifest(path: Path, raw: bytes) -> dict:
    manifest = _parse_json(path, raw)
    if manifest.get("format") not in SUPPORTED_FORMATS:
        raise BundleError(
            f'Invalid bundle format in "{path}": "{manifest.get("format")}". '
            f"Expected one of {list(SUPPORTED_FORMATS)}."
        )
    artifacts = manifest.get("artifacts")
    if not isinstance(artifacts, dict) or not all(isinstance(m, dict) for m in artifacts.values()):
        raise BundleError(f'Invalid manifest "{path}": "artifacts" must map names to digests.')
    missing = [name for name in REQUIRED_ARTIFACTS if name not in artifacts]
    if missing:
        raise BundleError(f'Invalid manifest "{path}": artifacts {missing} are not listed.')
    for key in ("version", "params"):
        if key not in manifest:
            raise BundleError(f'Invalid manifest "{path}": "{key}" is missing.')
    return manifest


def _load_skops(path: Path, data: bytes, declared: object) -> dict:
    if not isinstance(declared, list) or not all(isinstance(t, str) for t in declared):
        raise BundleError(f'Invalid manifest for "{path}": skops_trusted_types must be a list.')
    refused = sorted(set(declared) - ALLOWED_TYPES)
    if refused:
        raise UntrustedTypeError(
            f'Invalid manifest for "{path}": it declares types outside the allow-list: '
            f"{refused}. Only ticketml.bundle.ALLOWED_TYPES may be trusted."
        )
    try:
        untrusted = skops.io.get_untrusted_types(data=data)
    except Exception as exc:  # skops raises assorted errors on a corrupt zip or schema.
        raise BundleError(f'Invalid model file "{path}": {exc!r}.') from exc
    refused = sorted(set(untrusted) - set(declared))
    if refused:
        raise UntrustedTypeError(
            f'Invalid model file "{path}": it contains types not trusted by default, not declared '
            f"in its manifest or not in the allow-list: {refused}. Only scikit-learn estimators "
            "and ticketml.bundle.ALLOWED_TYPES may be loaded."
        )
    try:
        estimators = skops.io.load(io.BytesIO(data), trusted=sorted(declared))
    except Exception as exc:
        raise BundleError(f'Invalid model file "{path}": {exc!r}.') from exc
    if not isinstance(estimators, dict):
        raise BundleError(f'Invalid model file "{path}": expected a dict of estimators.')
    return estimators
