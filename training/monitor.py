"""Monitoring: the predictions stored on tickets against the outcomes that came back.

``python -m training monitor`` reads tickets as the database holds them (the database itself,
a page at a time, or a JSON export of ``/tickets``), each with the ``enrichment`` the function
wrote and, once the helpdesk closed it, its ``resolution``. It reports:
  * priority: per-class precision and recall of the enriched priority against the helpdesk's
    ``final_priority``, accuracy, and calibration (expected calibration error and a
    reliability table over the top probability), and accuracy per confidence level;
  * resolution: p90 coverage (the share solved within the predicted p90), within 2x of p50
    and log-MAE, against ``solved_at - created_at``, per confidence level too;
  * drift of the input mix: per month of ``created_at``, the shares of category, language,
    predicted priority and needs_review of every enriched ticket, and the total variation
    distance of each mix between the last month and the one before;
  * the review reasons' counts.
Sentiment has no outcome that flows back, so it is not scored. Written as ``monitor.json``,
``monitor.md`` and PNG plots; ``--publish MODEL_DIR`` also copies the JSON beside the bundle,
where the function serves its latest figures as gauges (``enrichment.metrics``).
"""

import json
import math
import shutil
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path

import firebase_admin
from firebase_admin import db

from ticketml.features import PRIORITIES, categorical
from training.data import DataError
from training.database import DEFAULT_PAGE_SIZE, DEFAULT_PATH, iter_pages, open_app

MONITOR_FILE = "monitor.json"
MARKDOWN_FILE = "monitor.md"
CALIBRATION_BINS = 10
_MS_PER_HOUR = 3_600_000
_DECIMALS = 4
_DRIFT_FIELDS = ("category", "language", "priority", "needs_review")


def read_export(path: str | Path) -> Iterator[tuple[str, object]]:
    """(id, ticket) pairs of a JSON export of ``/tickets`` (``{id: ticket}``, or the whole
    database's ``{"tickets": {...}}``) or of a JSONL file of tickets (each with an ``id``).

    Raises:
        DataError: The file cannot be read or is neither form.
    """
    path = Path(path)
    try:
        if path.suffix.lower() in (".jsonl", ".ndjson"):
            with open(path, encoding="utf-8") as f:
                for number, line in enumerate(f, start=1):
                    if line.strip():
                        ticket = json.loads(line)
                        key = ticket.get("id") if isinstance(ticket, Mapping) else None
                        yield str(key if key is not None else number), ticket
            return
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f'Invalid export "{path}": {exc}.') from exc
    if isinstance(value, Mapping) and isinstance(value.get("tickets"), Mapping):
        value = value["tickets"]
    if not isinstance(value, Mapping):
        raise DataError(f'Invalid export "{path}": expected {{id: ticket}} or {{"tickets": '
                        "{id: ticket}}.")
    yield from ((str(k), v) for k, v in value.items())


def read_database(url: str, path: str = DEFAULT_PATH,
                  page_size: int = DEFAULT_PAGE_SIZE) -> Iterator[tuple[str, object]]:
    """(id, ticket) pairs under ``path`` of a database, a page at a time (``training.database``)."""
    app = open_app(url)
    try:
        for page in iter_pages(db.reference(path, app=app), page_size):
            yield from page
    finally:
        firebase_admin.delete_app(app)


def monitor(tickets: Iterable[tuple[str, object]], now: datetime | None = None) -> dict:
    """The monitoring figures of tickets as the database holds them (see the module)."""
    now = now or datetime.now(timezone.utc)
    counts = Counter()
    scored = []  # (truth, predicted, top probability, confidence level)
    timed = []  # (hours, p50, p90, confidence level)
    months: dict[str, dict[str, Counter]] = defaultdict(lambda: defaultdict(Counter))
    reasons = Counter()
    versions = Counter()
    for _, ticket in tickets:
        if not isinstance(ticket, Mapping):
            continue
        counts["tickets"] += 1
        enrichment = ticket.get("enrichment")
        if not isinstance(enrichment, Mapping):
            continue
        counts["enriched"] += 1
        reasons.update(r for r in enrichment.get("review_reasons") or [] if isinstance(r, str))
        month = _month(ticket.get("created_at"))
        if month is not None:
            mix = months[month]
            mix["category"][categorical(ticket.get("category"))] += 1
            mix["language"][str(enrichment.get("language", "(not recorded)"))] += 1
            mix["priority"][str(enrichment.get("priority"))] += 1
            mix["needs_review"][str(bool(enrichment.get("needs_review")))] += 1
        resolution = ticket.get("resolution")
        if not isinstance(resolution, Mapping):
            continue
        counts["closed"] += 1
        versions[str(enrichment.get("model_version"))] += 1
        confidence = enrichment.get("confidence") if isinstance(
            enrichment.get("confidence"), Mapping) else {}
        truth, predicted = resolution.get("final_priority"), enrichment.get("priority")
        scores = enrichment.get("priority_scores")
        if truth in PRIORITIES and predicted in PRIORITIES and isinstance(scores, Mapping):
            top = max((_number(scores.get(p)) or 0.0) for p in PRIORITIES)
            scored.append((truth, predicted, top, confidence.get("priority")))
        hours = _hours(ticket.get("created_at"), resolution.get("solved_at"))
        interval = enrichment.get("resolution_hours")
        if hours is not None and isinstance(interval, Mapping):
            p50, p90 = _number(interval.get("p50")), _number(interval.get("p90"))
            if p50 and p90:
                timed.append((hours, p50, p90, confidence.get("resolution")))
    return {
        "generated_at": now.isoformat(timespec="seconds"),
        "tickets": counts["tickets"], "enriched": counts["enriched"], "closed": counts["closed"],
        "model_versions": dict(versions.most_common()),
        "priority": _priority(scored),
        "resolution": _resolution(timed),
        "drift": _drift(months),
        "review_reasons": dict(reasons.most_common()),
    }


def write_report(report: dict, out_dir: str | Path, publish_to: str | Path | None = None,
                 plots: bool = True) -> list[str]:
    """Write ``monitor.json``, ``monitor.md`` and the plots; copy the JSON into ``publish_to``
    (a model directory) when given. Returns the names written to ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MONITOR_FILE).write_text(json.dumps(report, indent=2) + "\n")
    (out_dir / MARKDOWN_FILE).write_text(render_markdown(report))
    written = [MONITOR_FILE, MARKDOWN_FILE] + (_plots(report, out_dir) if plots else [])
    if publish_to is not None:
        target = Path(publish_to) / MONITOR_FILE
        temporary = target.with_suffix(".json.tmp")
        shutil.copyfile(out_dir / MONITOR_FILE, temporary)
        temporary.replace(target)  # Atomic: the function never reads half a file.
    return written


def render_markdown(report: dict) -> str:
    """The report for people."""
    lines = [f"# Monitoring report, {report['generated_at']}", "",
             f"{report['tickets']} tickets, {report['enriched']} enriched, {report['closed']} "
             f"closed. Model versions of the closed ones: "
             f"{', '.join(f'{v} ({n})' for v, n in report['model_versions'].items()) or 'none'}.",
             "", "## Priority (enriched vs. the helpdesk's final priority)", ""]
    priority = report["priority"]
    if priority["n"]:
        lines += [f"{priority['n']} closed tickets; accuracy {priority['accuracy']}, "
                  f"macro-F1 {priority['macro_f1']}, expected calibration error "
                  f"{priority['calibration']['ece']}.", "",
                  "| class | precision | recall | predicted | true |", "|---|---:|---:|---:|---:|"]
        for label, row in priority["per_class"].items():
            lines.append(f"| {label} | {_cell(row['precision'])} | {_cell(row['recall'])} | "
                         f"{row['predicted']} | {row['support']} |")
        lines += ["", "| top probability | tickets | mean probability | accuracy |",
                  "|---|---:|---:|---:|"]
        for b in priority["calibration"]["bins"]:
            lines.append(f"| {b['low']:.1f}-{b['high']:.1f} | {b['n']} | "
                         f"{b['mean_probability']} | {b['accuracy']} |")
        lines += ["", _by_confidence(priority["by_confidence"], "accuracy")]
    else:
        lines.append("No closed ticket has both a predicted and a final priority.")
    lines += ["", "## Resolution time (enriched vs. solved_at - created_at)", ""]
    resolution = report["resolution"]
    if resolution["n"]:
        lines += [f"{resolution['n']} solved tickets; p90 coverage {resolution['p90_coverage']} "
                  f"(target 0.9), within 2x of p50 {resolution['within_2x']}, log-MAE "
                  f"{resolution['log_mae']}.", "",
                  _by_confidence(resolution["by_confidence"], "within_2x")]
    else:
        lines.append("No solved ticket has a predicted interval and both times.")
    lines += ["", "## Input mix by month (all enriched tickets)", ""]
    drift = report["drift"]
    for field in _DRIFT_FIELDS:
        values = sorted({v for month in drift["months"].values() for v in month[field]})
        if not values:
            continue
        lines += [f"**{field}**", "", "| month | n | " + " | ".join(values) + " |",
                  "|---|---:|" + "---:|" * len(values)]
        for month, mix in drift["months"].items():
            lines.append(f"| {month} | {mix['n']} | "
                         + " | ".join(_cell(mix[field].get(v, 0.0)) for v in values) + " |")
        lines.append("")
    if drift["last_vs_previous"]:
        change = drift["last_vs_previous"]
        lines.append(f"Total variation distance, {change['months'][1]} against "
                     f"{change['months'][0]}: " + ", ".join(
                         f"{f} {change[f]}" for f in _DRIFT_FIELDS if f in change) + ".")
    if report["review_reasons"]:
        lines += ["", "## Review reasons", ""] + [
            f"- {reason}: {n}" for reason, n in report["review_reasons"].items()]
    return "\n".join(lines) + "\n"


def _priority(scored: list[tuple]) -> dict:
    if not scored:
        return {"n": 0}
    per_class = {}
    f1s = []
    for label in PRIORITIES:
        true_positive = sum(1 for t, p, _, _ in scored if t == label and p == label)
        predicted = sum(1 for _, p, _, _ in scored if p == label)
        support = sum(1 for t, _, _, _ in scored if t == label)
        precision = true_positive / predicted if predicted else None
        recall = true_positive / support if support else None
        if support or predicted:
            p, r = precision or 0.0, recall or 0.0
            f1s.append(2 * p * r / (p + r) if p + r else 0.0)
        per_class[label] = {"precision": _round(precision), "recall": _round(recall),
                            "predicted": predicted, "support": support}
    correct = [t == p for t, p, _, _ in scored]
    bins = []
    ece = 0.0
    for k in range(CALIBRATION_BINS):
        low, high = k / CALIBRATION_BINS, (k + 1) / CALIBRATION_BINS
        members = [(top, ok) for (_, _, top, _), ok in zip(scored, correct)
                   if low <= top < high or (k == CALIBRATION_BINS - 1 and top == 1.0)]
        if not members:
            continue
        mean_p = sum(m[0] for m in members) / len(members)
        accuracy = sum(m[1] for m in members) / len(members)
        ece += len(members) / len(scored) * abs(mean_p - accuracy)
        bins.append({"low": low, "high": high, "n": len(members),
                     "mean_probability": _round(mean_p), "accuracy": _round(accuracy)})
    levels = defaultdict(list)
    for (_, _, _, level), ok in zip(scored, correct):
        levels[str(level) if level else "(not recorded)"].append(ok)
    return {
        "n": len(scored), "accuracy": _round(sum(correct) / len(scored)),
        "macro_f1": _round(sum(f1s) / len(f1s)), "per_class": per_class,
        "calibration": {"ece": _round(ece), "bins": bins},
        "by_confidence": {level: {"n": len(oks), "accuracy": _round(sum(oks) / len(oks))}
                          for level, oks in sorted(levels.items())},
    }


def _resolution(timed: list[tuple]) -> dict:
    if not timed:
        return {"n": 0}
    covered = [hours <= p90 for hours, _, p90, _ in timed]
    within = [0.5 <= p50 / max(hours, 1e-9) <= 2.0 for hours, p50, _, _ in timed]
    errors = [abs(math.log1p(p50) - math.log1p(hours)) for hours, p50, _, _ in timed]
    levels = defaultdict(list)
    for (_, _, _, level), ok, cover in zip(timed, within, covered):
        levels[str(level) if level else "(not recorded)"].append((ok, cover))
    return {
        "n": len(timed), "p90_coverage": _round(sum(covered) / len(timed)),
        "within_2x": _round(sum(within) / len(timed)),
        "log_mae": _round(sum(errors) / len(errors)),
        "by_confidence": {
            level: {"n": len(rows), "within_2x": _round(sum(r[0] for r in rows) / len(rows)),
                    "p90_coverage": _round(sum(r[1] for r in rows) / len(rows))}
            for level, rows in sorted(levels.items())},
    }


def _drift(months: dict) -> dict:
    table = {}
    for month in sorted(months):
        mixes = months[month]
        n = sum(mixes["priority"].values())
        table[month] = {"n": n, **{field: {value: _round(count / n) for value, count in
                                           sorted(mixes[field].items())}
                                   for field in _DRIFT_FIELDS}}
    last_vs_previous = {}
    if len(table) >= 2:
        previous, last = list(table)[-2:]
        last_vs_previous = {"months": [previous, last]}
        for field in _DRIFT_FIELDS:
            a, b = table[previous][field], table[last][field]
            last_vs_previous[field] = _round(
                sum(abs(a.get(v, 0.0) - b.get(v, 0.0)) for v in set(a) | set(b)) / 2)
    return {"months": table, "last_vs_previous": last_vs_previous}


def _plots(report: dict, out_dir: Path) -> list[str]:
    import matplotlib
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    written = []
    bins = (report["priority"].get("calibration") or {}).get("bins") or []
    if bins:
        fig, ax = plt.subplots(figsize=(4.2, 3.6), dpi=110)
        ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
        ax.plot([b["mean_probability"] for b in bins], [b["accuracy"] for b in bins], marker="o")
        ax.set(xlabel="predicted top probability", ylabel="share correct", xlim=(0, 1),
               ylim=(0, 1), title="Priority calibration on closed tickets")
        fig.tight_layout()
        fig.savefig(out_dir / "monitor_calibration.png")
        plt.close(fig)
        written.append("monitor_calibration.png")
    months = report["drift"]["months"]
    if months:
        fig, ax = plt.subplots(figsize=(6, 3.6), dpi=110)
        values = sorted({v for mix in months.values() for v in mix["category"]})
        bottom = [0.0] * len(months)
        for value in values:
            shares = [mix["category"].get(value, 0.0) for mix in months.values()]
            ax.bar(list(months), shares, bottom=bottom, label=value)
            bottom = [b + s for b, s in zip(bottom, shares)]
        ax.set(ylabel="share of tickets", title="Category mix by month")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out_dir / "monitor_drift.png")
        plt.close(fig)
        written.append("monitor_drift.png")
    return written


def _by_confidence(levels: Mapping, metric: str) -> str:
    return "By confidence level: " + ", ".join(
        f"{level} {row['n']} tickets, {metric} {row[metric]}" for level, row in levels.items()) + "."


def _month(created_at: object) -> str | None:
    ms = _number(created_at)
    if ms is None or ms <= 0:
        return None
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m")


def _hours(created_at: object, solved_at: object) -> float | None:
    start, end = _number(created_at), _number(solved_at)
    if start is None or end is None or end < start:
        return None
    return (end - start) / _MS_PER_HOUR


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, _DECIMALS)


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
