"""Environments for the Ray backend's fault tests, registered by entry-point string so that Ray
workers import them on their own. ``KillOnceEnv`` SIGKILLs its worker process on an episode's
second step the first time any process gets there (a marker file says it happened);
``HangOnceEnv`` hangs there instead. Both behave as ``TwoTurnDigitsEnv`` otherwise."""

from __future__ import annotations

import os
import signal
import time

from assay.types import Provenance, Verdict
from tests.trainer.echo_env import EchoEnv


class TwoTurnDigitsEnv(EchoEnv):
    """Two turns; the second answer's share of digits is the reward (it varies within a group, so
    a GRPO step on a random policy really changes the weights)."""

    def step(self, action):
        if self.first is None:
            return super().step(action)
        share = sum(c.isdigit() for c in action) / max(len(action), 1)
        verdict = Verdict(share, share > 0.5, {"digits": share})
        return "", share, True, False, {"verdict": verdict, "provenance": Provenance(env_id="test/two-turn-digits")}


def _first_time(marker: str) -> bool:
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)  # atomic: exactly one process wins
    except FileExistsError:
        return False
    os.close(fd)
    return True


class KillOnceEnv(TwoTurnDigitsEnv):
    """Kills during a training episode (seed below the trainer's held-out seeds), not in evaluation."""

    def __init__(self, marker: str):
        super().__init__()
        self.marker = marker

    def reset(self, *, seed=None, options=None):
        self.seed_ = seed
        return super().reset(seed=seed, options=options)

    def step(self, action):
        if self.first is not None and self.seed_ is not None and self.seed_ < 10**9 and _first_time(self.marker):
            os.kill(os.getpid(), signal.SIGKILL)
        return super().step(action)


class HangOnceEnv(TwoTurnDigitsEnv):
    def __init__(self, marker: str):
        super().__init__()
        self.marker = marker

    def step(self, action):
        if self.first is not None and _first_time(self.marker):
            time.sleep(3600)
        return super().step(action)


class SleepEnv(EchoEnv):
    """Single turn; a step sleeps ``task.meta["seconds"]`` (a verifier whose cost depends on the task)."""

    def step(self, action):
        time.sleep(self.task.meta["seconds"])
        return "", 1.0, True, False, {"verdict": Verdict(1.0, True, {})}


def register() -> None:
    import assay

    assay.register("test-digits2-v0", "tests.trainer.ray_envs:TwoTurnDigitsEnv", override=True)
    assay.register("test-kill-once-v0", "tests.trainer.ray_envs:KillOnceEnv", override=True)
    assay.register("test-hang-once-v0", "tests.trainer.ray_envs:HangOnceEnv", override=True)
    assay.register("test-sleep-v0", "tests.trainer.ray_envs:SleepEnv", override=True)


