"""``RayEnvRunner``: the rollout's environments on Ray actors, surviving killed and hung workers.

Each ``EnvWorker`` actor builds environments from the registered ``EnvSpec`` (plain data with an
entry-point string, so an env registered in the driver resolves in the worker with no extra
step) and keeps one per episode slot. A turn's ``step`` calls fan out to all workers at once;
every worker runs its episodes one after another, so the turn costs the most-loaded worker's
share (``placement.place`` balances it by expected cost).

Round trips. A worker's calls of one turn travel in chunks (``chunk_s``: calls run back to back
in one Ray call while their expected cost, learned per task, stays within it), so a 20 ms
verification does not pay a ~1 ms Ray round trip in the driver and again in the worker; a call
whose cost is unknown or large travels alone, so placement and hang detection keep their grain.

Faults. The runner keeps each episode's history (reset seed and options, the actions stepped so
far). When a worker dies (killed, OOM, segfault in a verifier) or a step outlives
``step_timeout_s`` (the worker is then killed), a fresh worker takes its place, the histories of
its episodes are replayed onto it (environments are deterministic given seed, task and actions),
and the interrupted calls are sent again. The generated tokens are never re-sampled, so a
retried episode is the same episode. After ``max_retries`` failures of one call the episode ends
with :class:`WorkerLost`, which the trainer's ``error_policy`` drops or zeroes like any env error.

A failed chunk of several calls blames none of them (which one was running is unknown): its
calls are re-sent one per round trip, so a second failure names the culprit.

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
from assay.trainer.ray_backend.placement import CostModel, chunk, place


_POLL_S = 0.02  # how long one wait gathers finished calls before they are processed


class WorkerLost(RuntimeError):
    """An env call failed on ``max_retries + 1`` workers in a row (killed or hung each time)."""


class EnvWorker:
    """Ray actor body: environments by slot; returns ``(result or exception, seconds)`` per call."""

    def __init__(self, spec, env_kwargs: dict):
        self.spec, self.env_kwargs = spec, env_kwargs
        self.envs: dict[int, Any] = {}

    def ready(self) -> bool:
        """Answers once the actor is up: its start (a process, imports) is not an env call's time."""
        return True

    def _env(self, slot: int):
        if slot not in self.envs:
            self.envs[slot] = assay.make(self.spec, **self.env_kwargs)
        return self.envs[slot]

    def reset(self, slot: int, seed: int | None, options: dict):
        return _timed(lambda: self._env(slot).reset(seed=seed, options=options))

    def step(self, slot: int, action: str):
        return _timed(lambda: self._env(slot).step(action))

    def run(self, calls: list[tuple[str, tuple]]) -> list:
        """A chunk: ``(kind, args)`` calls run in order, one ``(result, seconds)`` each."""
        return [(self.reset if kind == "reset" else self.step)(*args) for kind, args in calls]

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
    a core-limited test cluster. ``chunk_s``: the expected seconds of work one Ray call may carry
    (0: every env call is its own round trip).
    """

    def __init__(self, env_id: str, env_kwargs: dict | None = None, num_workers: int = 2, *,
                 step_timeout_s: float | None = None, max_retries: int = 2, num_cpus: float = 0.5,
                 chunk_s: float = 0.25):
        if chunk_s < 0:
            raise ValueError(f"chunk_s must be >= 0 (0: one env call per Ray call), got {chunk_s}")
        self.ray = require_ray()
        self.spec = assay.registry.spec(env_id) if isinstance(env_id, str) else env_id
        self.env_kwargs = dict(env_kwargs or {})
        self.step_timeout_s, self.max_retries, self.num_cpus, self.chunk_s = step_timeout_s, max_retries, num_cpus, chunk_s
        self._actor_cls = self.ray.remote(EnvWorker)
        self.workers = [self._start() for _ in range(num_workers)]
        self.ray.get([w.ready.remote() for w in self.workers])  # started together, waited for together
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
    def _chunks(self, calls: list[_Call]) -> list[list[_Call]]:
        """Each worker's calls in request order, cut into chunks of at most ``chunk_s`` expected seconds."""
        by_worker: dict[int, list[_Call]] = {}
        for c in calls:
            by_worker.setdefault(self.home[c.slot], []).append(c)
        out = []
        for mine in by_worker.values():
            costs = [self.costs.expect(self.task_of.get(c.slot, "")) for c in mine]
            out += [[mine[i] for i in idx] for idx in chunk(costs, self.chunk_s)]
        return out

    def _run(self, calls: list[_Call]) -> list[Any]:
        ray = self.ray
        results: list[Any] = [None] * len(calls)
        self._progress: dict[int, float] = {}  # worker -> when it last finished a chunk (or got its first)
        pending: dict[Any, list[_Call]] = {}  # ref -> the chunk it carries
        for piece in self._chunks(calls):
            pending[self._send(piece, pending)] = piece
        while pending:
            # gather what finishes within a short poll, not one ref per wait: a wait over n refs costs O(n)
            ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=_POLL_S)
            for ref in ready:
                if ref not in pending:  # re-sent by a _replace earlier in this loop
                    continue
                piece = pending.pop(ref)
                try:
                    outs = ray.get(ref)
                except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError):
                    pending[ref] = piece  # _replace re-sends it with the others of that worker
                    self._replace(self.home[piece[0].slot], pending, results)
                    continue
                self._progress[self.home[piece[0].slot]] = time.monotonic()
                for call, (result, seconds) in zip(piece, outs):
                    self._record(call, result, seconds)
                    results[call.index] = result
            if self.step_timeout_s is not None:
                # hung: a worker whose running chunk (its oldest) made no progress for step_timeout_s per call in it
                now = time.monotonic()
                running: dict[int, list[_Call]] = {}
                for piece in pending.values():
                    w = self.home[piece[0].slot]
                    if w not in running or piece[0].seq < running[w][0].seq:
                        running[w] = piece
                for w in sorted(w for w, piece in running.items()
                                if now - self._progress[w] >= self.step_timeout_s * len(piece)):
                    self._replace(w, pending, results)
        return results

    def _send(self, piece: list[_Call], pending: dict):
        w = self.home[piece[0].slot]
        if not any(self.home[p[0].slot] == w for p in pending.values()):
            self._progress[w] = time.monotonic()  # an idle worker starts its clock now
        seq = next(self._seq)
        for c in piece:
            c.seq = seq
        return self.workers[w].run.remote([(c.kind, c.args) for c in piece])

    def _record(self, call: _Call, result: Any, seconds: float) -> None:
        if call.kind == "step":
            self.history[call.slot].actions.append(call.args[1])
            if isinstance(result, BaseException) or result[2] or result[3]:  # raised, terminated or truncated
                self.finished.add(call.slot)
            self.costs.observe(self.task_of.get(call.slot, ""), seconds)

    def _replace(self, w: int, pending: dict, results: list) -> None:
        """Kill worker ``w`` (it may be hung rather than dead), start a fresh one, replay the
        episodes that lived on it, and re-send its interrupted chunks (or give a call up)."""
        self.ray.kill(self.workers[w], no_restart=True)
        self.workers[w] = self._start()
        self.ray.get(self.workers[w].ready.remote())  # the hang clock must not count the new actor's start
        self.replaced += 1
        interrupted = sorted(((ref, p) for ref, p in pending.items() if self.home[p[0].slot] == w), key=lambda rp: rp[1][0].seq)
        for ref, _ in interrupted:
            del pending[ref]
        pieces = [p for _, p in interrupted]
        resetting = {c.slot for p in pieces for c in p if c.kind == "reset"}
        for slot, home in self.home.items():
            h = self.history[slot]
            # episodes whose reset was interrupted are reset by the re-sent call itself
            if home == w and slot not in self.finished and slot not in resetting:
                self.workers[w].replay.remote(slot, h.seed, h.options, list(h.actions))
        if pieces and len(pieces[0]) > 1:  # the running chunk: which of its calls failed is unknown
            pieces = [[c] for c in pieces[0]] + pieces[1:]  # one per round trip, so a repeat failure names it
        elif pieces:  # only the call the worker was running is to blame; those queued behind it are re-sent as they were
            culprit = pieces[0][0]
            culprit.tries += 1
            if culprit.tries > self.max_retries:
                self.lost += 1
                self.finished.add(culprit.slot)
                results[culprit.index] = WorkerLost(f"env worker lost {culprit.tries} times during {culprit.kind} of slot "
                                                    f"{culprit.slot} (killed, or hung past step_timeout_s={self.step_timeout_s})")
                pieces = pieces[1:]
        for p in pieces:
            pending[self._send(p, pending)] = p


def runner_from_config(cfg) -> RayEnvRunner:
    """The trainer's runner for ``backend=ray`` (joins ``cfg.ray_address`` or starts a local cluster)."""
    from assay.trainer.ray_backend.cluster import connect

    connect(cfg.ray_address)
    return RayEnvRunner(cfg.env_id, cfg.env_kwargs, cfg.ray_workers, step_timeout_s=cfg.step_timeout_s,
                        max_retries=cfg.worker_retries)
