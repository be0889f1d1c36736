"""Sandbox speed, side by side in one run: bare ``subprocess.run``, bwrap one-shot, the pooled
path, and Docker (a row says why when it cannot run).

    .venv/bin/python bench/sandbox.py [--repeats 3] [--problems 100] [--out bench/results/sandbox.md]

Figures (each the median over ``--repeats`` passes, after one warm-up run per path):
- latency of a trivial Python program (``print(1)``): median and p99 over ``--latency-n`` runs;
- trivial programs per second on all cores (2 threads per core, ``--trivial-n`` programs);
- problems per second for ``--problems`` problems x 10 stdin/stdout tests, one fresh program per
  test (pooled: one fresh fork per test), all cores.
"bare" is the same interpreter started with ``subprocess.run``: no isolation at all.

Side by side: every pass measures every path, and the latency runs of the paths alternate one
by one (bare, one-shot, pooled, bare, ...; Docker on its own after them), so a load spike from
other work on a shared machine hits the local paths alike. The one-shot overhead is the median
over passes of (one-shot median - bare median) within the same pass.
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

from assay.sandbox import Limits, Sandbox, SandboxPool

PY = str(Path(sys.base_prefix) / "bin" / "python3")
TRIVIAL = "print(1)"
SOLUTION = "a, b = map(int, input().split())\nprint(a * b + 1)"
LIMITS = Limits(wall_s=20, cpu_s=10, memory_mb=512, pids=32, disk_mb=16)


def bare(code: str, stdin: bytes) -> bytes:
    return subprocess.run([PY, "-c", code], input=stdin, capture_output=True, timeout=20).stdout


def runners(docker_note: list[str]):
    bwrap = Sandbox("bwrap")
    pool = SandboxPool(limits=LIMITS)
    out = {
        "bare subprocess.run": bare,
        "bwrap one-shot": lambda code, stdin: bwrap.run(["python3", "-c", code], stdin=stdin, limits=LIMITS).stdout,
        "bwrap pooled (fork per program)": lambda code, stdin: pool.run_python(code, stdin=stdin, limits=LIMITS).stdout,
    }
    try:
        docker = Sandbox("docker")
        docker.backend  # noqa: B018  (raises SandboxUnavailable when it cannot run here)
        out["docker one-shot"] = lambda code, stdin: docker.run(["python3", "-c", code], stdin=stdin, limits=LIMITS).stdout
    except Exception as e:  # noqa: BLE001  (reported as a row)
        docker_note.append(f"docker: not measured ({type(e).__name__}: {e})")
    return out, pool


def latencies(paths: dict, n: int, docker_scale: float) -> dict[str, list[float]]:
    """``n`` runs of the trivial program per path, the local paths taking turns run by run.
    Docker runs ``n * docker_scale`` times on its own afterwards: its daemon keeps working after
    each run (container removal), which would slow whichever local path ran next."""
    def once(run) -> float:
        t = time.perf_counter()
        assert run(TRIVIAL, b"") == b"1\n"
        return time.perf_counter() - t

    local = {name: run for name, run in paths.items() if not name.startswith("docker")}
    times: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(n):
        for name, run in local.items():
            times[name].append(once(run))
    for name, run in paths.items():
        if name not in local:
            times[name] = [once(run) for _ in range(max(5, int(n * docker_scale)))]
    return times


def median_p99(times: list[float]) -> tuple[float, float]:
    times = sorted(times)
    return statistics.median(times), times[min(len(times) - 1, round(0.99 * (len(times) - 1)))]


def throughput(run, jobs: list[tuple[str, bytes, bytes]], threads: int) -> float:
    def one(job):
        code, stdin, want = job
        assert run(code, stdin) == want, "wrong output"

    t = time.perf_counter()
    with ThreadPoolExecutor(threads) as ex:
        list(ex.map(one, jobs))
    return len(jobs) / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--problems", type=int, default=100)
    ap.add_argument("--latency-n", type=int, default=50)
    ap.add_argument("--trivial-n", type=int, default=200)
    ap.add_argument("--docker-scale", type=float, default=0.2, help="fraction of the work Docker does (slow)")
    ap.add_argument("--out", default="bench/results/sandbox.md")
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    threads = 2 * cores
    notes: list[str] = []
    paths, pool = runners(notes)
    trivial_jobs = [(TRIVIAL, b"", b"1\n")] * args.trivial_n
    tests = [(SOLUTION, f"{p} {t}\n".encode(), f"{p * t + 1}\n".encode()) for p in range(args.problems) for t in range(10)]
    per = {name: {"lat": [], "p99": [], "tput": [], "probs": []} for name in paths}
    overheads = []
    load_start = os.getloadavg()[0]
    try:
        for run in paths.values():
            run(TRIVIAL, b"")  # warm-up
        for rep in range(args.repeats):
            lat = latencies(paths, args.latency_n, args.docker_scale)
            overheads.append(statistics.median(lat["bwrap one-shot"]) - statistics.median(lat["bare subprocess.run"]))
            for name, run in paths.items():
                scale = args.docker_scale if name.startswith("docker") else 1.0
                m, p = median_p99(lat[name])
                per[name]["lat"].append(m)
                per[name]["p99"].append(p)
                per[name]["tput"].append(throughput(run, trivial_jobs[: max(10, int(args.trivial_n * scale))], threads))
                sub = tests[: max(10, int(len(tests) * scale)) // 10 * 10]
                per[name]["probs"].append(throughput(run, sub, threads) / 10)
            print(f"pass {rep + 1}/{args.repeats}: one-shot overhead {overheads[-1] * 1e3:+.1f} ms, "
                  f"load {os.getloadavg()[0]:.1f}", flush=True)
    finally:
        pool.close()
    rows = []
    for name, f in per.items():
        rows.append((name, statistics.median(f["lat"]) * 1e3, statistics.median(f["p99"]) * 1e3,
                     statistics.median(f["tput"]), statistics.median(f["probs"])))
        print(f"{rows[-1][0]:34s} median {rows[-1][1]:7.1f} ms  p99 {rows[-1][2]:7.1f} ms  "
              f"{rows[-1][3]:7.1f} programs/s  {rows[-1][4]:6.2f} problems/s", flush=True)
    write(args, rows, notes, cores, [o * 1e3 for o in overheads], load_start)


def write(args, rows, notes, cores, overheads_ms: list[float], load_start: float) -> None:
    by = {r[0]: r for r in rows}
    overhead = statistics.median(overheads_ms)
    one_pps, pool_pps = by["bwrap one-shot"][4], by["bwrap pooled (fork per program)"][4]
    lines = [
        "# Sandbox benchmark", "",
        f"Command: `.venv/bin/python bench/sandbox.py {' '.join(sys.argv[1:])}`  ",
        f"Machine: {platform.node()}, {platform.machine()}, {cores} cores, Linux {platform.release()}, "
        f"Python {platform.python_version()}  ",
        f"Date: {datetime.datetime.now().isoformat(timespec='minutes')}  ",
        f"Load average (1 min) at the start: {load_start:.1f}, at the end: {os.getloadavg()[0]:.1f} "
        f"({'loaded: ' if max(load_start, os.getloadavg()[0]) > 3 else ''}a shared machine, other work ran beside this)", "",
        "| path | median latency (ms) | p99 latency (ms) | trivial programs/s (all cores) | problems/s (N x 10 tests) |",
        "|---|---:|---:|---:|---:|",
        *[f"| {n} | {m:.1f} | {p:.1f} | {t:.1f} | {q:.2f} |" for n, m, p, t, q in rows],
        *[f"| {note} | - | - | - | - |" for note in notes], "",
        f"Trivial program: `{TRIVIAL}`; problem test: `{SOLUTION!r}` with one stdin line. Docker rows do "
        f"{args.docker_scale:.0%} of the work (same per-item figures). Medians over {args.repeats} passes; "
        f"latency runs alternate between the local paths.", "",
        "## Targets", "",
        f"- one-shot isolation overhead <= 10 ms over bare subprocess.run: {overhead:+.1f} ms "
        f"({'met' if overhead <= 10 else 'NOT met'}; median over passes of the per-pass difference of "
        f"medians; per pass: {', '.join(f'{o:+.1f}' for o in overheads_ms)} ms)",
        f"- pooled >= 5x the throughput of one fresh (bwrap) process per test: {pool_pps / one_pps:.1f}x "
        f"({'met' if pool_pps >= 5 * one_pps else 'NOT met'})", "",
    ]
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines[-4:]))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
