"""When does numba's parallel region pay for the CPU segment ops? Serial vs parallel loops of
``assay.kernels.segments.cpu`` (the same per-segment code) at growing sizes, groups of 8.

    .venv/bin/python bench/segments_threads.py [--repeats 50] [--out bench/results/segments_threads.md]

Medians of ``--repeats`` calls after a warm-up; the 1-minute load average is recorded, since
the parallel region's cost depends on whether numba's workers get a core. Sets the threshold
``cpu.PARALLEL_MIN_ELEMENTS``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from assay.kernels.segments import cpu

SIZES = (64, 1024, 16_384, 65_536, 262_144, 1_048_576, 4_194_304)


def median_us(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1e6)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=50)
    p.add_argument("--out", default="bench/results/segments_threads.md")
    args = p.parse_args()
    load_start = os.getloadavg()[0]
    rows = []
    for n in SIZES:
        x = torch.rand(n) + 0.01
        offsets = torch.arange(0, n + 1, 8, dtype=torch.int64)
        xs, offs = x.numpy(), offsets.numpy()
        out_seg = np.empty(offsets.numel() - 1, dtype=np.float32)
        out_tok = np.empty(n, dtype=np.float32)
        none = np.empty(0, dtype=np.int64)
        cases = {
            "group_advantages": (lambda f: lambda: f(xs, none, False, offs, 0, 1e-6, out_tok),
                                 cpu._advantages_serial, cpu._advantages_parallel),
            "prm_aggregate min": (lambda f: lambda: f(xs, offs, 0, 0.0, out_seg),
                                  cpu._aggregate_serial, cpu._aggregate_parallel),
        }
        for name, (bind, serial, parallel) in cases.items():
            s, par = median_us(bind(serial), args.repeats), median_us(bind(parallel), args.repeats)
            rows.append((name, n, s, par))
            print(f"{name:18s} n={n:>9d} serial {s:10.1f} us  parallel {par:10.1f} us  parallel/serial {par / s:6.2f}",
                  flush=True)
    load_end = os.getloadavg()[0]
    lines = ["# CPU segment ops: serial vs parallel loops", "",
             f"Command: `.venv/bin/python bench/segments_threads.py --repeats {args.repeats}`  ",
             f"Machine: {platform.machine()}, {os.cpu_count()} cores (shared), numba threading layer "
             f"{__import__('numba').threading_layer()}; {datetime.date.today()}; 1-min load {load_start:.1f} -> {load_end:.1f}.",
             "", "Median microseconds per call (groups / segments of 8, float32):", "",
             "| op | elements | serial us | parallel us | parallel / serial |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {name} | {n:,} | {s:.1f} | {par:.1f} | {par / s:.2f} |" for name, n, s, par in rows]
    lines += ["", f"Threshold in use: `PARALLEL_MIN_ELEMENTS = {cpu.PARALLEL_MIN_ELEMENTS:,}` elements "
              "(below it the dispatcher runs the serial loop)."]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
