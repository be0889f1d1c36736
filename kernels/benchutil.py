"""Measuring ops side by side: median time, peak memory above the inputs, and throughput.

Each measured thing is a :class:`Case`: an op, an implementation, a shape, and a ``setup``
function (``"module:function"``) that builds the inputs on a device and returns ``(run, work)``:
``run()`` executes the op once (forward + backward where the op is differentiable) and ``work``
says how many FLOPs / bytes one run does.

On CUDA a case runs in this process, timed with CUDA events, with memory from
``torch.cuda.max_memory_allocated``. On CPU torch has no allocator statistics, so each case runs
in a fresh subprocess: the peak resident set is reset (Linux ``/proc/self/clear_refs``) after the
inputs exist, and ``VmHWM`` after the runs is the peak; subtracting the resident set before the
first run gives "peak memory above the inputs".
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch


@dataclass(frozen=True)
class Work:
    """What one run does: matmul FLOPs, bytes moved, and the bytes of outputs any implementation
    must hold at the end (e.g. the gradients of a forward + backward), so the table can separate
    the op's own workspace from the results it hands back."""

    flops: float = 0.0
    bytes: float = 0.0
    output_bytes: float = 0.0


@dataclass(frozen=True)
class Case:
    op: str
    impl: str
    shape: str
    setup: str  # "module:function"(device, **params) -> (run, Work)
    params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Row:
    case: Case
    time_ms: float | None = None
    peak_extra_mib: float | None = None
    workspace_mib: float | None = None  # peak_extra_mib less the outputs (Work.output_bytes)
    tflops: float | None = None
    gbps: float | None = None
    error: str | None = None

    @property
    def throughput(self) -> str:
        if self.tflops:
            return f"{self.tflops:.2f} TFLOP/s"
        if self.gbps:
            return f"{self.gbps:.1f} GB/s"
        return "-"


def _resolve(setup: str) -> Callable[..., tuple[Callable[[], None], Work]]:
    module, _, name = setup.partition(":")
    return getattr(importlib.import_module(module), name)


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def _hwm_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("VmHWM not found in /proc/self/status")


def _row(case: Case, times_s: list[float], peak: float, work: Work) -> Row:
    t = statistics.median(times_s)
    return Row(
        case,
        time_ms=t * 1e3,
        peak_extra_mib=peak / 2**20,
        workspace_mib=(peak - work.output_bytes) / 2**20,
        tflops=work.flops / t / 1e12 if work.flops else None,
        gbps=work.bytes / t / 1e9 if work.bytes else None,
    )


def measure_here(case: Case, device: str, repeats: int, warmup: int) -> Row:
    """Run ``case`` in this process (CUDA, or CPU when called inside the subprocess)."""
    run, work = _resolve(case.setup)(device, **case.params)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        for _ in range(warmup):
            run()
        torch.cuda.synchronize()
        times = []
        for _ in range(repeats):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            run()
            end.record()
            torch.cuda.synchronize()
            times.append(start.elapsed_time(end) / 1e3)
        return _row(case, times, torch.cuda.max_memory_allocated() - base, work)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current resident set: the peak from here on
    base = _rss_bytes()
    times = []
    for i in range(warmup + repeats):
        t0 = time.perf_counter()
        run()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return _row(case, times, _hwm_bytes() - base, work)


def measure(case: Case, device: str = "cpu", repeats: int = 5, warmup: int = 1, timeout_s: float = 900) -> Row:
    """Measure one case; on CPU in a fresh subprocess so peak memory is the case's own."""
    try:
        if device.startswith("cuda"):
            return measure_here(case, device, repeats, warmup)
        payload = json.dumps({"case": dataclasses.asdict(case), "device": device, "repeats": repeats, "warmup": warmup})
        out = subprocess.run([sys.executable, "-m", "assay.kernels.benchutil", payload],
                             capture_output=True, text=True, timeout=timeout_s)
        if out.returncode != 0:
            return Row(case, error=(out.stderr.strip().splitlines() or ["failed"])[-1][:200])
        data = json.loads(out.stdout.strip().splitlines()[-1])
        return Row(case, **{k: v for k, v in data.items() if k != "case"})
    except Exception as e:  # one failing implementation must not sink the whole table
        return Row(case, error=f"{type(e).__name__}: {e}"[:200])


def to_markdown(rows: list[Row]) -> str:
    lines = ["| op | shape | implementation | time (ms) | peak extra (MiB) | workspace (MiB) | throughput "
             "| time / first row's |",
             "|---|---|---|---:|---:|---:|---|---:|"]
    first: dict[tuple[str, str], float] = {}
    for r in rows:
        key = (r.case.op, r.case.shape)
        if r.error:
            lines.append(f"| {r.case.op} | {r.case.shape} | {r.case.impl} | - | - | - | error: {r.error} | - |")
            continue
        first.setdefault(key, r.time_ms)
        ratio = r.time_ms / first[key] if first[key] else float("nan")
        lines.append(f"| {r.case.op} | {r.case.shape} | {r.case.impl} | {r.time_ms:.2f} | {r.peak_extra_mib:.1f} | "
                     f"{r.workspace_mib:.1f} | "
                     f"{r.throughput} | {ratio:.2f}x |")
    return "\n".join(lines)


if __name__ == "__main__":  # the CPU subprocess
    args = json.loads(sys.argv[1])
    row = measure_here(Case(**args["case"]), args["device"], args["repeats"], args["warmup"])
    print(json.dumps({k: v for k, v in dataclasses.asdict(row).items() if k != "case"}))
