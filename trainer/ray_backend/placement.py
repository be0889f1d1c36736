"""Placing episodes on workers by their expected cost (pure functions, no Ray).

A turn waits for its slowest worker, so placement is a makespan problem: longest expected cost
first, each onto the least-loaded worker (LPT, within 4/3 of optimal). A SWE test run or a
Verilog simulation then lands on a worker of its own instead of queueing behind ten cheap
samples. Costs are learned per task id (an exponential moving average of measured step
seconds); a task never seen costs the mean of the known ones.
"""

from __future__ import annotations

from collections.abc import Sequence


class CostModel:
    """Expected seconds per env step, by task id."""

    def __init__(self, alpha: float = 0.5, default_s: float = 1.0):
        self.alpha, self.default_s = alpha, default_s
        self.seconds: dict[str, float] = {}

    def observe(self, task_id: str, seconds: float) -> None:
        old = self.seconds.get(task_id)
        self.seconds[task_id] = seconds if old is None else (1 - self.alpha) * old + self.alpha * seconds

    def expect(self, task_id: str) -> float:
        if task_id in self.seconds:
            return self.seconds[task_id]
        return sum(self.seconds.values()) / len(self.seconds) if self.seconds else self.default_s


def place(costs: Sequence[float], n_workers: int) -> list[int]:
    """Worker index for each item: longest first, onto the least-loaded worker (ties: lowest index)."""
    if n_workers < 1:
        raise ValueError(f"n_workers must be >= 1, got {n_workers}")
    load = [0.0] * n_workers
    out = [0] * len(costs)
    for i in sorted(range(len(costs)), key=lambda i: (-costs[i], i)):
        w = min(range(n_workers), key=lambda w: (load[w], w))
        out[i] = w
        load[w] += costs[i]
    return out


def chunk(costs: Sequence[float], budget: float) -> list[list[int]]:
    """Consecutive items grouped while their summed cost stays within ``budget``; an item that
    alone exceeds it (or any item, with ``budget`` 0) is a group of its own. Indices, in order."""
    out: list[list[int]] = []
    total = 0.0
    for i, c in enumerate(costs):
        if out and budget > 0 and total + c <= budget and c <= budget:
            out[-1].append(i)
            total += c
        else:
            out.append([i])
            total = c
    return out
