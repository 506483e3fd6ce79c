"""Fixtures for training tests: a small demo export and one small end-to-end training run."""

from datetime import datetime, timezone

import pytest

from training import demo_data
from training.mapping import NATIVE
from training.pipeline import run
from training.train import TrainParams

SMALL_N = 2000
FIXED_NOW = datetime(2026, 1, 2, tzinfo=timezone.utc)


@pytest.fixture(scope="session")
def demo_file(tmp_path_factory):
    """2000 demo tickets (seed 7) as JSONL."""
    path = tmp_path_factory.mktemp("data") / "demo.jsonl"
    demo_data.write_jsonl(SMALL_N, 7, path)
    return path


@pytest.fixture(scope="session")
def trained(demo_file, tmp_path_factory):
    """One published training run on the small demo file."""
    model_dir = tmp_path_factory.mktemp("model")
    result = run(demo_file, NATIVE, model_dir, TrainParams(seed=7), show_progress=False,
                 now=FIXED_NOW)
    return model_dir, result
