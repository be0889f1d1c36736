"""The segment kernels' tile size and warp count at 64M elements, against a device copy (CUDA only).

    python bench/profile_segments.py [--out FILE]      # run by bench/gpu_check.sh

Issue 3 asks the segment ops for 80% of the memory bandwidth at 64M elements; the first H100 run
(bench/results/kernels_h100.md) saw 28% for group_advantages (ids turned into offsets on the
host side included) and 15-23% for prm_aggregate. This sweep times the kernels alone (offsets
given, no checks) at ``SEGS x BLOCK`` tiles of 1024, 4096 and 16384 elements and 2, 4 or 8 warps, groups of
16, and prints each one's GB/s beside a plain device copy (``torch.clone``: read + write), so the
launch constants in ``kernels/segments/triton_kernels.py`` (``TILE`` and ``_tile``'s warps) can be
set from data. Bytes counted: every input element read once, every output element written once,
and the offsets read once. Medians of 20 runs after 3 warm-ups, CUDA events.
"""

from __future__ import annotations

import argparse
import sys

import torch
from profile_logprobs import emit, time_run  # bench/ is on sys.path when this runs as a script

N, GROUP = 1 << 26, 16
TILES = (1024, 4096, 16384)  # kept short: gpu_check.sh as a whole must stay under 5 minutes
WARPS = (2, 4, 8)


def time_ms(fn, repeats: int = 20, warmup: int = 3) -> float:
    return time_run(fn, repeats, warmup)[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", help="also write the report here")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        sys.exit("profile_segments: needs a CUDA device")
    from assay.kernels.segments import triton_kernels as tk

    x = torch.rand(N, device="cuda")
    offsets = torch.arange(0, N + 1, GROUP, device="cuda", dtype=torch.int64)
    n_seg = offsets.numel() - 1
    off_bytes = offsets.numel() * 8
    ops = {  # name: (launch(block, segs, warps), bytes moved)
        "group_advantages grpo": (lambda **kw: tk.group_advantages_triton(x, None, offsets, "grpo", 1e-6, **kw),
                                  N * 8 + off_bytes),
        "prm_aggregate min": (lambda **kw: tk.prm_aggregate_triton(x, offsets, "min", 0.0, **kw), N * 4 + off_bytes + n_seg * 4),
        "prm_aggregate mean": (lambda **kw: tk.prm_aggregate_triton(x, offsets, "mean", 0.0, **kw), N * 4 + off_bytes + n_seg * 4),
        "process_returns min": (lambda **kw: tk.process_returns_triton(x, offsets, "min", 1.0, 0.1, **kw), N * 8 + off_bytes),
    }
    copy_ms = time_ms(lambda: x.clone())
    copy_gbs = N * 8 / copy_ms / 1e6
    default_segs, block, default_warps = tk._tile(N, n_seg, None, None)
    lines = [f"# Segment kernels at N={N}, groups of {GROUP}: tile and warps ({torch.cuda.get_device_name()})", "",
             f"device copy (clone, {N * 8 / 2**20:.0f} MiB moved): {copy_ms:.3f} ms = {copy_gbs:.0f} GB/s", "",
             f"current default: SEGS={default_segs} x BLOCK={block} = {default_segs * block} elements, "
             f"{default_warps} warps", "",
             "| op | tile (elements) | warps | ms | GB/s | of copy |", "|---|---:|---:|---:|---:|---:|"]
    for name, (launch, moved) in ops.items():
        best = None
        for tile in TILES:
            for warps in WARPS:
                ms = time_ms(lambda: launch(block=block, segs=tile // block, warps=warps))
                gbs = moved / ms / 1e6
                best = max(best or (0.0, tile, warps), (gbs, tile, warps))
                lines.append(f"| {name} | {tile} | {warps} | {ms:.3f} | {gbs:.0f} | {gbs / copy_gbs:.0%} |")
        lines.append(f"| **{name}: best** | {best[1]} | {best[2]} | | **{best[0]:.0f}** | **{best[0] / copy_gbs:.0%}** |")
        print("\n".join(lines[-1:]), flush=True)
    emit(lines, args.out)


if __name__ == "__main__":
    main()
