"""Throughput of the math verifier, 1 thread and 8 threads, against plain math-verify.

    .venv/bin/python bench/verify_math.py [--repeats 3] [--out bench/results/verify_math.md]

The set: the labelled equivalence cases of tests/verifiers/math (boxed answers) plus the default-
config cases of math-verify's own tests (free-text responses), ~400 (gold, response) pairs. Each
figure is the median over ``--repeats`` passes after one warm-up pass (workers started, caches as
they are in steady state). The baseline is math-verify ``parse`` + ``verify`` in this process,
single-threaded, with its signal-based timeouts disabled (it cannot use them off the main thread).
Then a hostile item among normal ones under 8 threads must time out while the others score right.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import logging
import os
import platform
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import assay
from assay.verifiers.math.verifier import MathVerifier

ROOT = Path(__file__).resolve().parents[1]
PEER = ROOT / ".." / "shared" / "peer-tests" / "math-verify" / "cases.json"


def load_pairs() -> list[tuple[str, str]]:
    spec = importlib.util.spec_from_file_location("cases", ROOT / "tests/verifiers/math/math_equiv_cases.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    pairs = [(g, f"The answer is \\boxed{{{r}}}.") for _, g, r, _ in mod.CASES]
    if PEER.exists():
        for c in json.loads(PEER.read_text()):
            if not any(k in c["call"] for k in ("precision", "strict", "allow_set_relation_comp")):
                pairs.append((c["gold"], c["pred"]))
    return pairs


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def timed(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=str(ROOT / "bench/results/verify_math.md"))
    args = ap.parse_args()

    pairs = load_pairs()
    tasks = [assay.Task(id=str(i), prompt="q", answer=g) for i, (g, _) in enumerate(pairs)]
    responses = [r for _, r in pairs]
    n = len(pairs)

    v1 = MathVerifier()  # default: 5 s timeout, workers = max(2, min(8, nproc))
    t_one = timed(lambda: [v1.verify(t, r) for t, r in zip(tasks, responses)], args.repeats)
    v1.close()

    v8 = MathVerifier()
    with ThreadPoolExecutor(max_workers=8) as ex:
        t_eight = timed(lambda: list(ex.map(v8.verify, tasks, responses)), args.repeats)

    from math_verify import parse, verify

    logging.getLogger("math_verify").setLevel(logging.ERROR)

    def baseline() -> None:
        for g, r in pairs:
            verify(parse(g, parsing_timeout=None), parse(r, parsing_timeout=None), timeout_seconds=None)

    t_base = timed(baseline, args.repeats)

    # hostile item among normal ones, 8 threads
    normal = [("\\frac{1}{2}", "\\boxed{0.5}", True), ("3", "\\boxed{4}", False), ("5\\text{ cm}", "\\boxed{5\\text{ mm}}", False),
              ("1/2004!", "\\boxed{1/2006!}", False), ("\\{1,2\\}", "\\boxed{\\{2,1\\}}", True), ("x=2", "\\boxed{2}", True), ("42", "Answer: 42", True)]
    hostile = ("3", "\\boxed{\\sum_{k=1}^{10^{7}} \\frac{1}{k}}", None)
    jobs = normal + [hostile]
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=8) as ex:
        verdicts = list(ex.map(lambda j: v8.verify(assay.Task(id="h", prompt="q", answer=j[0]), j[1]), jobs))
    t_hostile = time.perf_counter() - start
    normal_ok = all(v.error is None and v.passed is e for (_, _, e), v in zip(normal, verdicts))
    hostile_ok = verdicts[-1].error is not None and verdicts[-1].error.startswith("timeout")
    v8.close()

    rows = [
        ("assay MathVerifier, 1 thread", n / t_one),
        ("assay MathVerifier, 8 threads", n / t_eight),
        ("math-verify parse+verify, 1 thread (baseline)", n / t_base),
    ]
    table = ["| configuration | verifications/s |", "|---|---|"] + [f"| {name} | {rate:.1f} |" for name, rate in rows]
    summary = [
        f"- pairs: {n} (median of {args.repeats} passes after a warm-up)",
        f"- ratio 1 thread / baseline: {rows[0][1] / rows[2][1]:.2f}x; 8 threads / baseline: {rows[1][1] / rows[2][1]:.2f}x",
        f"- hostile under 8 threads (1 slow item + {len(normal)} normal, timeout {v8.timeout_s:g} s): "
        f"hostile timed out: {hostile_ok}; normal items right: {normal_ok}; wall {t_hostile:.2f} s",
    ]
    report = "\n".join(
        [
            "# Math verifier throughput",
            "",
            f"Command: `.venv/bin/python bench/verify_math.py --repeats {args.repeats}`",
            f"Machine: {os.cpu_count()} CPUs (`nproc`), {cpu_model()}; Python {platform.python_version()}; no GPU",
            f"Date: {datetime.datetime.now().isoformat(timespec='seconds')}",
            "",
            *table,
            "",
            *summary,
            "",
        ]
    )
    print(report)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(report)
    if not (normal_ok and hostile_ok):
        sys.exit("hostile check failed")


if __name__ == "__main__":
    main()
