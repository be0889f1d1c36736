"""``assay plot RUN_DIR``: write PNG learning curves of a training run."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plot", help="write PNG learning curves of a run", description="Write PNG learning curves from RUN_DIR/metrics.jsonl.")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--out", help="PNG path (default RUN_DIR/learning_curves.png)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from assay.trainer.plot import plot_run

    print(f"wrote {plot_run(args.run_dir, args.out)}")
    return 0
