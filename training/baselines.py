"""Plain reference models, measured beside ours: what a first attempt would reach.

  * priority and sentiment: ``TfidfVectorizer()`` (scikit-learn defaults) on the masked
    text, then ``LogisticRegression()`` with default settings;
  * resolution: the same TF-IDF, then ``Ridge()`` on log1p(hours) of resolved tickets.

They read only the text, so a source without text has no plain baseline (None).
"""

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, Ridge

from ticketml.features import PRIORITIES, SENTIMENTS, model_inputs
from training.data import Example
from training.evaluate import classification, resolution_metrics

_MAX_ITER = 2000
NAME = "plain TF-IDF + logistic regression (ridge for hours), text only, scikit-learn defaults"


def plain_baselines(train: list[Example], test: list[Example]) -> dict:
    """Return ``{"priority", "sentiment", "resolution"}`` metrics of the plain models.

    A head is None when the text is empty everywhere or the labels are missing.
    """
    train_texts, _ = model_inputs([e.ticket for e in train])
    test_texts, _ = model_inputs([e.ticket for e in test])
    if not any(train_texts):
        return {"name": NAME, "priority": None, "sentiment": None, "resolution": None}
    vectorizer = TfidfVectorizer()
    x_train = vectorizer.fit_transform(train_texts)
    x_test = vectorizer.transform(test_texts)
    return {
        "name": NAME,
        "priority": _classifier(train, test, x_train, x_test, "priority", PRIORITIES),
        "sentiment": _classifier(train, test, x_train, x_test, "sentiment", SENTIMENTS),
        "resolution": _regressor(train, test, x_train, x_test),
    }


def _classifier(train, test, x_train, x_test, field, labels) -> dict | None:
    rows = [i for i, e in enumerate(train) if getattr(e, field)]
    test_rows = [i for i, e in enumerate(test) if getattr(e, field)]
    if not test_rows or len({getattr(train[i], field) for i in rows}) < 2:
        return None
    model = LogisticRegression(max_iter=_MAX_ITER)
    model.fit(x_train[rows], [getattr(train[i], field) for i in rows])
    predicted = [str(p) for p in model.predict(x_test[test_rows])]
    return classification([getattr(test[i], field) for i in test_rows], predicted, labels)


def _regressor(train, test, x_train, x_test) -> dict | None:
    rows = [i for i, e in enumerate(train) if e.hours is not None and not e.censored]
    test_rows = [i for i, e in enumerate(test) if e.hours is not None and not e.censored]
    if not rows or not test_rows:
        return None
    model = Ridge().fit(x_train[rows], np.log1p([train[i].hours for i in rows]))
    p50 = np.expm1(model.predict(x_test[test_rows])).clip(min=0.0)
    truth = [test[i].hours for i in test_rows]
    metrics = resolution_metrics(truth, p50, p50)
    metrics.pop("p90_coverage")  # A point model has no p90.
    return metrics
