"""``RayEnvRunner``: the rollout's environments on Ray actors, surviving killed and hung workers.

Each ``EnvWorker`` actor builds environments from the registered ``EnvSpec`` (plain data with an
entry-point string, so an env registered in the driver resolves in the worker with no extra
step) and keeps one per episode slot. A turn's ``step`` calls fan out to all workers at once;
every worker runs its episodes one after another, so the turn costs the most-loaded worker's
share (``placement.place`` balances it by expected cost).

Faults. The runner keeps each episode's history (reset seed and options, the actions stepped so
far). When a worker dies (killed, OOM, segfault in a verifier) or a step outlives
``step_timeout_s`` (the worker is then killed), a fresh worker takes its place, the histories of
its episodes are replayed onto it (environments are deterministic given seed, task and actions),
and the interrupted calls are sent again. The generated tokens are never re-sampled, so a
retried episode is the same episode. After ``max_retries`` failures of one call the episode ends
with :class:`WorkerLost`, which the trainer's ``error_policy`` drops or zeroes like any env error.

Not covered: a worker that hangs while *replaying* counts against the same retries; environments
that are not deterministic given (seed, task, actions) replay to a different state.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import assay
from assay.trainer.ray_backend.cluster import require_ray
from assay.trainer.ray_backend.placement import CostModel, place


_POLL_S = 0.02  # how long one wait gathers finished calls before they are processed


class WorkerLost(RuntimeError):
    """An env call failed on ``max_retries + 1`` workers in a row (killed or hung each time)."""


class EnvWorker:
    """Ray actor body: environments by slot; returns ``(result or exception, seconds)`` per call."""

    def __init__(self, spec, env_kwargs: dict):
        self.spec, self.env_kwargs = spec, env_kwargs
        self.envs: dict[int, Any] = {}

    def _env(self, slot: int):
        if slot not in self.envs:
            self.envs[slot] = assay.make(self.spec, **self.env_kwargs)
        return self.envs[slot]

    def reset(self, slot: int, seed: int | None, options: dict):
        return _timed(lambda: self._env(slot).reset(seed=seed, options=options))

    def step(self, slot: int, action: str):
        return _timed(lambda: self._env(slot).step(action))

    def replay(self, slot: int, seed: int | None, options: dict, actions: list[str]) -> None:
        """Rebuild an episode's state on this (replacement) worker."""
        env = self._env(slot)
        env.reset(seed=seed, options=options)
        for action in actions:
            env.step(action)

    def close(self) -> None:
        """Close environments and the verifiers they used (their sandbox pools hold processes and
        cgroups that a killed worker would leave behind)."""
        for env in self.envs.values():
            verifier = getattr(env.unwrapped, "_verifier", None)
            for closeable in (verifier, env):
                try:
                    if closeable is not None and hasattr(closeable, "close"):
                        closeable.close()
                except Exception:  # closing is best effort; the actor is killed next anyway
                    pass
        self.envs.clear()


def _timed(fn):
    start = time.perf_counter()
    try:
        result = fn()
    except Exception as e:  # returned as the episode's error; the worker lives on
        result = e
    return result, time.perf_counter() - start


@dataclass
class _History:
    seed: int | None
    options: dict
    actions: list[str] = field(default_factory=list)


@dataclass
class _Call:
    index: int  # position in the caller's request list
    slot: int
    kind: str  # "reset" | "step"
    args: tuple
    tries: int = 0
    seq: int = 0  # send order: a worker runs its calls in this order, so its oldest pending call is the running one


class RayEnvRunner:
    """``EnvRunner`` over ``num_workers`` Ray actors (see the module docstring for the fault policy).

    ``num_cpus`` is what each actor reserves in Ray's scheduler: a verifier's real work runs in
    sandbox subprocesses that Ray does not see, so fractional values let several workers share
    a core-limited test cluster.
    """

    def __init__(self, env_id: str, env_kwargs: dict | None = None, num_workers: int = 2, *,
                 step_timeout_s: float | None = None, max_retries: int = 2, num_cpus: float = 0.5):
        self.ray = require_ray()
        self.spec = assay.registry.spec(env_id) if isinstance(env_id, str) else env_id
        self.env_kwargs = dict(env_kwargs or {})
        self.step_timeout_s, self.max_retries, self.num_cpus = step_timeout_s, max_retries, num_cpus
        self._actor_cls = self.ray.remote(EnvWorker)
        self.workers = [self._start() for _ in range(num_workers)]
        self.home: dict[int, int] = {}  # slot -> worker index
        self.history: dict[int, _History] = {}
        self.task_of: dict[int, str] = {}
        self.finished: set[int] = set()  # episodes that ended: nothing to replay
        self.costs = CostModel()
        self.replaced = 0  # workers replaced so far (killed or hung)
        self.lost = 0  # calls given up after max_retries
        self._seq = itertools.count()

    def _start(self):
        return self._actor_cls.options(num_cpus=self.num_cpus).remote(self.spec, self.env_kwargs)

    # ------------------------------------------------------------------ EnvRunner
    def reset(self, requests: Sequence[tuple[int, int | None, dict]], keep: Collection[int] = ()) -> list[Any]:
        for slot, _, options in requests:
            task = options.get("task") if options else None
            self.task_of[slot] = task.id if task is not None else ""
        costs = [self.costs.expect(self.task_of[slot]) for slot, _, _ in requests]
        # a reset starts a new rollout; episodes in `keep` (paused by a partial rollout) stay where they live
        kept = set(keep)
        self.home = {s: w for s, w in self.home.items() if s in kept}
        self.history = {s: h for s, h in self.history.items() if s in kept}
        self.finished = {s for s in self.finished if s in kept}
        for (slot, seed, options), w in zip(requests, place(costs, len(self.workers))):
            self.home[slot] = w
            self.history[slot] = _History(seed, options)
        return self._run([_Call(i, slot, "reset", (slot, seed, options)) for i, (slot, seed, options) in enumerate(requests)])

    def step(self, requests: Sequence[tuple[int, str]]) -> list[Any]:
        return self._run([_Call(i, slot, "step", (slot, action)) for i, (slot, action) in enumerate(requests)])

    def close(self) -> None:
        """Let every worker close its environments and verifiers, then end it."""
        try:
            self.ray.get([w.close.remote() for w in self.workers], timeout=30)
        except Exception:  # a dead or hung worker: nothing more to close there
            pass
        for w in self.workers:
            self.ray.kill(w)
        self.workers = []

    # ------------------------------------------------------------------ fan out, survive faults
    def _run(self, calls: list[_Call]) -> list[Any]:
        ray = self.ray
        results: list[Any] = [None] * len(calls)
        self._progress: dict[int, float] = {}  # worker -> when it last finished a call (or got its first)
        pending = {}
        for c in calls:
            pending[self._send(c, pending)] = c
        while pending:
            # gather what finishes within a short poll, not one ref per wait: a wait over n refs costs O(n)
            ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=_POLL_S)
            for ref in ready:
                if ref not in pending:  # re-sent by a _replace earlier in this loop
                    continue
                call = pending.pop(ref)
                try:
                    result, seconds = ray.get(ref)
                except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError):
                    pending[ref] = call  # _replace re-sends it with the others of that worker
                    self._replace(self.home[call.slot], pending, results)
                    continue
                self._progress[self.home[call.slot]] = time.monotonic()
                self._record(call, result, seconds)
                results[call.index] = result
            if self.step_timeout_s is not None:  # a worker with work that made no progress for step_timeout_s is hung
                now = time.monotonic()
                busy = {self.home[c.slot] for c in pending.values()}
                for w in sorted(w for w in busy if now - self._progress[w] >= self.step_timeout_s):
                    self._replace(w, pending, results)
        return results

    def _send(self, call: _Call, pending: dict):
        w = self.home[call.slot]
        if not any(self.home[c.slot] == w for c in pending.values()):
            self._progress[w] = time.monotonic()  # an idle worker starts its clock now
        call.seq = next(self._seq)
        worker = self.workers[w]
        return (worker.reset if call.kind == "reset" else worker.step).remote(*call.args)

    def _record(self, call: _Call, result: Any, seconds: float) -> None:
        if call.kind == "step":
            self.history[call.slot].actions.append(call.args[1])
            if isinstance(result, BaseException) or result[2] or result[3]:  # raised, terminated or truncated
                self.finished.add(call.slot)
            self.costs.observe(self.task_of.get(call.slot, ""), seconds)

    def _replace(self, w: int, pending: dict, results: list) -> None:
        """Kill worker ``w`` (it may be hung rather than dead), start a fresh one, replay the
        episodes that lived on it, and re-send its interrupted calls (or give them up)."""
        self.ray.kill(self.workers[w], no_restart=True)
        self.workers[w] = self._start()
        self.replaced += 1
        interrupted = sorted(((ref, c) for ref, c in pending.items() if self.home[c.slot] == w), key=lambda rc: rc[1].seq)
        for ref, _ in interrupted:
            del pending[ref]
        for slot, home in self.home.items():
            h = self.history[slot]
            # episodes whose reset was interrupted are reset by the re-sent call itself
            if home == w and slot not in self.finished and not any(c.slot == slot and c.kind == "reset" for _, c in interrupted):
                self.workers[w].replay.remote(slot, h.seed, h.options, list(h.actions))
        if interrupted:  # only the call the worker was running is to blame; those queued behind it are re-sent as they were
            culprit = interrupted[0][1]
            culprit.tries += 1
            if culprit.tries > self.max_retries:
                self.lost += 1
                self.finished.add(culprit.slot)
                results[culprit.index] = WorkerLost(f"env worker lost {culprit.tries} times during {culprit.kind} of slot "
                                                    f"{culprit.slot} (killed, or hung past step_timeout_s={self.step_timeout_s})")
                interrupted = interrupted[1:]
        for _, c in interrupted:
            pending[self._send(c, pending)] = c


def runner_from_config(cfg) -> RayEnvRunner:
    """The trainer's runner for ``backend=ray`` (joins ``cfg.ray_address`` or starts a local cluster)."""
    from assay.trainer.ray_backend.cluster import connect

    connect(cfg.ray_address)
    return RayEnvRunner(cfg.env_id, cfg.env_kwargs, cfg.ray_workers, step_timeout_s=cfg.step_timeout_s,
                        max_retries=cfg.worker_retries)
