"""``RetryEnv``: submit, read the verifier's feedback, submit again, up to ``max_turns`` times.

The base of ``assay/code-v0`` and ``assay/verilog-v0``. A passing submission, a verifier that
could not judge (``verdict.error``), or the last allowed attempt ends the episode; otherwise the
observation is the feedback and the agent tries again (the trainer's rollout appends it to the
context as a user turn). Reward is paid on the step that ends the episode (0 before it):
``reward_mode="final"`` the final verdict's reward, ``"discounted"`` that times
``discount ** (attempts - 1)``.
"""

from __future__ import annotations

from typing import Any

import gymnasium

from assay.envs.single_turn import SingleTurnEnv
from assay.errors import AssayError

REWARD_MODES = ("final", "discounted")


class RetryEnv(SingleTurnEnv):
    artifact = "submission"  # named in the retry prompt: "Fix the <artifact> and submit it again"

    def __init__(self, max_turns: int = 3, reward_mode: str = "final", discount: float = 0.5, **kwargs: Any):
        if isinstance(max_turns, bool) or not isinstance(max_turns, int) or max_turns < 1:
            raise AssayError(f"max_turns must be an int >= 1 (attempts per episode), got {max_turns!r}")
        if reward_mode not in REWARD_MODES:
            raise AssayError(f"reward_mode must be one of {REWARD_MODES}, got {reward_mode!r}")
        if isinstance(discount, bool) or not isinstance(discount, (int, float)) or not 0 < discount <= 1:
            raise AssayError(f"discount must be in (0, 1], got {discount!r}")
        super().__init__(**kwargs)
        self.max_turns = max_turns
        self.reward_mode = reward_mode
        self.discount = float(discount)
        self._attempts = 0
        self._transcript: list[dict] = []

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[str, dict]:
        obs, info = super().reset(seed=seed, options=options)
        self._attempts = 0
        self._transcript = list(info["messages"])
        return obs, info

    def step(self, action: str) -> tuple[str, float, bool, bool, dict]:
        if self._done or self._task is None:
            raise gymnasium.error.ResetNeeded("call reset() before step(); this episode has ended")
        if not isinstance(action, str):
            raise TypeError(f"the action is the model's response text (str), got {type(action).__name__}")
        verdict = self.verifier.verify(self._task, action[: self.action_space.max_length])
        self._attempts += 1
        self._last = (action, verdict)
        self._transcript.append({"role": "assistant", "content": action})
        done = verdict.passed or verdict.error is not None or self._attempts >= self.max_turns
        info = {"task": self._task, "verdict": verdict, "attempt": self._attempts, "provenance": self.provenance()}
        if done:
            self._done = True
            reward = float(verdict.reward)
            if self.reward_mode == "discounted":
                reward *= self.discount ** (self._attempts - 1)
            info["messages"] = list(self._transcript)
            if self.render_mode == "human":
                print(self.render_text())
            return "", reward, True, False, info
        left = self.max_turns - self._attempts
        obs = (f"{verdict.feedback}\n\nFix the {self.artifact} and submit it again "
               f"({left} attempt{'s' * (left != 1)} left).")
        self._transcript.append({"role": "user", "content": obs})
        info["messages"] = list(self._transcript)
        return obs, 0.0, False, False, info
