"""A two-turn env for rollout tests: turn 1 any answer, the env replies "again", turn 2 ends it.
Reward 1 when the second answer repeats the first. ``crash_on`` makes step raise for that text."""

from __future__ import annotations

import gymnasium

from assay.envs.spaces import FreeText
from assay.types import Provenance, Task, Verdict


class EchoEnv(gymnasium.Env):
    def __init__(self, crash_on: str | None = None):
        self.observation_space, self.action_space = FreeText(), FreeText()
        self.crash_on = crash_on

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.task = (options or {}).get("task") or Task("echo", "say something")
        self.first = None
        return self.task.prompt, {"task": self.task}

    def step(self, action):
        if self.crash_on is not None and action == self.crash_on:
            raise RuntimeError("env exploded")
        if self.first is None:
            self.first = action
            return "again", 0.0, False, False, {}
        ok = action == self.first
        verdict = Verdict(float(ok), ok, {"correctness": float(ok)})
        return "", float(ok), True, False, {"verdict": verdict, "provenance": Provenance(env_id="test/echo", seed=None)}


class LengthEnv(gymnasium.Env):
    """Single turn; reward = share of the response's characters that are digits, so even a random
    policy gets rewards that differ within a group. Every ``crash_every``-th step raises."""

    calls = 0

    def __init__(self, crash_every: int = 0):
        self.observation_space, self.action_space = FreeText(), FreeText()
        self.crash_every = crash_every

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.task = (options or {}).get("task") or Task(f"len-{seed}", "Write digits.")
        return self.task.prompt, {"task": self.task}

    def step(self, action):
        LengthEnv.calls += 1
        if self.crash_every and LengthEnv.calls % self.crash_every == 0:
            raise RuntimeError("simulated environment crash")
        share = sum(c.isdigit() for c in action) / max(len(action), 1)
        verdict = Verdict(share, share > 0.5, {"digits": share})
        return "", share, True, False, {"verdict": verdict, "provenance": Provenance(env_id="assay/test-length-v0")}


class PlainReverseEnv(gymnasium.Env):
    """A plain Gymnasium text env, as the README registers one: no Task in info, no Verdict, the
    word chosen by the reset seed. ``turns`` > 1 asks again, paying ``1 / turns`` per right answer
    (the return is their sum); ``says_success`` adds Gymnasium's ``info["is_success"]``, here False."""

    def __init__(self, length: int = 4, turns: int = 1, says_success: bool = False):
        self.observation_space, self.action_space = FreeText(), FreeText()
        self.length, self.turns, self.says_success = length, turns, says_success

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.word, self.left = "".join(self.np_random.choice(list("abcdefgh"), self.length)), self.turns
        return f"Reverse the word {self.word}", {}

    def step(self, action):
        self.left -= 1
        reward = float(action.strip() == self.word[::-1]) / self.turns
        info = {"is_success": False} if self.says_success else {}
        return ("" if self.left == 0 else "again"), reward, self.left == 0, False, info
