"""Cross-validation folds over the training period, bootstrap intervals, paired comparisons."""

import numpy as np
import pytest
from sklearn.metrics import f1_score

from training.benchmark import _compare
from training.folds import bootstrap, cv_folds, interval, macro_f1_codes, subsample


def test_time_folds_fit_on_the_past_and_validate_on_the_next_block():
    rng = np.random.default_rng(1)
    times = rng.permutation(100).astype(float).tolist()  # Rows not in time order.
    folds, method = cv_folds(times, None, seed=7, n_folds=3)
    assert method == "time" and len(folds) == 3
    for fit, val in folds:
        assert max(times[i] for i in fit) < min(times[i] for i in val)
        assert not set(fit) & set(val)
    assert sorted(folds[-1][0].tolist() + folds[-1][1].tolist()) == list(range(100))


def test_untimed_rows_get_seeded_stratified_folds():
    labels = np.array([0] * 30 + [1] * 6)
    folds, method = cv_folds([None] * 36, labels, seed=7, n_folds=3)
    assert method == "random"
    for fit, val in folds:
        assert (labels[val] == 1).sum() == 2  # Stratified: each fold gets its share.
    again, _ = cv_folds([None] * 36, labels, seed=7, n_folds=3)
    assert all((a[1] == b[1]).all() for a, b in zip(folds, again))
    # One missing time makes the folds random: time order is not known for every row.
    _, method = cv_folds([1.0, None, 3.0, 4.0, 5.0, 6.0], None, seed=7, n_folds=3)
    assert method == "random"


def test_subsample_is_seeded_sorted_and_bounded():
    assert subsample(5, 10, 7).tolist() == [0, 1, 2, 3, 4]
    pick = subsample(1000, 100, 7)
    assert len(pick) == 100 and (np.diff(pick) > 0).all()
    assert (pick == subsample(1000, 100, 7)).all()


@pytest.mark.parametrize("seed", range(5))
def test_macro_f1_codes_matches_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    truth, predicted = rng.integers(0, 4, 200), rng.integers(0, 3, 200)
    present = sorted(set(truth) | set(predicted))
    expected = f1_score(truth, predicted, labels=present, average="macro", zero_division=0)
    assert macro_f1_codes(truth, predicted, 4) == pytest.approx(expected)


def test_bootstrap_interval_is_seeded_and_holds_the_estimate():
    values = np.random.default_rng(3).normal(1.0, 1.0, 500)
    draws = bootstrap(lambda idx: float(values[idx].mean()), len(values), seed=7)
    low, high = interval(draws)
    assert low < values.mean() < high
    assert 0.1 < high - low < 0.25  # About 2 x 1.96 / sqrt(500).
    assert (draws == bootstrap(lambda idx: float(values[idx].mean()), len(values), seed=7)).all()


def _f1(truth):
    return lambda predicted, idx=slice(None): macro_f1_codes(truth[idx], predicted[idx], 3)


def test_paired_comparison_says_better_worse_or_tie():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, 600)
    noisy = np.where(rng.random(600) < 0.5, truth, rng.integers(0, 3, 600))
    result = _compare(_f1(truth), truth.copy(), {"noisy": noisy, "same": truth.copy()}, 600,
                      seed=7, metric="macro_f1", higher=True)
    assert result["model"]["value"] == 1.0
    assert result["baselines"]["noisy"]["verdict"] == "better"
    assert result["baselines"]["noisy"]["beyond_its_interval"]
    assert result["baselines"]["same"]["verdict"] == "tie"
    assert result["verdict"] == "tie"  # Not better than every baseline.
    worse = _compare(_f1(truth), noisy, {"perfect": truth.copy()}, 600, seed=7,
                     metric="macro_f1", higher=True)
    assert worse["verdict"] == "worse"
    low, high = worse["baselines"]["perfect"]["difference_interval"]
    assert low <= high < 0


def test_paired_comparison_of_an_error_lower_is_better():
    rng = np.random.default_rng(0)
    truth = rng.normal(0, 1, 400)
    close, far = truth + rng.normal(0, 0.1, 400), truth + rng.normal(0, 1.0, 400)

    def mae(predicted, idx=slice(None)):
        return float(np.mean(np.abs(predicted[idx] - truth[idx])))
    result = _compare(mae, close, {"far": far}, 400, seed=7, metric="log_mae", higher=False)
    assert result["verdict"] == "better" and result["baselines"]["far"]["verdict"] == "better"
    assert result["baselines"]["far"]["difference_interval"][1] < 0
