"""SWE environment: episode setup time and grading time per shipped task, on bwrap and on Docker.

    .venv/bin/python bench/swe.py [--repeats 3] [--backends bwrap docker] [--large DIR]

Per task and backend (medians over ``--repeats``, after the snapshot is built once):
- setup: ``open_workspace``: a session started with the prepared snapshot mounted read-only and
  the repository copied inside the sandbox's tmpfs (what ``env.reset`` pays besides drawing a task);
- naive setup (bwrap only): a session started, then every file of the repository read on the host
  and written into it one by one (a fresh copy of the repository per episode);
- grade gold / grade empty: ``grade()`` end to end: a fresh session, apply, revert test files,
  run FAIL_TO_PASS + PASS_TO_PASS under pytest, judge. Gold must resolve and empty must not.
Also the one-time cost: building a snapshot from the sdist (cold cache), and, with ``--large DIR``,
setup for a bigger tree (any directory, committed as a ``path`` source; e.g. sympy from
site-packages) to show how setup grows with the repository, which the shipped tasks cannot.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from assay.envs.swe.tasks import shipped_instances
from assay.sandbox import Sandbox
from assay.verifiers.swe.grader import grade
from assay.verifiers.swe.snapshot import snapshot_dir
from assay.verifiers.swe.workspace import Runtime, open_workspace

OUT = Path(__file__).parent / "results" / "swe.md"


def timed(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.monotonic()
        fn()
        times.append(time.monotonic() - t)
    return statistics.median(times)


def open_close(instance, runtime):
    opened = open_workspace(instance, runtime)
    opened.session.close()


def naive_setup(instance, runtime):
    root = snapshot_dir(instance)
    with Sandbox("bwrap").session(runtime.limits) as s:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                s.write_file(str(path.relative_to(root)), path.read_bytes())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--backends", nargs="+", default=["bwrap", "docker"])
    ap.add_argument("--large", type=Path, default=None, help="a bigger source tree for a setup-only row")
    args = ap.parse_args()
    load0 = os.getloadavg()[0]
    instances = shipped_instances()
    with tempfile.TemporaryDirectory() as cache:
        os.environ["ASSAY_CACHE"] = cache
        t = time.monotonic()
        for inst in instances:
            snapshot_dir(inst)
        cold = (time.monotonic() - t) / len(instances)
        rows = []
        for backend in args.backends:
            runtime = Runtime(backend)
            for inst in instances:
                open_close(inst, runtime)  # warm-up (Docker: first container of the image)
                setup = timed(lambda: open_close(inst, runtime), args.repeats)
                naive = timed(lambda: naive_setup(inst, runtime), args.repeats) if backend == "bwrap" else None
                results = {}

                def g(patch, key):
                    graded = grade(inst, patch, runtime)
                    results[key] = graded.outcome.resolved

                gold = timed(lambda: g(inst.patch, "gold"), args.repeats)
                empty = timed(lambda: g("", "empty"), args.repeats)
                if not results["gold"] or results["empty"]:
                    sys.exit(f"{inst.instance_id} on {backend}: gold resolved={results['gold']}, empty={results['empty']}")
                files = sum(1 for p in snapshot_dir(inst).rglob("*") if p.is_file())
                rows.append((backend, inst.instance_id, files, setup, naive, gold, empty, len(inst.FAIL_TO_PASS) + len(inst.PASS_TO_PASS)))
                print(rows[-1], flush=True)
        large = []
        if args.large:
            from assay.verifiers.swe.instance import RepoSource, SWEInstance

            inst = SWEInstance("large", args.large.name, "", "", "", "", ("x",), (), RepoSource("path", str(args.large)))
            t = time.monotonic()
            snap = snapshot_dir(inst)
            build = time.monotonic() - t
            files = sum(1 for q in snap.rglob("*") if q.is_file())
            mib = sum(q.stat().st_size for q in snap.rglob("*") if q.is_file()) / 2**20
            for backend in args.backends:
                runtime = Runtime(backend, limits=dataclasses.replace(Runtime().limits, disk_mb=2048, memory_mb=4096))
                open_close(inst, runtime)
                setup = timed(lambda: open_close(inst, runtime), args.repeats)
                naive = timed(lambda: naive_setup(inst, runtime), args.repeats) if backend == "bwrap" else None
                large.append((backend, files, mib, build, setup, naive))
                print(large[-1], flush=True)
    load1 = os.getloadavg()[0]
    lines = [
        "# SWE environment benchmark", "",
        f"Command: `.venv/bin/python bench/swe.py --repeats {args.repeats} --backends {' '.join(args.backends)}`  ",
        f"Machine: {platform.node()}, {platform.machine()}, {os.cpu_count()} cores, Linux {platform.release()}, "
        f"Python {platform.python_version()}  ",
        f"Date: {datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='minutes')}  ",
        f"Load average (1 min) at the start: {load0:.1f}, at the end: {load1:.1f} (a shared machine)", "",
        f"Snapshot build from the sdist, once per task (cold cache): {cold:.2f} s per task", "",
        "| backend | task | files in repo | setup s | naive setup s (fresh copy) | grade gold s | grade empty s | tests run |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for backend, iid, files, setup, naive, gold, empty, n in rows:
        naive_s = f"{naive:.3f}" if naive is not None else "-"
        lines.append(f"| {backend} | {iid} | {files} | {setup:.3f} | {naive_s} | {gold:.2f} | {empty:.2f} | {n} |")
    for backend in args.backends:
        mine = [r for r in rows if r[0] == backend]
        if mine:
            lines.append(f"\n{backend}: median setup {statistics.median(r[3] for r in mine):.3f} s, median grading "
                         f"(gold) {statistics.median(r[5] for r in mine):.2f} s over {len(mine)} tasks.")
    if large:
        lines += ["", f"## Setup for a bigger tree (`--large {args.large}`)", "",
                  "| backend | files (with .git) | MiB | snapshot build s (once) | setup s | naive setup s (fresh copy) |",
                  "|---|---:|---:|---:|---:|---:|"]
        for backend, files, mib, build, setup, naive in large:
            naive_s = f"{naive:.3f}" if naive is not None else "-"
            lines.append(f"| {backend} | {files} | {mib:.1f} | {build:.2f} | {setup:.3f} | {naive_s} |")
    bw = [r[3] for r in rows if r[0] == "bwrap"] + [r[4] for r in large if r[0] == "bwrap"]
    if bw:
        lines += ["", "## Target", "",
                  f"- setup under 1 s on bwrap from a prepared snapshot: max {max(bw):.3f} s "
                  f"({'met' if max(bw) < 1 else 'not met'})"]
    OUT.write_text("\n".join(lines) + "\n")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
