"""Load model bundles safely, and pick up newly published ones without a restart.

Layout of a model directory (written by ``training.publish``)::

    model/
      current.json                  {"version", "manifest_sha256", "published_at"}
      versions/<version>/
        manifest.json               format, version, params, artifacts {name: {sha256, bytes}},
                                    library versions
        model.json                  the models' settings, vocabularies and class labels
        model.npz                   their numeric arrays (idf, coefficients, tree nodes)
        model_card.json             metrics, data, intended use
        MODEL_CARD.md               the same card for people
        *.png                       evaluation plots

Format ``ticketml-bundle/3`` is not code at all: the fitted models are plain JSON and plain
bool, integer and float arrays, run by ``ticketml.arraymodels`` with numpy alone, so neither
scikit-learn nor skops is imported to serve. Loading runs nothing from the bundle:
``current.json`` pins the manifest's sha256, the manifest pins every artifact's sha256, the
arrays are read with ``allow_pickle=False`` (an object array is refused), and every setting,
shape and index is validated before the first ticket (``arraymodels.load_models``,
``predictor.check_dimensions``). Formats 1 and 2 (scikit-learn estimators in skops files)
are refused with a message to retrain.
"""

import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ticketml.arraymodels import load_models, read_npz
from ticketml.errors import BundleError, BundleNotFoundError, ChecksumError
from ticketml.predictor import Predictor, check_dimensions

BUNDLE_FORMAT = "ticketml-bundle/3"
SUPPORTED_FORMATS = (BUNDLE_FORMAT,)
RETIRED_FORMATS = ("ticketml-bundle/1", "ticketml-bundle/2")
"""Formats 1 and 2 stored scikit-learn estimators with skops; serving no longer imports
either, so they are refused with a message to retrain."""
CURRENT_FILE = "current.json"
VERSIONS_DIR = "versions"
MANIFEST_FILE = "manifest.json"
MODEL_FILE = "model.npz"
MODEL_SPEC_FILE = "model.json"
CARD_FILE = "model_card.json"
CARD_MARKDOWN_FILE = "MODEL_CARD.md"
REQUIRED_ARTIFACTS = (MODEL_FILE, MODEL_SPEC_FILE, CARD_FILE)

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
        UntrustedTypeError: The arrays file holds an object (pickled) or other non-numeric array.
        BundleError: The bundle is malformed in any other way, or of a retired format.
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
    arrays = read_npz(payloads[MODEL_FILE], str(path / MODEL_FILE))
    spec = _parse_json(path / MODEL_SPEC_FILE, payloads[MODEL_SPEC_FILE])
    card = _parse_json(path / CARD_FILE, payloads[CARD_FILE])
    try:
        models = load_models(spec, arrays)
        predictor = Predictor(models, manifest["params"], manifest["version"])
        check_dimensions(models, manifest["params"])
    except BundleError as exc:
        raise type(exc)(f'Invalid bundle "{path}": {exc}') from exc
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
    if manifest.get("format") in RETIRED_FORMATS:
        raise BundleError(
            f'Invalid bundle format in "{path}": "{manifest["format"]}" stores scikit-learn '
            "estimators in a skops file, which serving no longer loads (it reads "
            f'"{BUNDLE_FORMAT}": plain arrays and JSON, without scikit-learn). Retrain and '
            "publish the model: `make train`, or `python -m training train`."
        )
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
    if not isinstance(manifest["params"], Mapping):
        raise BundleError(f'Invalid manifest "{path}": "params" must be an object.')
    return manifest
