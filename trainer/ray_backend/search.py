"""Search on Ray: a batched ``Scorer`` whose batches are split over actors.

Search strategies already hand their policy and scorer whole batches of prefixes, so fanning a
batch out is the whole change: each actor builds its own scorer from a builder
function sent to it (verifiers hold sandbox pools and models hold weights: they are built where
they run, never pickled), the batch is cut into one contiguous chunk per actor, and the answers
come back in order. A deterministic scorer (the verifier, a PRM) gives exactly the local
answers; a noisy scorer (the toy PRM) draws from each actor's own random stream, so its scores
differ from a single-process run's (same distribution, different draws). The policy stays in the
driver: split over actors, a sampling policy would draw different samples than a local run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from assay.protocols import Prefix
from assay.trainer.ray_backend.cluster import require_ray


class _Holder:
    """Ray actor body: one object built here, its batched methods called remotely."""

    def __init__(self, build: Callable[[], Any]):
        self.obj = build()

    def call(self, method: str, items: list, *args):
        return getattr(self.obj, method)(items, *args)


class RayScorer:
    """``Scorer`` over ``num_workers`` actors, each holding its own ``build()``; a batch is cut into
    one contiguous chunk per actor and the answers are joined in order."""

    def __init__(self, build: Callable[[], Any], num_workers: int, num_cpus: float = 0.5):
        self.ray = require_ray()
        actor = self.ray.remote(_Holder).options(num_cpus=num_cpus)
        self.workers = [actor.remote(build) for _ in range(num_workers)]

    def score(self, prefixes: Sequence[Prefix]) -> list[list[float]]:
        size = -(-len(prefixes) // len(self.workers)) if prefixes else 0
        chunks = [list(prefixes[i : i + size]) for i in range(0, len(prefixes), size)] if size else []
        parts = self.ray.get([w.call.remote("score", chunk) for w, chunk in zip(self.workers, chunks)])
        return [scores for part in parts for scores in part]

    def close(self) -> None:
        for w in self.workers:
            self.ray.kill(w)
        self.workers = []
