"""A multi-turn env whose episodes take a known number of turns, for the partial-rollout tests.

``LongEnv``: an episode lasts ``task.meta["turns"]`` turns (drawn tasks: ``1 + seed % 3``); every
turn but the last answers "more", the last ends it with reward = the share of digits in that
answer (it varies within a group, so GRPO steps on a random policy move the weights). The env
counts its own turns and refuses a step after the end, so a paused episode continued on the
wrong environment, or continued twice, fails loudly.
"""

from __future__ import annotations

import gymnasium

from assay.envs.spaces import FreeText
from assay.types import Provenance, Task, Verdict


class LongEnv(gymnasium.Env):
    def __init__(self):
        self.observation_space, self.action_space = FreeText(), FreeText()

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        task = (options or {}).get("task")
        if task is None:
            n = 1 + (seed or 0) % 3
            task = Task(f"long-{seed}", f"Answer {n} times.", meta={"turns": n})
        self.task, self.taken = task, 0
        return task.prompt, {"task": task}

    def step(self, action):
        if self.taken >= self.task.meta["turns"]:
            raise RuntimeError(f"{self.task.id}: step after the episode ended")
        self.taken += 1
        if self.taken < self.task.meta["turns"]:
            return f"more ({self.taken})", 0.0, False, False, {}
        share = sum(c.isdigit() for c in action) / max(len(action), 1)
        verdict = Verdict(share, share > 0.5, {"digits": share})
        return "", share, True, False, {"verdict": verdict, "provenance": Provenance(env_id="test/long")}


def register() -> None:
    import assay

    assay.register("test-long-v0", "tests.trainer.long_env:LongEnv", override=True)
