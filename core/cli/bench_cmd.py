"""``assay bench kernels``: run the kernel benchmarks and write a results table."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="run benchmarks (kernels)", description="Run assay's benchmarks.")
    which = p.add_subparsers(dest="suite", metavar="SUITE", required=True)
    k = which.add_parser("kernels", help="each kernel against naive torch, torch.compile, Liger and verl",
                         description="Benchmark each kernel against naive torch, torch.compile, and Liger/verl where installed.")
    k.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    k.add_argument("--quick", action="store_true", help="smaller shapes, for a smoke run")
    k.add_argument("--repeats", type=int, default=5, help="timed runs per case; the median is reported (default 5)")
    k.add_argument("--only", action="append", choices=["token_logprobs", "segments"], help="run only this suite (repeatable)")
    k.add_argument("--out", help="also write the table as markdown here, e.g. bench/results/kernels.md")
    k.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from assay.errors import AssayError
    from assay.kernels import bench

    if args.device and args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise AssayError("--device cuda: no CUDA device is visible (torch.cuda.is_available() is False)")
    if args.repeats < 1:
        raise AssayError("--repeats must be at least 1")
    import os
    import shlex
    import sys

    command = shlex.join([os.path.basename(sys.argv[0]), *sys.argv[1:]])
    bench.run(device=args.device, quick=args.quick, repeats=args.repeats, only=args.only, out=args.out, command=command)
    return 0
