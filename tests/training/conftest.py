"""Fixtures for training tests: a small demo export and one small end-to-end training run."""

from datetime import datetime, timezone

import pytest

from training import demo_data
from training.data import prepare, read_records
from training.mapping import NATIVE
from training.pipeline import run
from training.train import TrainParams, fit_heads

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


@pytest.fixture(scope="session")
def gbm_heads(demo_file):
    """Heads fitted with scikit-learn on the first 1,500 demo tickets (the next 250 for validation), the resolution
    head forced to trees: (examples, train, val, estimators, predictor params). Shared by the export parity and
    tree explanation tests; neither changes them."""
    examples = prepare(read_records(demo_file), NATIVE).examples
    train, val = examples[:1500], examples[1500:1750]
    estimators, params = fit_heads(train, val, TrainParams(resolution_model="gbm", gbm_max_iter=60),
                                   lambda stage: None)
    assert params["resolution"]["kind"] == "gbm"
    return examples, train, val, estimators, params
