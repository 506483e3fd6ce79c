"""Explanations of a bundle whose resolution head is trees: path contributions of the fields,
and the ridge centre's share handed on to the ticket's words."""

import re

import numpy as np
import pytest

from ticketml.predictor import Predictor
from training.confidence import serving_params
from training.export import export_models


@pytest.fixture(scope="module")
def gbm_predictor(gbm_heads):
    examples, train, val, estimators, params = gbm_heads
    models = export_models(estimators)
    params = {**params, **serving_params(models, params, train, val)}
    return Predictor(models, params, "trees"), [e.ticket for e in examples[1750:1810]]


def test_tree_explanations_name_the_tickets_fields_and_words(gbm_predictor):
    predictor, tickets = gbm_predictor
    kinds = set()
    for ticket, result in zip(tickets, predictor.predict_many(tickets)):
        text = f"{ticket.get('subject', '')} {ticket.get('description', '')}".lower()
        words = {re.sub(r"^\W+|\W+$", "", c) for c in text.split()} | set(
            re.findall(r"\b\w\w+\b", text))
        items = result["explanations"]["resolution"]
        assert 0 < len(items) <= 5
        weights = [abs(i["weight"]) for i in items]
        assert weights == sorted(weights, reverse=True)
        for item in items:
            kinds.add(item["kind"])
            if item["kind"] == "word":
                assert item["feature"] in words, item
            else:
                name, _, value = item["feature"].partition("=")
                assert name in ticket or name == "seniority", item
    assert kinds == {"word", "field"}


def test_trained_thresholds_give_levels_monotone_in_the_probability(gbm_predictor):
    predictor, tickets = gbm_predictor
    rank = {"low": 0, "medium": 1, "high": 2}
    results = predictor.predict_many(tickets, explain=False)
    pairs = sorted((float(np.max(list(r["priority_scores"].values()))),
                    rank[r["confidence"]["priority"]]) for r in results)
    assert [p[1] for p in pairs] == sorted(p[1] for p in pairs)
