"""``assay plot RUN_DIR [RUN_DIR ...]``: write PNG learning curves of one run, or of several overlaid."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plot", help="write PNG learning curves of a run (or of several, overlaid)",
                       description="Write PNG learning curves from RUN_DIR/metrics.jsonl (assay train, train-rm, "
                                   "pretrain-tiny). With several run directories every panel has one line per run.",
                       epilog="examples: assay plot runs/grpo    assay plot runs/a runs/b --smooth 10 --out ab.png")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    p.add_argument("--out", help="PNG path (default RUN_DIR/learning_curves.png; comparison.png for several runs)")
    p.add_argument("--smooth", type=int, default=1, help="trailing mean over this many points (raw line kept faint; default 1: none)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from assay.trainer.plot import plot_runs

    print(f"wrote {plot_runs(args.run_dirs, args.out, args.smooth)}")
    return 0
