"""Command line of the training tool: ``python -m training <command> ...``.

Commands:
  demo-data  write seeded demo tickets as JSONL
  train      train on an export file or the database, evaluate, write a bundle and publish it
  publish    point model/current.json at an existing version (promote or roll back)
  versions   list the versions in a model directory
  prune      delete old versions, keeping the published one and the newest others
  evaluate   the benchmark: train on one file, evaluate on another (nothing is published)
  monitor    stored predictions against the outcomes of closed tickets, and the input mix

Every option that has an environment variable falls back to it (shown in ``--help``).
"""

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from tqdm import tqdm

from ticketml.errors import TicketMLError
from training import database, database_url, demo_data, monitor
from training.data import DataError
from training.benchmark import render_table, run_benchmark
from training.mapping import MappingError, load_mapping
from training.minimum import Minimum
from training.pipeline import run
from training.publish import card_regressions, current_version, list_versions, prune, publish
from training.train import TrainingError, TrainParams

ENV_MODEL_DIR = "MODEL_DIR"
ENV_SEED = "TRAINING_SEED"
ENV_MIN_CLOSED = "TRAINING_MIN_CLOSED"
ENV_MIN_PER_CLASS = "TRAINING_MIN_PER_CLASS"
DEFAULT_MODEL_DIR = "model"
DEFAULT_SEED = 7


def main(argv: Sequence[str] | None = None, environ: dict | None = None) -> int:
    """Run the CLI; returns the process exit status."""
    environ = os.environ if environ is None else environ
    args = _parser(environ).parse_args(argv)
    args.environ = environ
    try:
        return args.handler(args)
    except (DataError, MappingError, TrainingError, TicketMLError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _demo_data(args) -> int:
    count = demo_data.write_jsonl(
        args.n, args.seed, args.out,
        progress=None if args.quiet else lambda it, total: tqdm(it, total=total, desc="demo data"))
    print(f"wrote {count} demo tickets (seed {args.seed}) to {args.out}")
    return 0


def _train(args) -> int:
    if args.database is None:
        return _train_on(Path(args.data), load_mapping(args.mapping or "native"), args)
    if args.mapping is not None:
        print("error: --mapping applies to --data files; a database snapshot is read with the "
              "native mapping.", file=sys.stderr)
        return 1
    target = database_url.resolve(args.database, args.environ)
    with tempfile.TemporaryDirectory(prefix="training-") as tmp:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        snapshot = Path(args.snapshot) if args.snapshot else Path(tmp) / f"tickets-{stamp}.jsonl"
        with tqdm(desc="read database", unit=" tickets", disable=args.quiet) as bar:
            report = database.write_snapshot(
                target, snapshot, path=args.path, page_size=args.page_size,
                include_open=not args.closed_only, progress=bar.update)
        left_out = f", {report.open_left_out} open left out" if args.closed_only else ""
        print(f"read {report.tickets} tickets from {target} ({args.path}) in {report.pages} pages "
              f"({report.seconds:.1f} s): {report.closed} closed, {report.open} open{left_out}, "
              f"{report.not_objects} not objects")
        if args.snapshot:
            print(f"masked snapshot in {snapshot}")
        return _train_on(snapshot, load_mapping("native"), args)


def _train_on(data: Path, mapping, args) -> int:
    result = run(data, mapping, args.out, _params(args),
                 publish_bundle=not args.no_publish, show_progress=not args.quiet,
                 force=args.force, minimum=Minimum(args.min_closed, args.min_per_class))
    print(_summary(result.card))
    state = "published" if result.published else "written, not published"
    print(f"bundle {result.version} {state} in {result.version_dir}")
    if result.refused:
        print("error: not published, it scores worse than the published bundle on the same "
              f"test set: {'; '.join(result.refused)}. Use --force to publish it anyway.",
              file=sys.stderr)
        return 1
    return 0


def _evaluate(args) -> int:
    doc = run_benchmark(load_mapping(args.mapping), args.train, args.test, args.out,
                        _params(args), group_by=args.group_by, show_progress=not args.quiet)
    print(render_table(doc))
    print(f"metrics, report and plots in {args.out}")
    return 0


def _params(args) -> TrainParams:
    return TrainParams(seed=args.seed, split=args.split,
                       review_target_accuracy=args.review_target_accuracy,
                       recency_half_life_days=args.recency_half_life_days,
                       resolution_model=args.resolution_model, description_chars=args.description_chars)


def _description_chars(value: str) -> int | None:
    """--description-chars: a whole number of characters from 1, or "all" (None: the whole description)."""
    if value == "all":
        return None
    if value.isascii() and value.isdigit() and int(value) >= 1:
        return int(value)
    raise argparse.ArgumentTypeError(
        f'Invalid --description-chars: "{value}". It must be a whole number of characters from 1, or "all".')


def _monitor(args) -> int:
    if args.database is None:
        tickets = monitor.read_export(args.data)
        source = args.data
    else:
        target = database_url.resolve(args.database, args.environ)
        tickets = monitor.read_database(target, args.path, args.page_size)
        source = f"{target} ({args.path})"
    report = monitor.monitor(tickets)
    written = monitor.write_report(report, args.out, publish_to=args.publish)
    priority, resolution = report["priority"], report["resolution"]
    print(f"read {report['tickets']} tickets from {source}: {report['enriched']} enriched, "
          f"{report['closed']} closed")
    if priority["n"]:
        print(f"priority on {priority['n']} closed: accuracy {priority['accuracy']}, macro-F1 "
              f"{priority['macro_f1']}, calibration error {priority['calibration']['ece']}")
    if resolution["n"]:
        print(f"resolution on {resolution['n']} solved: p90 coverage "
              f"{resolution['p90_coverage']}, within 2x {resolution['within_2x']}")
    print(f"{', '.join(written)} in {args.out}"
          + (f"; {monitor.MONITOR_FILE} published in {args.publish}" if args.publish else ""))
    return 0


def _publish(args) -> int:
    regressions = [] if args.force else card_regressions(args.model_dir, args.version)
    if regressions:
        print(f"error: not published: {'; '.join(regressions)}. Use --force to publish it "
              "anyway (a roll back, say).", file=sys.stderr)
        return 1
    current = publish(args.model_dir, args.version)
    print(f"published {current['version']} in {args.model_dir}")
    return 0


def _prune(args) -> int:
    removed = prune(args.model_dir, args.keep)
    print(f"deleted {len(removed)} version(s): {', '.join(removed) or 'none'}")
    return 0


def _versions(args) -> int:
    active = current_version(args.model_dir)
    for version in list_versions(args.model_dir):
        print(("* " if version == active else "  ") + version)
    return 0


def _summary(card: dict) -> str:
    m = card["metrics"]
    rows = []
    if m["priority"].get("n"):
        rows.append(("priority macro-F1", m["priority"]["model"]["macro_f1"],
                     m["priority"]["baseline"]["macro_f1"]))
    if m["sentiment"].get("n"):
        rows.append(("sentiment macro-F1", m["sentiment"]["model"]["macro_f1"],
                     m["sentiment"]["baseline"]["macro_f1"]))
    if m["resolution"].get("n"):
        res = m["resolution"]
        rows += [("resolution log-MAE", res["model"]["log_mae"], res["baseline"]["log_mae"]),
                 ("resolution within 2x", res["model"]["within_2x"], res["baseline"]["within_2x"]),
                 ("resolution p90 coverage", res["model"]["p90_coverage"],
                  res["baseline"]["p90_coverage"])]
    lines = [f"{'metric':<26}{'model':>8}{'baseline':>10}"]
    rows = [r for r in rows if r[1] is not None]
    lines += [f"{name:<26}{model:>8.4f}{base:>10.4f}" for name, model, base in rows]
    if m["priority"].get("n"):
        lines.append(f"needs_review: {json.dumps(m['priority']['needs_review'])}")
    return "\n".join(lines)


def _parser(environ) -> argparse.ArgumentParser:
    model_dir = environ.get(ENV_MODEL_DIR, DEFAULT_MODEL_DIR)
    seed = int(environ.get(ENV_SEED, DEFAULT_SEED))
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo-data", help="write seeded demo tickets as JSONL")
    demo.add_argument("--n", type=int, default=20_000, help="number of tickets (default 20000)")
    demo.add_argument("--seed", type=int, default=seed, help=f"seed (env {ENV_SEED}, default 7)")
    demo.add_argument("--out", required=True, help="output .jsonl file")
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    demo.set_defaults(handler=_demo_data)

    train = commands.add_parser("train", help="train, evaluate, write and publish a bundle")
    source = train.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", help="closed tickets, .jsonl or .csv")
    source.add_argument(
        "--database", nargs="?", const="", metavar="URL",
        help="read the tickets from a Realtime Database through firebase-admin. URL: "
             "https://<namespace>.firebaseio.com, "
             "https://<namespace>.<region>.firebasedatabase.app "
             f"(the emulator at env {database_url.EMULATOR_ENV}=host:port if set), or an "
             "emulator's http://host:port[/][?ns=<namespace>]; without ?ns= the namespace is "
             "the function's: the first label of env DATABASE_URL, else "
             "<project>-default-rtdb, project from env GCLOUD_PROJECT, GOOGLE_CLOUD_PROJECT or "
             ".firebaserc (default demo-tickets). No URL: env DATABASE_URL, else "
             "https://<project>-default-rtdb.firebaseio.com")
    train.add_argument("--mapping",
                       help="built-in mapping name or JSON mapping file, for --data "
                            "(default native)")
    train.add_argument("--path", default=database.DEFAULT_PATH,
                       help="with --database: location of the tickets (default %(default)s)")
    train.add_argument("--page-size", type=int, default=database.DEFAULT_PAGE_SIZE,
                       help="with --database: tickets per request (default %(default)s)")
    train.add_argument("--closed-only", action="store_true",
                       help="with --database: leave out open tickets (by default they are "
                            "censored examples for the resolution head)")
    train.add_argument("--snapshot", metavar="FILE",
                       help="with --database: keep the masked JSONL snapshot trained on here "
                            "(retrain on it later with --data FILE)")
    train.add_argument("--out", default=model_dir,
                       help=f"model directory (env {ENV_MODEL_DIR}, default {model_dir})")
    train.add_argument("--seed", type=int, default=seed, help=f"seed (env {ENV_SEED}, default 7)")
    train.add_argument("--split", choices=("auto", "time", "random"), default="auto",
                       help="holdout: time-ordered, seeded random, or auto (time if timestamps)")
    _training_options(train)
    train.add_argument("--min-closed", type=int,
                       default=int(environ.get(ENV_MIN_CLOSED, Minimum.closed)),
                       help="refuse to train on fewer closed tickets (env "
                            f"{ENV_MIN_CLOSED}, default {Minimum.closed})")
    train.add_argument("--min-per-class", type=int,
                       default=int(environ.get(ENV_MIN_PER_CLASS, Minimum.per_class)),
                       help="refuse to train when a priority or sentiment has fewer closed "
                            f"tickets (env {ENV_MIN_PER_CLASS}, default {Minimum.per_class})")
    train.add_argument("--no-publish", action="store_true", help="write the bundle only")
    train.add_argument("--force", action="store_true",
                       help="publish even if the published bundle scores better")
    train.add_argument("--quiet", action="store_true", help="no progress bars")
    train.set_defaults(handler=_train)

    bench = commands.add_parser(
        "evaluate", help="benchmark: train on one file, evaluate on another, write a report")
    bench.add_argument("--mapping", required=True,
                       help="built-in or shipped mapping name (training/mappings/), or a JSON file")
    bench.add_argument("--train", required=True, help="file to train on, .jsonl or .csv")
    bench.add_argument("--test", required=True, help="file to evaluate on, .jsonl or .csv")
    bench.add_argument("--out", required=True, help="directory for metrics.json, report.md, PNGs")
    bench.add_argument("--seed", type=int, default=seed, help=f"seed (env {ENV_SEED}, default 7)")
    bench.add_argument("--split", choices=("auto", "time", "random"), default="auto",
                       help="how validation rows are taken from --train (default auto)")
    bench.add_argument("--group-by", help="also report per value of this field (e.g. type)")
    _training_options(bench)
    bench.add_argument("--quiet", action="store_true", help="no progress bars")
    bench.set_defaults(handler=_evaluate)

    mon = commands.add_parser(
        "monitor", help="compare stored predictions with closed tickets' outcomes; input drift")
    mon_source = mon.add_mutually_exclusive_group(required=True)
    mon_source.add_argument("--data", help="JSON export of /tickets ({id: ticket}, or the "
                                           "database's {\"tickets\": ...}), or JSONL of tickets")
    mon_source.add_argument("--database", nargs="?", const="", metavar="URL",
                            help="read the tickets from a Realtime Database (URL as for train)")
    mon.add_argument("--path", default=database.DEFAULT_PATH,
                     help="with --database: location of the tickets (default %(default)s)")
    mon.add_argument("--page-size", type=int, default=database.DEFAULT_PAGE_SIZE,
                     help="with --database: tickets per request (default %(default)s)")
    mon.add_argument("--out", required=True, help="directory for monitor.json, monitor.md, PNGs")
    mon.add_argument("--publish", metavar="MODEL_DIR",
                     help="also copy monitor.json into this model directory, where the "
                          "function serves its figures on /metrics")
    mon.set_defaults(handler=_monitor)

    pub = commands.add_parser("publish", help="point current.json at an existing version")
    pub.add_argument("--model-dir", default=model_dir,
                     help=f"model directory (env {ENV_MODEL_DIR}, default {model_dir})")
    pub.add_argument("--version", required=True, help="version to publish")
    pub.add_argument("--force", action="store_true",
                     help="publish even if its card shows it worse on the same evaluation")
    pub.set_defaults(handler=_publish)

    prune_ = commands.add_parser("prune", help="delete old versions")
    prune_.add_argument("--model-dir", default=model_dir,
                        help=f"model directory (env {ENV_MODEL_DIR}, default {model_dir})")
    prune_.add_argument("--keep", type=int, default=2,
                        help="newest versions to keep besides the published one (default 2)")
    prune_.set_defaults(handler=_prune)

    versions = commands.add_parser("versions", help="list versions (* = published)")
    versions.add_argument("--model-dir", default=model_dir,
                          help=f"model directory (env {ENV_MODEL_DIR}, default {model_dir})")
    versions.set_defaults(handler=_versions)
    return parser


def _training_options(command) -> None:
    command.add_argument("--review-target-accuracy", type=float,
                         default=TrainParams.review_target_accuracy,
                         help="accuracy the priority predictions not flagged needs_review must "
                              "reach on validation data (default %(default)s)")
    command.add_argument("--recency-half-life-days", type=float, default=0.0,
                         help="weight training tickets by 0.5 ** (age / half-life); 0 = off")
    command.add_argument("--resolution-model", choices=("auto", "gbm", "ridge"), default="auto",
                         help="resolution head: trees if they beat the ridge on validation "
                              "data (auto), or one of them")
    command.add_argument("--description-chars", type=_description_chars, default=TrainParams.description_chars,
                         help="the heads read this many characters of each masked description, cut back "
                              "to a word boundary, or 'all' (default %(default)s; recorded in the bundle)")


if __name__ == "__main__":
    sys.exit(main())
