"""A tiny env used by registry tests (importable by entry-point string from a worker process)."""

from __future__ import annotations

import gymnasium

from assay.envs.spaces import FreeText


class ToyEnv(gymnasium.Env):
    def __init__(self, target: int = 0):
        self.target = target
        self.observation_space = FreeText()
        self.action_space = FreeText()

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return f"say {self.target}", {}

    def step(self, action):
        return "", float(action.strip() == str(self.target)), True, False, {}
