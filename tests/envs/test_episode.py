"""``assay.envs.episode.play`` plays any Gymnasium text env, assay's or a plain one (no Task, no
Verdict, rewards on several steps)."""

from __future__ import annotations

import gymnasium

import assay
from assay.envs.episode import play, plain_verdict
from assay.envs.spaces import FreeText


class Countdown(gymnasium.Env):
    """Plain env: answer "go" three times; each step pays 0.25, the last one 0.5 more."""

    def __init__(self):
        self.observation_space, self.action_space = FreeText(), FreeText()

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.left = 3
        return "say go", {}

    def step(self, action):
        self.left -= 1
        reward = 0.25 * (action == "go") + (0.5 if self.left == 0 and action == "go" else 0.0)
        return ("" if self.left == 0 else "again"), reward, self.left == 0, False, {}


def test_a_plain_env_plays_to_the_sum_of_its_rewards():
    trajectory = play(Countdown(), lambda obs, info: "go", seed=4)
    assert trajectory.task_id == "seed-4" and trajectory.task.prompt == "say go" and trajectory.task.meta == {"reset_seed": 4}
    assert trajectory.reward == 1.25 and trajectory.verdict.passed and trajectory.verdict.error is None
    assert [t.role for t in trajectory.turns] == ["user", "assistant", "environment", "assistant", "environment", "assistant"]
    assert not play(Countdown(), lambda obs, info: "no", seed=4).verdict.passed


def test_is_success_decides_over_the_return():
    assert not plain_verdict(1.0, {"is_success": False}).passed
    assert plain_verdict(0.0, {"is_success": True}).passed
    assert plain_verdict(0.5, {}).passed and not plain_verdict(0.0, {}).passed and not plain_verdict(-1.0, {}).passed


def test_an_assay_env_keeps_its_task_and_verdict():
    env = assay.make("assay/arithmetic-v0", difficulty=1)
    trajectory = play(env, lambda obs, info: env.unwrapped.gold_response(info["task"]), seed=2)
    assert trajectory.task is not None and trajectory.task_id == trajectory.task.id
    assert trajectory.verdict.passed and trajectory.reward == 1.0 and trajectory.provenance.env_id == "assay/arithmetic-v0"
