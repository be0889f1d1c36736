"""Asynchronous rollouts: the next batches are generated while the policy trains on this one.

A background thread produces the batch for step ``t`` as soon as policy version ``t - k`` exists
(version ``v`` = the weights after ``v`` updates; ``k = max_staleness``), so at most ``k + 1``
batches are ever ahead and every batch trains at most ``k`` versions after the one that began
it. Each published version is a frozen snapshot of the policy (a copy in this process, or the
weights pushed to Ray generator actors, which then serve that version); generation uses the newest,
turn by turn, so a long multi-turn episode begun under version ``v`` carries over and finishes
under ``v + 1`` when that appears (a partial rollout continued, not restarted). Every token keeps
the log-prob of the version that sampled it, which is what the update's truncated importance
weights ``min(pi_theta / pi_behaviour, C)`` (``tis_cap``) read, so mixed-version episodes are
corrected token by token.

Departures: async runs are not bit-reproducible: sampling seeds are fixed by the data position,
but which version samples which turn depends on thread timing (``max_staleness=0`` is
reproducible, and never starts the thread). Episodes are not paused across batches here: that is
``partial_rollout_turns`` (assay.trainer.partial), which runs synchronously. Batches being
generated when a checkpoint is written are not in it; the checkpoint saves the data position after
the batch last trained (``GRPOTrainer.trained_position``), so a resumed run draws those tasks again
and samples them with the resumed policy: no task is skipped or trained twice. With ``k = 1`` this is the "one step off-policy"
schedule of verl and AReaL.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from typing import Any

from assay.protocols import Generation, SamplingParams


class LatestPolicyGenerator:
    """A ``Generator`` that samples with the newest published policy at every call and remembers
    the oldest version it used (the staleness of the batch it is building)."""

    def __init__(self, pipeline: AsyncRollouts):
        self.pipeline = pipeline
        self.versions: list[int] = []

    @property
    def last_version(self) -> int:
        """The version that sampled the latest call (recorded on the turns it generated)."""
        return self.versions[-1]

    def generate(self, prompts: Sequence[Sequence[int]], params: SamplingParams) -> list[Generation]:
        version, generator = self.pipeline.latest()
        self.versions.append(version)
        return generator.generate(prompts, params)


class AsyncRollouts:
    """``next()`` returns ``(trajectories, stats)`` for consecutive steps; stats carry
    ``policy_version`` (oldest version that sampled any token of the batch) and ``staleness``.

    ``produce(generator)`` is the trainer's synchronous rollout with a generator passed in;
    ``snapshot(policy, version)`` returns a generator that samples with the policy as it is now,
    frozen (it must copy whatever later updates would change); ``lock`` is held while producing so
    that other users of the same environments (held-out evaluation) can take turns with it.
    """

    def __init__(self, produce: Callable[[Any], tuple[list, dict]], snapshot: Callable[[Any, int], Any],
                 policy, first_step: int, max_staleness: int):
        self.produce, self.snapshot, self.k = produce, snapshot, max_staleness
        self.lock = threading.RLock()
        self._cond = threading.Condition()
        self._version, self._generator = first_step, snapshot(policy, first_step)
        self._ready: queue.Queue = queue.Queue()
        self._next_step, self._stop = first_step, False
        self._thread = threading.Thread(target=self._loop, name="assay-rollouts", daemon=True)
        self._thread.start()

    def latest(self) -> tuple[int, Any]:
        with self._cond:
            return self._version, self._generator

    def publish(self, version: int, policy) -> None:
        """Called after each update: ``policy`` as it is now becomes version ``version``."""
        generator = self.snapshot(policy, version)
        with self._cond:
            self._version, self._generator = version, generator
            self._cond.notify_all()

    def next(self, step: int) -> tuple[list, dict]:
        item = self._ready.get()
        if isinstance(item, BaseException):
            raise item
        t, trajectories, stats = item
        if t != step:  # the trainer and the pipeline disagree on the step: a bug, never tolerated
            raise RuntimeError(f"async rollouts: batch for step {t} arrived at step {step}")
        stats["staleness"] = float(step - stats["policy_version"])
        if stats["staleness"] > self.k:
            raise RuntimeError(f"staleness {stats['staleness']} exceeds max_staleness={self.k}")
        return trajectories, stats

    def close(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._thread.join(timeout=60)

    def _loop(self) -> None:
        try:
            while True:
                t = self._next_step
                with self._cond:  # batch t may start once version t - k exists
                    self._cond.wait_for(lambda: self._stop or self._version >= t - self.k)
                    if self._stop:
                        return
                generator = LatestPolicyGenerator(self)
                started_version = self.latest()[0]
                with self.lock:
                    trajectories, stats = self.produce(generator)
                stats = {**stats, "policy_version": float(min(generator.versions, default=started_version))}
                self._ready.put((t, trajectories, stats))
                self._next_step += 1
        except BaseException as e:  # the trainer re-raises it from next()
            self._ready.put(e)
