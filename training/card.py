"""The model card: what a bundle is, what it was trained on, how well it does, and its limits.

``build_card`` assembles the JSON card stored in every bundle (``model_card.json``);
``render_markdown`` turns it into ``MODEL_CARD.md`` for people.
"""

import platform

import numpy as np
import scipy
import sklearn

INTENDED_USE = (
    "Suggest a priority, the customer's sentiment and an expected resolution time for new "
    "support tickets, to help agents triage. Predictions flagged needs_review should be "
    "checked by a person; none of them should decide anything on their own."
)


def build_card(*, version: str, created_at: str, data: dict, params: dict,
               predictor_params: dict, metrics: dict, timings: dict) -> dict:
    """Assemble the JSON model card.

    Args:
        version: Bundle version.
        created_at: ISO 8601 UTC time of training.
        data: Source file name and digest, mapping, data report and split sizes.
        params: Training hyper-parameters.
        predictor_params: The predictor's params (thresholds, calibration).
        metrics: Output of ``training.evaluate.evaluate``.
        timings: Seconds per training stage.
    """
    sentiment_kind = predictor_params["sentiment"]["kind"]
    resolution_kind = predictor_params["resolution"].get("kind", "ridge")
    limitations = [
        "Trained only on the data described under data; expect lower quality on tickets unlike it.",
        "Resolution metrics cover resolved test tickets; still-open tickets only bound the time "
        "from below and were imputed during training, not measured.",
        "Text is masked for e-mail addresses, phone numbers, card numbers and URL secrets; "
        "other personal data (names, addresses) is not masked.",
    ]
    if sentiment_kind == "lexicon":
        limitations.append("The data had no sentiment labels: sentiment comes from VADER, a "
                           "dictionary of English (ticketml.lexicon), not a trained model.")
    return {
        "version": version,
        "created_at": created_at,
        "intended_use": INTENDED_USE,
        "heads": {
            "priority": "TF-IDF (word 1-2, char 2-5) on masked subject+description, one-hot "
                        "categoricals, scaled numbers -> logistic regression (C and class weight "
                        "by cross-validation), temperature-scaled",
            "sentiment": "logistic regression (C and class weight by cross-validation) on "
                         "the text TF-IDF and VADER's scores" if sentiment_kind == "model"
                         else "VADER (ticketml.lexicon), the fallback without labels",
            "resolution": ("ridge on log1p(hours) for the centre and on out-of-fold |residual| "
                           "for the spread; censored tickets imputed (Tobit EM); "
                           + ("gradient-boosted median and 90% quantile trees over the fields "
                              "and the ridge outputs; " if resolution_kind == "gbm" else "")
                           + "recentred and p90 conformally calibrated on validation data"),
        },
        "data": data,
        "training": {"params": params, "seconds": dict(timings)},
        "predictor": predictor_params,
        "metrics": metrics,
        "limitations": limitations,
        "environment": {
            "python": platform.python_version(), "scikit-learn": sklearn.__version__,
            "numpy": np.__version__, "scipy": scipy.__version__,
        },
    }


def render_markdown(card: dict) -> str:
    """Render a JSON model card as Markdown."""
    m = card["metrics"]
    data = card["data"]
    lines = [
        f"# Model card: ticket enrichment {card['version']}",
        "",
        f"Trained {card['created_at']} with scikit-learn {card['environment']['scikit-learn']}.",
        "",
        "## Intended use",
        card["intended_use"],
        "",
        "## Heads",
        *[f"- **{name}**: {text}" for name, text in card["heads"].items()],
        "",
        "## Data",
        f"- source: `{data['source']}` (sha256 `{data['sha256'][:16]}…`), mapping `{data['mapping']}`",
        f"- rows read {data['report']['rows_read']}, used {data['report']['rows_used']}, "
        f"skipped {_inline(data['report']['rows_skipped'])}",
        f"- split ({data['split']['method']}): train {data['split']['train']}, "
        f"validation {data['split']['validation']}, test {data['split']['test']}",
        f"- priority labels {_inline(data['report']['priority_counts'])}; sentiment labels "
        f"{_inline(data['report']['sentiment_counts'])}",
        f"- resolution times: {data['report']['resolved']} resolved, "
        f"{data['report']['censored']} censored (still open)",
        "",
        "## Metrics (held-out test set)",
        "",
        "| head | metric | model | baseline |",
        "|---|---|---|---|",
    ]
    pri = m["priority"]
    lines += [
        f"| priority (n={pri['n']}) | macro-F1 | {pri['model']['macro_f1']} | {pri['baseline']['macro_f1']} |",
        f"| | accuracy | {pri['model']['accuracy']} | {pri['baseline']['accuracy']} |",
        f"| | calibration error (ECE) | {pri['model']['calibration']['ece']} | "
        f"{pri['baseline']['calibration']['ece']} |",
    ]
    sen = m["sentiment"]
    if sen.get("n"):
        lines += [
            f"| sentiment (n={sen['n']}) | macro-F1 | {sen['model']['macro_f1']} | "
            f"{sen['baseline']['macro_f1']} (lexicon {sen['lexicon']['macro_f1']}) |",
            f"| | accuracy | {sen['model']['accuracy']} | {sen['baseline']['accuracy']} |",
        ]
    res = m["resolution"]
    if res.get("n"):
        lines += [
            f"| resolution (n={res['n']}) | mean abs log1p error | {res['model']['log_mae']} | "
            f"{res['baseline']['log_mae']} |",
            f"| | within 2x | {res['model']['within_2x']} | {res['baseline']['within_2x']} |",
            f"| | p90 coverage | {res['model']['p90_coverage']} | {res['baseline']['p90_coverage']} |",
        ]
    review = pri["needs_review"]
    lines += [
        "",
        f"Baselines: priority {pri['baseline']['name']}; sentiment "
        f"{sen.get('baseline', {}).get('name', '-')}; resolution {res['baseline']['name']}.",
        "",
        f"**needs_review**: flagged when the top priority probability is below "
        f"{review['threshold']:.3f} (chosen on validation data for "
        f"{card['predictor']['priority']['review_target_accuracy']:.0%} accuracy on accepted "
        f"predictions). Test: {review['review_rate']:.1%} flagged; accuracy of accepted "
        f"{review['accuracy_accepted']}, of flagged {review['accuracy_reviewed']}.",
        "",
        "### Priority per class",
        "",
        "| class | precision | recall | F1 | support |",
        "|---|---|---|---|---|",
        *[f"| {c} | {v['precision']} | {v['recall']} | {v['f1']} | {v['support']} |"
          for c, v in pri["model"]["per_class"].items()],
        "",
        "### Priority confusion matrix (rows: true, columns: predicted)",
        "",
        _matrix(pri["model"]["confusion"]),
        "",
        "## Limitations",
        *[f"- {text}" for text in card["limitations"]],
        "",
        "## Training",
        f"- parameters: {_inline(card['training']['params'])}",
        f"- seconds: {_inline(card['training']['seconds'])}",
        "",
    ]
    return "\n".join(lines)


def _inline(mapping: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in mapping.items()) or "none"


def _matrix(confusion: dict) -> str:
    labels = confusion["labels"]
    rows = ["| | " + " | ".join(labels) + " |", "|---" * (len(labels) + 1) + "|"]
    rows += [f"| **{label}** | " + " | ".join(str(v) for v in row) + " |"
             for label, row in zip(labels, confusion["matrix"])]
    return "\n".join(rows)
