"""Kernel benchmarks: each op against naive torch, torch.compile, and Liger/verl where installed.

    .venv/bin/python bench/kernels.py [--quick] [--device cpu|cuda] [--out bench/results/kernels.md]

Same as `assay bench kernels`; the harness lives in assay.kernels.bench so the installed CLI has it.
"""

from __future__ import annotations

import sys

from assay.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["bench", "kernels", *sys.argv[1:]]))
