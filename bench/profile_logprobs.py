"""Where ``token_logprobs``'s GPU time goes, and how the chunk budget moves it (CUDA only).

    python bench/profile_logprobs.py [--out FILE]      # N=8192, D=4096, V=151936, bf16, fwd+bwd

1. Times forward + backward at several chunk budgets (``chunk_size`` = budget / 4 logits), median
   of 10 after 2 warm-ups, CUDA events, with the peak memory above the inputs.
2. Times the default budget with 0, 256, 512 (the default) and 768 MiB of forward logits kept for
   the backward (``keep_logits_bytes``), the four interleaved run by run so clock drift hits all
   alike, with each one's peak memory.
3. Profiles one run at the default budget with ``torch.profiler`` and prints the GPU kernels'
   total time grouped by kernel: which share is GEMM and which is the elementwise Triton work.

Used to choose ``op.CUDA_CHUNK_BYTES`` and to see what stands between the op and the matmul peak;
the headline numbers come from ``assay bench kernels`` (bench/results/kernels*.md).
"""

from __future__ import annotations

import argparse
import statistics
import sys

import torch

from assay.kernels.logprobs import op, token_logprobs
from assay.kernels.logprobs.bench import _inputs

N, D, V = 8192, 4096, 151936


def time_run(fn, repeats: int = 10, warmup: int = 2) -> tuple[float, float]:
    """(median ms, peak MiB above what was allocated before)."""
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times), (torch.cuda.max_memory_allocated() - base) / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", help="also write the report here")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        sys.exit("profile_logprobs: needs a CUDA device")
    h, w, t = _inputs("cuda", N, D, V, "bf16")
    ones = torch.ones(N, device="cuda")

    def run(chunk_size=None, keep=None):
        h.grad = w.grad = None
        token_logprobs(h, w, t, chunk_size=chunk_size, keep_logits_bytes=keep).backward(ones)

    lines = [f"# token_logprobs profile: N={N} D={D} V={V} bf16, fwd+bwd, {torch.cuda.get_device_name()}", "",
             "| chunk budget (MiB fp32) | chunk (rows x cols) | time (ms) | TFLOP/s (8NDV) | peak extra (MiB) |",
             "|---:|---|---:|---:|---:|"]
    for mib in (128, 256, 512, 1024):
        chunk = mib * 2**20 // 4
        ms, peak = time_run(lambda: run(chunk))
        rows, cols = op.chunk_geometry(N, V, chunk)
        lines.append(f"| {mib} | {rows} x {cols} | {ms:.2f} | {8 * N * D * V / ms / 1e9:.0f} | {peak:.0f} |")
    lines += ["", "| logits kept (MiB) | chunks kept | time (ms), interleaved | peak extra (MiB) |", "|---:|---:|---:|---:|"]
    keeps = [mib * 2**20 for mib in (0, 256, 512, 768)]
    chunk = op.default_chunk_size(h.device)
    peaks = {k: time_run(lambda: run(keep=k), repeats=1, warmup=1)[1] for k in keeps}
    times: dict[int, list[float]] = {k: [] for k in keeps}
    for _ in range(10):
        for k in keeps:
            times[k].append(time_run(lambda: run(keep=k), repeats=1, warmup=0)[0])
    for k in keeps:
        lines.append(f"| {k // 2**20} | {op.kept_chunks(N, V, chunk, k, 2)} | {statistics.median(times[k]):.2f} | {peaks[k]:.0f} |")
    mm = torch.empty(N, D, device="cuda", dtype=torch.bfloat16)
    wc = w.detach()[:16384]
    ms, _ = time_run(lambda: torch.mm(mm, wc.T))
    lines.append(f"\nplain GEMM {N}x{D} @ {D}x16384 bf16: {ms:.3f} ms = {2 * N * D * 16384 / ms / 1e9:.0f} TFLOP/s")

    run()
    torch.cuda.synchronize()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        run()
        torch.cuda.synchronize()
    totals: dict[str, list[float]] = {}
    for ev in prof.events():
        if ev.device_type == torch.autograd.DeviceType.CUDA:
            entry = totals.setdefault(ev.name[:90], [0.0, 0])
            entry[0] += ev.device_time_total / 1e3
            entry[1] += 1
    whole = sum(v[0] for v in totals.values())
    lines += ["", f"GPU kernel time at the default budget: {whole:.2f} ms", "",
              "| kernel | calls | ms | share |", "|---|---:|---:|---:|"]
    for name, (ms, calls) in sorted(totals.items(), key=lambda kv: -kv[1][0])[:14]:
        lines.append(f"| `{name}` | {calls} | {ms:.2f} | {ms / whole:.0%} |")
    emit(lines, args.out)


def emit(lines: list[str], out: str | None) -> None:
    """Print the report, and write it to ``out`` when given."""
    report = "\n".join(lines)
    print(report)
    if out:
        with open(out, "w") as f:
            f.write(report + "\n")


if __name__ == "__main__":
    main()
