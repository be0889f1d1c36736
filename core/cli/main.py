"""``assay`` entry point: parse, dispatch, and turn user mistakes into one clear line."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from assay.errors import AssayError


def build_parser() -> argparse.ArgumentParser:
    from assay.cli import (bench_cmd, demo_cmd, envs_cmd, plot_cmd, pretrain_cmd, rescore_cmd, sandbox_cmd, search_cmd,
                           serve_cmd, swe_cmd, train_cmd, try_cmd, verify_cmd)
    from assay.cli import eval_cmd, eval_rm_cmd, samples_cmd, train_rm_cmd

    parser = argparse.ArgumentParser(
        prog="assay",
        description="assay: reinforcement learning with verifiable rewards for language models and agents.",
    )
    parser.add_argument("--version", action="version", version=f"assay {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (envs_cmd, try_cmd, verify_cmd, rescore_cmd, demo_cmd, pretrain_cmd, train_cmd, eval_cmd, plot_cmd, samples_cmd, serve_cmd, bench_cmd,
                   sandbox_cmd, search_cmd, swe_cmd, train_rm_cmd, eval_rm_cmd):
        module.add_parser(sub)
    return parser


def _version() -> str:
    import assay

    return assay.__version__


def main(argv: Sequence[str] | None = None) -> int:
    # transformers draws a progress bar for every checkpoint it writes or reads (a run writes one
    # per save_every steps); they cut assay's own bar into pieces and bury its output. Before any
    # Hugging Face import, which reads it; HF_HUB_DISABLE_PROGRESS_BARS=0 brings them back.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # argparse hands a command's key=value overrides over only when they come before its options
    # (``assay eval MODEL --samples 4 eval_size=100`` would be refused); take them from anywhere
    if extra and isinstance(getattr(args, "overrides", None), list) and all("=" in x and not x.startswith("-") for x in extra):
        args.overrides += extra
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return int(args.run(args) or 0)
    except AssayError as e:
        print(f"assay: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nassay: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
