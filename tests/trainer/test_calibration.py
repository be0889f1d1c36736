"""PPO-C in the trainer (ppo_c_coef): each response's verbalised confidence calibrates its reward
around a running mean of batch rewards, on hand-computed values; the mean survives a resume."""

from __future__ import annotations

import pytest

from assay.trainer.config import GRPOConfig
from assay.trainer.grpo import GRPOTrainer
from assay.types import Trajectory, Turn, Verdict
from assay.trainer.tiny import save_tiny
from tests.trainer.test_robustness import config as robustness_config


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return save_tiny(tmp_path_factory.mktemp("m") / "tiny", hidden_size=32, layers=1, heads=2)


def config(model, run_dir, **kw):
    """The robustness tests' run (the digit-share env), calibrated: PPO-C on, no overlong penalty."""
    return robustness_config(model, run_dir, **{**dict(group_size=2, save_every=1, overlong_buffer=0, ppo_c_coef=0.5), **kw})


def episode(text: str, reward: float) -> Trajectory:
    return Trajectory(task_id="t", group_id="g", turns=(Turn("user", "q"), Turn("assistant", text)), reward=reward,
                      verdict=Verdict(reward, reward > 0.5))


def test_rewards_are_calibrated_by_the_stated_confidence(model, tmp_path):
    trainer = GRPOTrainer(config(model, tmp_path), progress=False)
    batch = [episode("12 Confidence: 0.9", 1.0), episode("ab confidence: 90%", 0.0), episode("12", 1.0)]
    rewards, kept = trainer.score(batch)
    mean = 0.1 * (2 / 3)  # r_bar <- alpha * batch mean + (1 - alpha) * 0
    assert kept == [0, 1, 2]
    assert rewards.tolist() == pytest.approx([1 + 0.5 * (1 - mean) * 0.4,  # right and confident: more
                                              0 + 0.5 * (0 - mean) * 0.4,  # wrong and confident: below 0
                                              1.0])  # no confidence stated: c = 0.5, unchanged
    rewards, _ = trainer.score(batch)
    mean = 0.1 * (2 / 3) + 0.9 * mean
    assert trainer._ppo_c.mean == pytest.approx(mean) and rewards[1].item() == pytest.approx(0.5 * (0 - mean) * 0.4)


def test_the_running_mean_is_in_the_checkpoint(model, tmp_path):
    trainer = GRPOTrainer(config(model, tmp_path), progress=False)
    history = trainer.train()
    rows = [r for r in history if "loss" in r]
    assert all(r["confidence_missing"] == 1.0 and r["confidence"] == 0.5 for r in rows)  # the tiny model states none
    assert rows[-1]["ppo_c_mean"] == trainer._ppo_c.mean != 0.0
    resumed = GRPOTrainer(config(model, tmp_path, steps=3), resume=True, progress=False)
    assert resumed._ppo_c.mean == trainer._ppo_c.mean


def test_bad_settings_say_the_fix():
    from assay.config import ConfigError

    with pytest.raises(ConfigError, match="ppo_c_alpha in \\(0, 1\\]"):
        GRPOConfig(ppo_c_coef=0.5, ppo_c_alpha=0.0)
