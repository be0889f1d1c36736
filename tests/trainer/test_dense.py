"""Learned rewards in the trainer: step splitting, per-token process advantages on hand-computed
values, and a GRPO run that uses a PRM (dense) and an ORM (hybrid outcome reward)."""

from __future__ import annotations

import pytest

import assay
from assay.trainer.config import GRPOConfig
from assay.trainer.dense import LearnedRewards, split_steps, token_process_advantages
from assay.trainer.grpo import GRPOTrainer
from assay.trainer.rm_data import OutcomeExample, PreferencePair, StepExample
from assay.trainer.tiny import build_tokenizer, save_tiny
from assay.types import Task, Trajectory, Verdict

assay.register("test-length-v0", "tests.trainer.echo_env:LengthEnv", override=True)


def test_split_steps_ends_after_newlines_turn_boundaries_and_the_end():
    assert split_steps([1, 2, 3, 4, 5], ["a", "\n", "b", "c\n", "d"], boundaries=(3,)) == [2, 3, 4, 5]
    assert split_steps([], []) == []


def test_token_process_advantages_subtract_the_group_mean_first_step_return():
    """Group 0: returns [0.2, 0.5] (steps end at 2, 4) and [0.6] (ends at 3); baseline
    (0.2 + 0.6) / 2 = 0.4. Group 1 alone: [1.0] -> 0."""
    got = token_process_advantages([[0.2, 0.5], [0.6], [1.0]], [[2, 4], [3], [1]], [0, 0, 1], width=4)
    want = [[-0.2, -0.2, 0.1, 0.1], [0.2, 0.2, 0.2, 0.0], [0.0, 0.0, 0.0, 0.0]]
    assert got.tolist() == [pytest.approx(row) for row in want]


class FixedPRM:
    """Scores step j of any prefix with values[j]."""

    def __init__(self, values):
        self.values = values

    def score(self, prefixes):
        return [self.values[:len(p.steps)] for p in prefixes]


def trajectory(tok, text, passed, group="g"):
    ids = tuple(tok.encode(text, add_special_tokens=False))
    task = Task("t", "q")
    return Trajectory(task_id="t", group_id=group, token_ids=ids, loss_mask=(1,) * len(ids), task=task,
                      verdict=Verdict(float(passed), passed))


@pytest.mark.parametrize("mode, transform, posterior, first, second", [
    # steps scored 0.9 then 0.2; the other trajectory's one step 0.9
    ("sum", "none", False, (1.1 - 1.0, 0.2 - 1.0), 0.9 - 1.0),  # baseline (1.1 + 0.9) / 2 = 1.0
    ("min", "none", False, (0.2 - 0.55, 0.2 - 0.55), 0.9 - 0.55),  # baseline (0.2 + 0.9) / 2
    ("sum", "clip", False, (-0.3 + 0.15, -0.3 + 0.15), 0.15),  # eta 0.5: [0, -0.3] and [0]; baseline -0.15
    ("sum", "none", True, (1.1 - 0.55, 0.2 - 0.55), -0.55),  # second failed: its process return gated to 0
])
def test_learned_rewards_shape_then_return_then_spread_over_tokens(mode, transform, posterior, first, second):
    tok = build_tokenizer()
    a, b = trajectory(tok, "x\ny\n", True), trajectory(tok, "z\n", posterior is False)
    lr = LearnedRewards(FixedPRM([0.9, 0.2]), "prm", tok, coef=2.0, transform=transform, return_mode=mode, eta=0.5,
                        posterior=posterior)
    got = lr.process_advantages([a, b], [0, 0], width=4)
    assert got[0].tolist() == pytest.approx([2 * first[0], 2 * first[0], 2 * first[1], 2 * first[1]])
    assert got[1].tolist() == pytest.approx([2 * second, 2 * second, 0.0, 0.0])


@pytest.fixture(scope="module")
def reward_models(tmp_path_factory):
    from assay.trainer.reward_model import RMConfig, train_reward_model

    root = tmp_path_factory.mktemp("rms")
    small = dict(tiny_hidden=32, batch_size=4, steps=2, data="(in memory)", seed=0)
    pairs = [PreferencePair(Task("t", "q"), "12", "ab")]
    steps = [StepExample(Task("t", "q"), ("1\n", "a\n"), (1.0, 0.0))]
    orm, _ = train_reward_model(RMConfig(kind="orm", out=str(root / "orm"), **small), pairs, log=lambda _: None)
    prm, _ = train_reward_model(RMConfig(kind="prm", out=str(root / "prm"), **small), steps, log=lambda _: None)
    outcomes = [OutcomeExample(Task("t", "q"), ("1\n",), 1.0)]
    implicit, _ = train_reward_model(RMConfig(kind="implicit", out=str(root / "implicit"), **small), outcomes, log=lambda _: None)
    return {"orm": orm, "prm": prm, "implicit": implicit, "policy": save_tiny(root / "policy", hidden_size=32, layers=1, heads=2)}


def config(policy, run_dir, **kw):
    return GRPOConfig(model=str(policy), run_dir=str(run_dir), env_id="assay/test-length-v0", env_kwargs={}, steps=1,
                      prompts_per_step=2, group_size=4, max_new_tokens=6, eval_size=2, eval_every=10, save_every=10, **kw)


@pytest.mark.parametrize("kind", ["prm", "implicit"])
def test_grpo_with_a_process_reward_model_uses_per_token_advantages(reward_models, tmp_path, kind):
    cfg = config(reward_models["policy"], tmp_path, reward_model=str(reward_models[kind]), process_transform="clip")
    trainer = GRPOTrainer(cfg, progress=False)
    assert trainer.learned.kind == kind and trainer.learned.dense
    trajs, _ = trainer.rollout()
    rewards, kept = trainer.score(trajs)
    adv = trainer.advantages([trajs[i] for i in kept], rewards)
    assert adv.shape == (len(kept), max(len(trajs[i].token_ids) for i in kept))
    history = trainer.train()
    assert any("loss" in row for row in history)


def test_grpo_with_an_orm_adds_its_weighted_score_to_the_outcome_reward(reward_models, tmp_path):
    cfg = config(reward_models["policy"], tmp_path, reward_model=str(reward_models["orm"]), reward_model_coef=0.5,
                 overlong_buffer=0)
    trainer = GRPOTrainer(cfg,
                          progress=False)
    trajs, _ = trainer.rollout()
    rewards, kept = trainer.score(trajs)
    chosen = [trajs[i] for i in kept]
    learned = trainer.learned.model.rewards([t.task for t in chosen], [t.response for t in chosen])
    want = [t.reward + 0.5 * r for t, r in zip(chosen, learned)]
    assert rewards.tolist() == pytest.approx(want, abs=1e-5)
    assert trainer.advantages(chosen, rewards).shape == (len(chosen),)


def test_config_refuses_unknown_shaping():
    from assay.config import ConfigError

    with pytest.raises(ConfigError, match="process_transform"):
        GRPOConfig(process_transform="squash")
    with pytest.raises(ConfigError, match="min resists"):
        GRPOConfig(process_return_mode="max")
    with pytest.raises(ConfigError, match="length_penalty"):
        GRPOConfig(length_penalty_coef=-1)
