"""Command line of the training tool: ``python -m training <command> ...``.

Commands:
  demo-data  write seeded demo tickets as JSONL
  train      train on an export file, evaluate, write a bundle and publish it
  publish    point model/current.json at an existing version (promote or roll back)
  versions   list the versions in a model directory

Every option that has an environment variable falls back to it (shown in ``--help``).
"""

import argparse
import json
import os
import sys
from collections.abc import Sequence

from tqdm import tqdm

from ticketml.errors import TicketMLError
from training import demo_data
from training.data import DataError
from training.mapping import MappingError, load_mapping
from training.pipeline import run
from training.publish import current_version, list_versions, publish
from training.train import TrainingError, TrainParams

ENV_MODEL_DIR = "MODEL_DIR"
ENV_SEED = "TRAINING_SEED"
DEFAULT_MODEL_DIR = "model"
DEFAULT_SEED = 7


def main(argv: Sequence[str] | None = None, environ: dict | None = None) -> int:
    """Run the CLI; returns the process exit status."""
    args = _parser(os.environ if environ is None else environ).parse_args(argv)
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
    params = TrainParams(seed=args.seed, split=args.split,
                         review_target_accuracy=args.review_target_accuracy)
    result = run(args.data, load_mapping(args.mapping), args.out, params,
                 publish_bundle=not args.no_publish, show_progress=not args.quiet)
    print(_summary(result.card))
    state = "published" if result.published else "written, not published"
    print(f"bundle {result.version} {state} in {result.version_dir}")
    return 0


def _publish(args) -> int:
    current = publish(args.model_dir, args.version)
    print(f"published {current['version']} in {args.model_dir}")
    return 0


def _versions(args) -> int:
    active = current_version(args.model_dir)
    for version in list_versions(args.model_dir):
        print(("* " if version == active else "  ") + version)
    return 0


def _summary(card: dict) -> str:
    m = card["metrics"]
    rows = [("priority macro-F1", m["priority"]["model"]["macro_f1"],
             m["priority"]["baseline"]["macro_f1"])]
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
    lines += [f"{name:<26}{model:>8.4f}{base:>10.4f}" for name, model, base in rows]
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
    train.add_argument("--data", required=True, help="closed tickets, .jsonl or .csv")
    train.add_argument("--mapping", default="native",
                       help="built-in mapping name or JSON mapping file (default native)")
    train.add_argument("--out", default=model_dir,
                       help=f"model directory (env {ENV_MODEL_DIR}, default {model_dir})")
    train.add_argument("--seed", type=int, default=seed, help=f"seed (env {ENV_SEED}, default 7)")
    train.add_argument("--split", choices=("auto", "time", "random"), default="auto",
                       help="holdout: time-ordered, seeded random, or auto (time if timestamps)")
    train.add_argument("--review-target-accuracy", type=float,
                       default=TrainParams.review_target_accuracy,
                       help="accuracy the priority predictions not flagged needs_review must "
                            "reach on validation data (default %(default)s)")
    train.add_argument("--no-publish", action="store_true", help="write the bundle only")
    train.add_argument("--quiet", action="store_true", help="no progress bars")
    train.set_defaults(handler=_train)

    pub = commands.add_parser("publish", help="point current.json at an existing version")
    pub.add_argument("--model-dir", default=model_dir,
                     help=f"model directory (env {ENV_MODEL_DIR}, default {model_dir})")
    pub.add_argument("--version", required=True, help="version to publish")
    pub.set_defaults(handler=_publish)

    versions = commands.add_parser("versions", help="list versions (* = published)")
    versions.add_argument("--model-dir", default=model_dir,
                          help=f"model directory (env {ENV_MODEL_DIR}, default {model_dir})")
    versions.set_defaults(handler=_versions)
    return parser


if __name__ == "__main__":
    sys.exit(main())
