"""One training run end to end: read, prepare, split, fit, evaluate, write, publish."""

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from tqdm import tqdm

from ticketml.bundle import sha256_file
from ticketml.predictor import Predictor
from training.card import build_card
from training.data import DataError, prepare, read_records, split
from training.evaluate import evaluate
from training.mapping import FieldMapping
from training.publish import make_version, publish, write_bundle
from training.train import TrainParams, fit_heads

_STAGES = ("featurise", "priority", "sentiment", "resolution", "evaluate", "write bundle")


@dataclass(frozen=True)
class RunResult:
    """What a training run produced."""

    version: str
    version_dir: Path
    card: dict
    published: bool


def run(data_path: str | Path, mapping: FieldMapping, model_dir: str | Path,
        params: TrainParams, publish_bundle: bool = True, show_progress: bool = True,
        now: datetime | None = None) -> RunResult:
    """Train on one export file and write (and by default publish) a bundle.

    Args:
        data_path: A .jsonl or .csv file of closed tickets.
        mapping: How to read its records.
        model_dir: The model directory to write into.
        params: Hyper-parameters, including the seed and split.
        publish_bundle: Point ``current.json`` at the new version.
        show_progress: Show tqdm progress bars on stderr.
        now: Training time (for the version name); defaults to the current UTC time.

    Raises:
        DataError: The file holds no usable rows or cannot be read.
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
    train, val, test, method = split(
        dataset.examples, params.seed, params.test_share, params.val_share, params.split)

    timings: dict[str, float] = {}
    bar = tqdm(total=len(_STAGES), desc="train", unit=" stage", disable=not show_progress)
    clock = {"stage": None, "start": time.perf_counter()}

    def step(stage: str) -> None:
        if clock["stage"] is not None:
            timings[clock["stage"]] = round(time.perf_counter() - clock["start"], 2)
            bar.update(1)
        clock.update(stage=stage, start=time.perf_counter())
        bar.set_postfix_str(stage)

    with bar:
        estimators, predictor_params = fit_heads(train, val, params, step)
        step("evaluate")
        version = make_version(data_sha, params.as_dict(), now)
        metrics = evaluate(Predictor(estimators, predictor_params, version), train, test)
        step("write bundle")
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
        version_dir = write_bundle(model_dir, version, estimators, predictor_params, card)
        step("done")
    if publish_bundle:
        publish(model_dir, version_dir.name)
    card = {**card, "version": version_dir.name}
    return RunResult(version_dir.name, version_dir, card, publish_bundle)


def _wrap(bar: tqdm):
    def progress(iterable):
        for item in iterable:
            bar.update(1)
            yield item
    return progress
