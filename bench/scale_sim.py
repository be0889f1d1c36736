"""Expected training throughput on N machines, from per-worker costs measured on one (bench/scale.py).

A synchronous GRPO step over a batch of B samples is a chain of stages; a step costs

    sync:   t = generate + dispatch + verify + update
    async:  t = max(generate + dispatch + verify, update)        (max_staleness >= 1)

- generate: B * g / R, with g seconds per sample on one generator replica and R replicas (one per
  machine here); a toy policy has g ~ 0.
- dispatch: B * o, the driver's serial cost per sample (a Ray call, pickling a Task, collecting
  the result); it does not shrink with more machines.
- verify: the makespan of B samples with the measured per-task costs placed on W = N * w workers
  by longest-expected-first (``assay.trainer.ray_backend.placement.place``); once W approaches B
  it stops falling and becomes the slowest single sample.
- update: the trainer's step, u seconds, unchanged by adding env workers (data-parallel training
  is a separate axis).

The bottleneck is the largest term. The model ignores network transfer (a sample is a few KB) and
assumes workers do not share cores with the trainer; both hold on the one-machine measurement only
approximately (see bench/results/scale.md for the measured side).

    .venv/bin/python bench/scale_sim.py bench/results/scale.json
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass

from assay.trainer.ray_backend.placement import place


@dataclass(frozen=True)
class Costs:
    task_seconds: tuple[float, ...]  # measured verify seconds of each task in the batch (one per sample)
    dispatch_s: float  # driver seconds per sample
    generate_s: float  # generator seconds per sample on one replica
    update_s: float  # trainer seconds per step (for this batch)


def makespan(costs, n_workers: int) -> float:
    load = [0.0] * n_workers
    for c, w in zip(costs, place(costs, n_workers)):
        load[w] += c
    return max(load, default=0.0)


def step_terms(c: Costs, machines: int, workers_per_machine: int, parallel_update: bool = False) -> dict[str, float]:
    """Seconds of each stage; ``parallel_update``: the trainer is data-parallel over the machines
    too (its step divides by N; gradient all-reduce ignored)."""
    b = len(c.task_seconds)
    return {"generate": b * c.generate_s / machines, "dispatch": b * c.dispatch_s,
            "verify": makespan(c.task_seconds, machines * workers_per_machine),
            "update": c.update_s / machines if parallel_update else c.update_s}


def throughput(c: Costs, machines: int, workers_per_machine: int, asynchronous: bool,
               parallel_update: bool = False) -> tuple[float, str]:
    """(samples per second, bottleneck stage)."""
    t = step_terms(c, machines, workers_per_machine, parallel_update)
    producer = t["generate"] + t["dispatch"] + t["verify"]
    step = max(producer, t["update"]) if asynchronous else producer + t["update"]
    bottleneck = max(t, key=t.get)
    return len(c.task_seconds) / step, bottleneck


def table(c: Costs, machines=(1, 2, 4, 8, 16, 32, 64), workers_per_machine: int = 2, parallel_update: bool = False) -> str:
    rows = ["| machines | env workers | generate s | dispatch s | verify s | update s | sync samples/s | async samples/s | bottleneck |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for n in machines:
        t = step_terms(c, n, workers_per_machine, parallel_update)
        sync, bottleneck = throughput(c, n, workers_per_machine, False, parallel_update)
        asyn, _ = throughput(c, n, workers_per_machine, True, parallel_update)
        rows.append(f"| {n} | {n * workers_per_machine} | {t['generate']:.3f} | {t['dispatch']:.3f} | {t['verify']:.3f} | "
                    f"{t['update']:.3f} | {sync:.1f} | {asyn:.1f} | {bottleneck} |")
    return "\n".join(rows)


def main(path: str) -> None:
    data = json.loads(open(path).read())
    costs = Costs(tuple(data["task_seconds"]), data["dispatch_s"], data["generate_s"], data["update_s"])
    print(table(costs))
    print()
    print(table(costs, parallel_update=True))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "bench/results/scale.json")
