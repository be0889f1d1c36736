"""Learned rewards in the trainer: step splitting, per-token process advantages on hand-computed
values, and a GRPO run that uses a PRM (dense) and an ORM (hybrid outcome reward)."""

from __future__ import annotations

import dataclasses

import pytest

import assay
from assay.trainer.config import GRPOConfig
from assay.errors import AssayError
from assay.trainer.dense import FirstBatchStandardized, LearnedRewards, split_steps, token_process_advantages
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


class TableORM:
    """Scores a response (read as one step) by a lookup table."""

    def __init__(self, table):
        self.table = table

    def score(self, prefixes):
        return [[self.table[p.steps[-1].text]] for p in prefixes]


def test_an_orm_ensemble_is_standardized_on_its_first_batch_then_keeps_that_fit():
    """First batch p, q, r: member A scores 1, 2, 3 (mean 2, std sqrt(2/3)), member B 10, 10, 40
    (mean 20, std sqrt(200)). mean_minus_var with lambda 0.5 on the standardized scores."""
    a = TableORM({"p": 1.0, "q": 2.0, "r": 3.0, "s": 5.0})
    b = TableORM({"p": 10.0, "q": 10.0, "r": 40.0, "s": 20.0})
    sa, sb = (2 / 3) ** 0.5, 200 ** 0.5

    def combined(x, y):
        za, zb = (x - 2) / sa, (y - 20) / sb
        mean = (za + zb) / 2
        return mean - 0.5 * ((za - mean) ** 2 + (zb - mean) ** 2) / 2

    ensemble = FirstBatchStandardized([a, b], "mean_minus_var", 0.5)
    task = Task("t", "q")
    assert ensemble.state() is None
    assert ensemble.rewards([task] * 3, ["p", "q", "r"]) == pytest.approx([combined(1, 10), combined(2, 10), combined(3, 40)])
    assert ensemble.rewards([task], ["s"]) == pytest.approx([combined(5, 20)])  # the first batch's fit, not refitted
    resumed = FirstBatchStandardized([a, b], "mean_minus_var", 0.5)
    resumed.load_state(ensemble.state())
    assert resumed.rewards([task], ["s"]) == ensemble.rewards([task], ["s"])


def test_an_ensemble_that_cannot_be_standardized_says_why():
    ensemble = FirstBatchStandardized([TableORM({"p": 1.0}), TableORM({"p": 2.0})], "min", 1.0)
    with pytest.raises(AssayError, match="cannot standardize the reward-model ensemble on the first batch"):
        ensemble.rewards([Task("t", "q")] * 2, ["p", "p"])


@pytest.fixture(scope="module")
def reward_models(tmp_path_factory):
    from assay.trainer.reward_model import RMConfig, train_reward_model

    root = tmp_path_factory.mktemp("rms")
    small = dict(tiny_hidden=32, batch_size=4, steps=2, data="(in memory)", seed=0)
    pairs = [PreferencePair(Task("t", "q"), "12", "ab")]
    steps = [StepExample(Task("t", "q"), ("1\n", "a\n"), (1.0, 0.0))]
    orm, _ = train_reward_model(RMConfig(kind="orm", out=str(root / "orm"), **small), pairs, log=lambda _: None)
    orm2, _ = train_reward_model(RMConfig(kind="orm", out=str(root / "orm2"), **{**small, "seed": 1}), pairs, log=lambda _: None)
    prm, _ = train_reward_model(RMConfig(kind="prm", out=str(root / "prm"), **small), steps, log=lambda _: None)
    outcomes = [OutcomeExample(Task("t", "q"), ("1\n",), 1.0)]
    implicit, _ = train_reward_model(RMConfig(kind="implicit", out=str(root / "implicit"), **small), outcomes, log=lambda _: None)
    return {"orm": orm, "orm2": orm2, "prm": prm, "implicit": implicit, "policy": save_tiny(root / "policy", hidden_size=32, layers=1, heads=2)}


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


def test_grpo_with_an_orm_ensemble_scores_with_the_fit_its_checkpoint_keeps(reward_models, tmp_path):
    ensemble = [str(reward_models["orm"]), str(reward_models["orm2"])]
    cfg = config(reward_models["policy"], tmp_path, reward_model=ensemble, reward_ensemble="min", overlong_buffer=0)
    trainer = GRPOTrainer(cfg, progress=False)
    trainer.train()
    fit = trainer.learned.state()
    assert fit is not None and len(fit) == 2 and all(std > 0 for _, std in fit)
    resumed = GRPOTrainer(dataclasses.replace(cfg, steps=2), resume=True, progress=False)
    assert resumed.learned.state() == fit
    tasks, responses = [Task("t", "q")] * 2, ["12", "ab"]
    assert resumed.learned.model.rewards(tasks, responses) == trainer.learned.model.rewards(tasks, responses)


def test_an_ensemble_of_mixed_kinds_is_refused(reward_models, tmp_path):
    cfg = config(reward_models["policy"], tmp_path, reward_model=[str(reward_models["orm"]), str(reward_models["prm"])])
    with pytest.raises(AssayError, match="an ensemble needs reward models of one kind"):
        GRPOTrainer(cfg, progress=False)


def test_config_refuses_unknown_shaping():
    from assay.config import ConfigError

    with pytest.raises(ConfigError, match="process_transform"):
        GRPOConfig(process_transform="squash")
    with pytest.raises(ConfigError, match="min resists"):
        GRPOConfig(process_return_mode="max")
    with pytest.raises(ConfigError, match="length_penalty"):
        GRPOConfig(length_penalty_coef=-1)
