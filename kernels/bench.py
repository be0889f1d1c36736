"""``assay bench kernels``: every op against its baselines, side by side in one run.

Baselines per op: the naive torch implementation, ``torch.compile`` of it, and Liger-Kernel's /
verl's kernels where installed (their rows say "not installed" otherwise). Writes a markdown
table with the device, the command and the date.
"""

from __future__ import annotations

import datetime
import importlib
import os
import platform
import subprocess
from pathlib import Path

import torch

from assay.kernels.benchutil import Case, Row, measure, to_markdown

SUITES = {
    "token_logprobs": "assay.kernels.logprobs.bench",
    "segments": "assay.kernels.segments.bench",
}


def device_name(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    model = platform.processor() or "cpu"
    try:
        with open("/proc/cpuinfo") as f:
            model = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{model}, {os.cpu_count()} CPUs"


def collect(device: str, quick: bool, only: list[str] | None = None) -> list[Case]:
    cases: list[Case] = []
    for name, module in SUITES.items():
        if only and name not in only:
            continue
        cases += importlib.import_module(module).cases(device, quick)
    return cases


def run(device: str | None = None, quick: bool = False, repeats: int = 5, only: list[str] | None = None,
        out: str | None = None, progress: bool = True, command: str = "assay bench kernels") -> list[Row]:
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    cases = collect(device, quick, only)
    rows: list[Row] = []
    if progress:
        from rich.progress import track

        iterator = track(cases, description=f"benchmarking on {device}")
    else:
        iterator = cases
    for case in iterator:
        rows.append(measure(case, device, repeats=repeats))
    table = to_markdown(rows)
    print(table)
    if out:
        write_report(Path(out), rows, device, repeats, command)
    return rows


def write_report(path: Path, rows: list[Row], device: str, repeats: int, command: str) -> None:
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    except OSError:
        commit = "?"
    header = [
        "# Kernel benchmarks",
        "",
        f"- Command: `{command}`",
        f"- Device: {device_name(device)} ({device})",
        f"- torch {torch.__version__}; date {datetime.datetime.now().isoformat(timespec='seconds')}; commit {commit}",
        f"- Each time is the median of {repeats} runs after a warm-up (forward + backward where differentiable).",
        "  Peak extra = peak memory above the inputs during the runs. The last column is this row's time divided by",
        "  the first row's (assay's) time for the same op and shape: above 1 the baseline is slower.",
        "",
        "",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(header) + to_markdown(rows) + "\n")
    print(f"wrote {path}")
