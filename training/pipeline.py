"""One training run end to end: read, prepare, check the minimum, split, fit, evaluate, write,
gate, publish.

Before publishing, the published bundle (if any) is evaluated on the same test set; the new
one is published only if it is not worse on a primary metric (``training.publish.compare``)
or ``force`` is set. A run that reproduces an existing version (same data, seed, code and
metrics) reuses that version directory instead of adding one.
"""

import logging
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from tqdm import tqdm

from ticketml.bundle import VERSIONS_DIR, load_bundle, sha256_file
from ticketml.errors import BundleError
from ticketml.predictor import Predictor
from training.card import build_card
from training.confidence import serving_params
from training.data import DataError, prepare, read_records, split
from training.evaluate import evaluate, evaluate_outputs
from training.export import export_models
from training.mapping import FieldMapping
from training.minimum import Minimum, check as check_minimum
from training.plots import write_plots
from training.publish import (
    compare, current_version, find_version, make_version, publish, write_bundle,
)
from training.train import TrainParams, fit_heads, stage_timer

_STAGES = ("featurise", "priority", "sentiment", "resolution", "refit", "evaluate",
           "write bundle")
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunResult:
    """What a training run produced.

    Attributes:
        refused: Why the bundle was not published (regressions against the published one);
            empty when it was published or publishing was not asked for.
    """

    version: str
    version_dir: Path
    card: dict
    published: bool
    refused: list[str] = field(default_factory=list)


def run(data_path: str | Path, mapping: FieldMapping, model_dir: str | Path,
        params: TrainParams, publish_bundle: bool = True, show_progress: bool = True,
        now: datetime | None = None, force: bool = False,
        minimum: Minimum | None = None) -> RunResult:
    """Train on one export file and write (and by default publish) a bundle.

    Args:
        data_path: A .jsonl or .csv file of closed tickets.
        mapping: How to read its records.
        model_dir: The model directory to write into.
        params: Hyper-parameters, including the seed and split.
        publish_bundle: Point ``current.json`` at the new version if it is not worse.
        show_progress: Show tqdm progress bars on stderr.
        now: Training time recorded in the card; defaults to the current UTC time. It does
            not enter the version.
        force: Publish even if the published bundle scores better on this test set.
        minimum: The fewest closed tickets, in all and per class (default ``Minimum()``).

    Raises:
        DataError: The file holds no usable rows or cannot be read.
        NotEnoughData: Fewer closed tickets than ``minimum`` (a TrainingError).
        TrainingError: A head cannot be trained from the data.
    """
    now = now or datetime.now(timezone.utc)
    data_path = Path(data_path)
    data_sha = sha256_file(data_path)
    reading = tqdm(desc="read " + data_path.name, unit=" rows", disable=not show_progress)
    with reading:
        dataset = prepare(read_records(data_path), mapping, progress=_wrap(reading))
    if not dataset.examples:
        raise DataError(f'Invalid data file "{data_path}": no usable rows ({dataset.report}).')
    check_minimum(dataset.examples, minimum or Minimum())
    train, val, test, method = split(
        dataset.examples, params.seed, params.test_share, params.val_share, params.split)

    timings: dict[str, float] = {}
    bar = tqdm(total=len(_STAGES), desc="train", unit=" stage", disable=not show_progress)
    step = stage_timer(bar, timings)

    with bar:
        validated = {}

        def choose_serving_params(estimators, predictor_params):
            # On the heads fitted without the validation rows: after the refit (``params.refit``)
            # they are no longer held out, and thresholds chosen on them would be optimistic.
            models = export_models(estimators)
            validated.update(estimators=estimators, models=models, serving=serving_params(
                models, predictor_params, train, val))
        estimators, predictor_params = fit_heads(train, val, params, step,
                                                 on_validated=choose_serving_params)
        step("evaluate")
        # What the bundle stores and serving runs.
        models = (validated["models"] if estimators is validated["estimators"] else
                  export_models(estimators))
        predictor_params = {**predictor_params, **validated["serving"]}
        version = make_version(data_sha, {**params.as_dict(), "mapping": mapping.name})
        predictor = Predictor(models, predictor_params, version)
        metrics, outputs = evaluate_outputs(predictor, train, test)
        step("write bundle")
        existing = find_version(model_dir, version, metrics)
        if existing is not None:
            version_dir = Path(model_dir) / VERSIONS_DIR / existing
            card = load_bundle(version_dir).card
        else:
            card = build_card(
                version=version,
                created_at=now.isoformat(timespec="seconds"),
                data={
                    "source": data_path.name, "sha256": data_sha, "mapping": mapping.name,
                    "report": dataset.report,
                    "split": {"method": method, "seed": params.seed, "train": len(train),
                              "validation": len(val), "test": len(test)},
                },
                params=params.as_dict(),
                predictor_params=predictor_params,
                metrics=metrics,
                timings=timings,
            )
            version_dir = write_bundle(model_dir, version, models, predictor_params, card,
                                       extra_files=_plots(metrics, predictor, test, outputs))
        step("done")
    refused: list[str] = []
    if publish_bundle and not force:
        refused = _regressions(model_dir, version_dir.name, metrics, train, test)
    published = publish_bundle and not refused
    if published:
        publish(model_dir, version_dir.name)
    card = {**card, "version": version_dir.name}
    return RunResult(version_dir.name, version_dir, card, published, refused)


def _regressions(model_dir, version: str, metrics: dict, train, test) -> list[str]:
    """Compare with the published bundle on the same test set (nothing to compare: [])."""
    active = current_version(model_dir)
    if active is None or active == version:
        return []
    try:
        current = load_bundle(model_dir)
    except BundleError:
        logger.warning("The published bundle %s does not load; not comparing with it.", active)
        return []
    regressions = compare(metrics, evaluate(current.predictor, train, test))
    return [f"{r} (published {active})" for r in regressions]


def _plots(metrics: dict, predictor: Predictor, test, outputs: list[dict]) -> dict[str, bytes]:
    """The card's plots; ``outputs`` are the test tickets' predictions (``predict_many``)."""
    points = None
    if predictor.heads["resolution"] != "constant":
        resolved = [i for i, e in enumerate(test) if e.hours is not None and not e.censored]
        if resolved:
            points = {"true": [test[i].hours for i in resolved],
                      "p50": [outputs[i]["resolution_hours"]["p50"] for i in resolved]}
    with tempfile.TemporaryDirectory() as tmp:
        names = write_plots(metrics, points, Path(tmp))
        return {name: (Path(tmp) / name).read_bytes() for name in names}


def _wrap(bar: tqdm):
    def progress(iterable):
        for item in iterable:
            bar.update(1)
            yield item
    return progress
