"""Code verifier throughput: problems per second for N problems x 10 stdin/stdout tests, side by
side with naive baselines that start one fresh process per test.

    .venv/bin/python bench/verify_code.py [--repeats 3] [--problems 200] [--naive-problems 50]

Paths (each pass measures every path, in a rotating order, so a load spike on a shared machine
hits them alike; figures are medians over ``--repeats`` passes, after one warm-up):
- ``CodeVerifier.verify_batch``: one pooled sandbox run per problem; its harness forks one child
  per test; outputs compared on the host;
- naive, bare: ``subprocess.run([python, "-c", program])`` per test, no isolation at all;
- naive, sandboxed: ``Sandbox("bwrap").run(["python3", "-c", program])`` per test (what a
  verifier that wraps each test in a fresh sandbox pays);
- naive, tuned: ``python -I -S -c`` per test: the interpreter without ``site`` (a third of the
  start-up), the fastest a fresh process per test gets.
The bare and sandboxed rows are the baselines of ``bench/sandbox.py``.
The naive paths run ``--naive-problems`` of the problems (they are slow; per-problem figures are
the same) on 2 threads per core, like the verifier's batch.
Every path must judge every problem as passed, else the benchmark stops.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from assay import Task
from assay.sandbox import Limits, Sandbox
from assay.verifiers.code import CodeVerifier
from assay.verifiers.code.compare import Comparison

PY = str(Path(sys.base_prefix) / "bin" / "python3")
LIMITS = Limits(wall_s=10, cpu_s=10, memory_mb=512, pids=32, disk_mb=16)
TESTS_PER_PROBLEM = 10


def problems(n: int) -> list[tuple[Task, str]]:
    """N small problems (a * b + k for problem k), each with 10 stdin/stdout tests, and a solution."""
    out = []
    for k in range(n):
        tests = [{"input": f"{t} {t + k}\n", "output": f"{t * (t + k) + k}\n"} for t in range(TESTS_PER_PROBLEM)]
        solution = f"a, b = map(int, input().split())\nprint(a * b + {k})"
        out.append((Task(f"bench-{k}", "p", answer={"tests": tests}, domain="code"), f"```python\n{solution}\n```"))
    return out


def naive(run_one):
    """A verifier that runs each test in a fresh process and compares in the parent."""
    compare = Comparison()

    def verify(task: Task, response: str) -> bool:
        program = response.split("```python\n", 1)[1].rsplit("```", 1)[0]
        return all(compare.text(run_one(program, t["input"].encode()), t["output"]) for t in task.answer["tests"])

    return verify


def bare(flags: list[str]):
    def run(program: str, stdin: bytes) -> str:
        return subprocess.run([PY, *flags, "-c", program], input=stdin, capture_output=True, timeout=20).stdout.decode()

    return run


def one_shot(box: Sandbox):
    return lambda program, stdin: box.run(["python3", "-c", program], stdin=stdin, limits=LIMITS).text()


def timed(verify_all, items) -> float:
    t = time.perf_counter()
    ok = verify_all(items)
    elapsed = time.perf_counter() - t
    if not all(ok):
        raise SystemExit(f"a path judged {ok.count(False)} of {len(ok)} correct problems as failed")
    return len(items) / elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--problems", type=int, default=200)
    ap.add_argument("--naive-problems", type=int, default=50)
    ap.add_argument("--out", default="bench/results/verify_code.md")
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    threads = 2 * cores
    items = problems(args.problems)
    verifier = CodeVerifier(workers=cores)
    verifier.max_workers = threads
    box = Sandbox("bwrap")

    def threaded(verify):
        return lambda batch: list(ThreadPoolExecutor(threads).map(lambda it: verify(*it), batch))

    paths = {
        "CodeVerifier (pooled sandbox, one run per problem, fork per test)":
            (lambda batch: [v.passed for v in verifier.verify_batch([t for t, _ in batch], [r for _, r in batch])], items),
        "naive: bare subprocess.run per test (no isolation)": (threaded(naive(bare([]))), items[: args.naive_problems]),
        "naive: fresh bwrap sandbox per test": (threaded(naive(one_shot(box))), items[: args.naive_problems]),
        "naive, tuned: bare `python -I -S` per test (no site import, no isolation)":
            (threaded(naive(bare(["-I", "-S"]))), items[: args.naive_problems]),
    }
    rates: dict[str, list[float]] = {name: [] for name in paths}
    load_start = os.getloadavg()[0]
    try:
        for run, batch in paths.values():  # warm-up: pool start, page cache
            run(batch[:4])
        for rep in range(args.repeats):
            names = list(paths)
            names = names[rep % len(names):] + names[: rep % len(names)]
            for name in names:
                run, batch = paths[name]
                rates[name].append(timed(run, batch))
            print(f"pass {rep + 1}/{args.repeats}: " + ", ".join(f"{rates[n][-1]:.1f}" for n in paths)
                  + f" problems/s, load {os.getloadavg()[0]:.1f}", flush=True)
    finally:
        verifier.close()
    write(args, {n: statistics.median(r) for n, r in rates.items()}, rates, cores, load_start)


def write(args, medians: dict[str, float], rates: dict[str, list[float]], cores: int, load_start: float) -> None:
    ours, bare_name, box_name, tuned_name = list(medians)
    load_end = os.getloadavg()[0]
    lines = [
        "# Code verifier benchmark", "",
        f"Command: `.venv/bin/python bench/verify_code.py {' '.join(sys.argv[1:])}`  ",
        f"Machine: {platform.node()}, {platform.machine()}, {cores} cores, Linux {platform.release()}, "
        f"Python {platform.python_version()}  ",
        f"Date: {datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='minutes')}  ",
        f"Load average (1 min) at the start: {load_start:.1f}, at the end: {load_end:.1f} "
        f"({'loaded: ' if max(load_start, load_end) > 3 else ''}a shared machine, other work ran beside this)", "",
        f"| path | problems/s (median of {args.repeats}) | per pass | problems |",
        "|---|---:|---|---:|",
        *[f"| {n} | {m:.2f} | {', '.join(f'{r:.2f}' for r in rates[n])} | "
          f"{args.problems if n == ours else min(args.problems, args.naive_problems)} |" for n, m in medians.items()], "",
        f"Each problem: {TESTS_PER_PROBLEM} stdin/stdout tests of `a, b = map(int, input().split()); print(a * b + k)`, "
        "all solved (every path must judge every problem passed). Naive paths: one fresh process per test, "
        f"{2 * cores} threads, output compared in the parent.", "",
        "## Target", "",
        f"- CodeVerifier >= 5x the naive baseline (one fresh subprocess per test): "
        f"{medians[ours] / medians[bare_name]:.1f}x bare subprocess.run "
        f"({'met' if medians[ours] >= 5 * medians[bare_name] else 'NOT met'}), "
        f"{medians[ours] / medians[box_name]:.1f}x a fresh bwrap sandbox per test, "
        f"{medians[ours] / medians[tuned_name]:.1f}x the tuned bare interpreter (`-I -S`)", "",
    ]
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
