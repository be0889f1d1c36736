"""Throughput of the Verilog verifier: verifications per second, against the bare VerilogEval
procedure it replaces.

    .venv/bin/python bench/verify_verilog.py [--repeats 5] [--out bench/results/verify_verilog.md]

The set: every built-in problem (envs/data/verilog_problems.jsonl) with its reference and its
known-buggy variant, 2 x 24 = 48 verifications per pass. Each figure is the median over
``--repeats`` passes after one warm-up pass (sandbox pool started, each task's reference run
cached, as in steady-state training); the first-sight cost of a task (its reference run) is
reported apart. Configurations:

- assay, pooled sandboxes (the default), lint on and off, 1 thread and 2 threads;
- assay, a fresh bwrap sandbox per step (``pooled=False``);
- baseline: VerilogEval's own procedure, unsandboxed and unscreened, on the host: one
  ``iverilog -g2012`` of testbench + reference + candidate, ``vvp``, grep ``Mismatches:``. It is
  what assay's safety costs are measured against, not something to run on model output.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from assay.envs.verilog_env import builtin_problems
from assay.verifiers.verilog import VerilogVerifier

ROOT = Path(__file__).resolve().parents[1]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def baseline_one(task, response: str) -> bool:
    """VerilogEval's rule: compile everything together, run, pass if 'Mismatches: 0'."""
    with tempfile.TemporaryDirectory() as d:
        files = {"tb.sv": task.answer["testbench"], "ref.sv": task.answer["reference"], "dut.sv": response}
        for name, text in files.items():
            Path(d, name).write_text(text)
        subprocess.run(["iverilog", "-g2012", "-s", "tb", "-o", "sim.vvp", *files], cwd=d, check=True,
                       capture_output=True, timeout=60)
        out = subprocess.run(["vvp", "-n", "sim.vvp"], cwd=d, capture_output=True, text=True, timeout=60).stdout
    return re.search(r"^Mismatches: 0 in \d+ samples", out, re.M) is not None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default=str(ROOT / "bench/results/verify_verilog.md"))
    args = ap.parse_args()

    tasks = list(builtin_problems())
    probe = VerilogVerifier()
    jobs = [(t, probe.gold_response(t), True) for t in tasks] + [(t, t.meta["buggy"], False) for t in tasks]
    probe.close()
    n = len(jobs)

    def check(verdicts) -> None:
        wrong = [(t.id, e) for (t, _, e), v in zip(jobs, verdicts) if v.passed is not e or v.error is not None]
        if wrong:
            sys.exit(f"wrong verdicts: {wrong[:3]}")

    def one_pass(verifier: VerilogVerifier, threads: int) -> None:
        if threads == 1:
            check([verifier.verify(t, r) for t, r, _ in jobs])
        else:
            with ThreadPoolExecutor(max_workers=threads) as ex:
                check(list(ex.map(lambda j: verifier.verify(j[0], j[1]), jobs)))

    def baseline_pass() -> None:
        got = [baseline_one(t, r.split("```verilog\n")[-1].split("```")[0]) for t, r, _ in jobs]
        if got != [e for _, _, e in jobs]:
            sys.exit("baseline verdicts differ from the expected ones")

    configs = [
        ("assay, pooled, lint on, 1 thread", {}, 1),
        ("assay, pooled, lint on, 2 threads", {}, 2),
        ("assay, pooled, lint off, 1 thread", {"lint": False}, 1),
        ("assay, pooled, lint off, 2 threads", {"lint": False}, 2),
        ("assay, fresh sandbox per step, lint on, 1 thread", {"pooled": False}, 1),
    ]
    runs = [(label, VerilogVerifier(**kwargs), threads) for label, kwargs, threads in configs]
    passes = [(label, lambda v=v, k=threads: one_pass(v, k)) for label, v, threads in runs]
    passes.append(("baseline: bare iverilog + vvp + grep, unsandboxed, 1 thread", baseline_pass))
    load_before = os.getloadavg()[0]
    for _, fn in passes:  # warm-up: pools started, reference runs cached
        fn()
    # Configurations take turns within each repeat, so drifting load on a shared machine falls
    # on all of them alike rather than on whichever ran last.
    times: dict[str, list[float]] = {label: [] for label, _ in passes}
    for _ in range(args.repeats):
        for label, fn in passes:
            start = time.perf_counter()
            fn()
            times[label].append(time.perf_counter() - start)
    load_after = os.getloadavg()[0]
    for _, v, _ in runs:
        v.close()
    rows = [(label, n / statistics.median(ts)) for label, ts in times.items()]

    # First sight of a task: its reference run (elaborate + compile + simulate), then cached.
    cold = VerilogVerifier(lint=False)
    cold.runner  # start the pool outside the timing
    start = time.perf_counter()
    for t in tasks:
        cold.verify(t, jobs[0][1] if t is tasks[0] else t.meta["buggy"])
    t_cold = (time.perf_counter() - start) / len(tasks)
    cold.close()

    table = ["| configuration | verifications/s |", "|---|---|"] + [f"| {name} | {rate:.1f} |" for name, rate in rows]
    base = rows[-1][1]
    summary = [
        f"- set: {len(tasks)} built-in problems x (reference, buggy variant) = {n} verifications per pass; "
        f"median of {args.repeats} passes after a warm-up pass",
        f"- assay pooled, lint on, 1 thread / baseline: {rows[0][1] / base:.2f}x; lint off: {rows[2][1] / base:.2f}x",
        f"- first sight of a task (its reference run, then cached), lint off: {t_cold * 1000:.0f} ms per task",
        f"- 1-minute load average {load_before:.1f} before the timed passes and {load_after:.1f} after "
        f"(on {os.cpu_count()} CPUs; the machine is shared, so absolute rates move from run to run)",
        "- each assay verification is 3 sandboxed runs: preprocess + elaborate alone, compile with the testbench + "
        "simulate, and Verilator lint beside them (lint on); the baseline is 2 unsandboxed processes",
    ]
    report = "\n".join([
        "# Verilog verifier throughput",
        "",
        f"Command: `.venv/bin/python bench/verify_verilog.py --repeats {args.repeats}`",
        f"Machine: {os.cpu_count()} CPUs (`nproc`), {cpu_model()}; Python {platform.python_version()}; no GPU; "
        "shared with other work (hence medians)",
        f"Tools: {subprocess.run(['iverilog', '-V'], capture_output=True, text=True).stdout.splitlines()[0]}; "
        f"{subprocess.run(['verilator', '--version'], capture_output=True, text=True).stdout.strip()}",
        f"Date: {datetime.datetime.now().isoformat(timespec='seconds')}",
        "",
        *table,
        "",
        *summary,
        "",
    ])
    print(report)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(report)


if __name__ == "__main__":
    main()
