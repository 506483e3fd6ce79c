"""The refit on training + validation rows (``TrainParams.refit``) learns from the validation
rows, keeps the calibration chosen without them, and gives a bundle that loads and predicts."""

from dataclasses import replace

import numpy as np
import pytest

from ticketml.bundle import load_bundle, sha256_file
from ticketml.predictor import Predictor
from training.card import build_card
from training.data import prepare, read_records
from training.evaluate import evaluate
from training.export import export_models
from training.mapping import NATIVE
from training.publish import publish, write_bundle
from training.train import TrainParams, fit_heads, heads_to_refit

from .conftest import FIXED_NOW

ONLY_IN_VALIDATION = "P4"


@pytest.fixture(scope="module")
def split_with_a_class_only_in_validation(demo_file):
    """800 training tickets without one priority's label, 300 validation tickets with it."""
    examples = prepare(read_records(demo_file), NATIVE).examples
    train = [replace(e, priority=None) if e.priority == ONLY_IN_VALIDATION else e
             for e in examples[:800]]
    val = examples[800:1100]
    assert any(e.priority == ONLY_IN_VALIDATION for e in val)
    return train, val


def _fit(train, val, **params):
    validated = {}
    estimators, predictor_params = fit_heads(
        train, val, TrainParams(**params), lambda stage: None,
        on_validated=lambda e, p: validated.update(estimators=e, params=p))
    return estimators, predictor_params, validated


@pytest.fixture(scope="module")
def refitted(split_with_a_class_only_in_validation):
    return _fit(*split_with_a_class_only_in_validation, refit=True)


def test_refit_learns_a_class_seen_only_in_validation(
        refitted, split_with_a_class_only_in_validation):
    estimators, params, validated = refitted
    train, val = split_with_a_class_only_in_validation
    assert ONLY_IN_VALIDATION not in validated["params"]["priority"]["classes"]
    assert ONLY_IN_VALIDATION not in validated["estimators"]["priority"].classes_
    assert ONLY_IN_VALIDATION in params["priority"]["classes"]
    assert list(estimators["priority"].classes_) == params["priority"]["classes"]
    assert params["priority"]["refit_rows"] == sum(1 for e in train + val if e.priority)
    # Every head's final estimator changed, the featurisers did not.
    assert estimators["sentiment"] is not validated["estimators"]["sentiment"]
    assert not np.array_equal(estimators["sentiment"].coef_,
                              validated["estimators"]["sentiment"].coef_)
    assert not np.array_equal(estimators["resolution_mu"].coef_,
                              validated["estimators"]["resolution_mu"].coef_)
    assert all(estimators[k] is validated["estimators"][k] for k in ("word", "char", "fields"))


def test_refit_keeps_the_calibration_chosen_on_validation(refitted):
    _, params, validated = refitted
    before = validated["params"]
    for key in ("temperature", "review_threshold", "search", "settings"):
        assert params["priority"][key] == before["priority"][key]
    assert params["sentiment"]["lexicon_veto"] == before["sentiment"]["lexicon_veto"]
    for key in ("kind", "centre_offset", "z90", "ridge_alpha"):
        assert params["resolution"][key] == before["resolution"][key]


def test_a_refitted_bundle_loads_and_predicts_the_new_class(
        refitted, split_with_a_class_only_in_validation, demo_file, tmp_path):
    estimators, params, _ = refitted
    train, val = split_with_a_class_only_in_validation
    models = export_models(estimators)
    dataset = prepare(read_records(demo_file), NATIVE)
    test = dataset.examples[1100:1400]
    metrics = evaluate(Predictor(models, params, "refit"), train + val, test)
    data = {"source": demo_file.name, "sha256": sha256_file(demo_file), "mapping": NATIVE.name,
            "report": dataset.report,
            "split": {"method": "in order", "seed": 7, "train": 800, "validation": 300,
                      "test": len(test)}}
    card = build_card(version="refit", created_at=FIXED_NOW.isoformat(), data=data,
                      params=TrainParams().as_dict(), predictor_params=params, metrics=metrics,
                      timings={})
    write_bundle(tmp_path, "refit", models, params, card)
    publish(tmp_path, "refit")
    bundle = load_bundle(tmp_path)
    prediction = bundle.predict({"subject": "Question", "description": "How do I export a report?"})
    assert set(prediction["priority_scores"]) >= {"P1", "P2", "P3", ONLY_IN_VALIDATION}
    assert prediction["priority_scores"][ONLY_IN_VALIDATION] > 0


@pytest.mark.parametrize("params", [{"refit": False}, {"refit": True, "refit_max_rows": 1000}],
                         ids=["refit off", "more rows than refit_max_rows"])
def test_without_refit_the_heads_are_those_fitted_on_training_rows(
        split_with_a_class_only_in_validation, params):
    estimators, predictor_params, validated = _fit(*split_with_a_class_only_in_validation,
                                                   **params)
    assert estimators is validated["estimators"] and predictor_params is validated["params"]
    assert ONLY_IN_VALIDATION not in predictor_params["priority"]["classes"]
    assert "refit_rows" not in predictor_params["priority"]


def test_by_default_only_the_resolution_head_is_refitted(split_with_a_class_only_in_validation):
    train, val = split_with_a_class_only_in_validation
    estimators, params, validated = _fit(train, val)
    before = validated["estimators"]
    # Priority and sentiment are those fitted on the training rows, thresholds and all.
    assert estimators["priority"] is before["priority"] and estimators["sentiment"] is before["sentiment"]
    assert params["priority"] == validated["params"]["priority"]
    assert params["sentiment"] == validated["params"]["sentiment"]
    assert ONLY_IN_VALIDATION not in params["priority"]["classes"]
    # The resolution head learnt from the validation rows too, with the calibration chosen before.
    for name in ("resolution_mu", "resolution_sigma"):
        assert not np.array_equal(estimators[name].coef_, before[name].coef_)
    assert params["resolution"]["refit_rows"] > validated["params"]["resolution"]["settings"]["rows"]
    for key in ("kind", "centre_offset", "z90", "ridge_alpha"):
        assert params["resolution"][key] == validated["params"]["resolution"][key]


@pytest.mark.parametrize("value, heads", [(True, ("priority", "sentiment", "resolution")), (False, ()),
                                          ((), ()), (["resolution", "priority"], ("priority", "resolution")),
                                          ("sentiment", ("sentiment",))])
def test_refit_names_heads(value, heads):
    assert heads_to_refit(value) == heads


def test_a_refit_naming_no_head_is_refused_before_any_fit(split_with_a_class_only_in_validation):
    with pytest.raises(ValueError, match=r"refit names 'urgency': each head it names must be one of "
                                         r"priority, sentiment, resolution"):
        _fit(*split_with_a_class_only_in_validation, refit=("resolution", "urgency"))
