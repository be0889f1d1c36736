"""Partial rollouts (assay.trainer.partial), in one process: episodes longer than the per-step turn
budget are paused whole-group and finish in a later step on the same environment, every turn keeps
the log-probs and the policy version that sampled it, the staleness bound drops what would break
it, and no episode is duplicated or lost (started == trained + dropped + still paused)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from assay.config import ConfigError
from assay.protocols import Generation, SamplingParams
from assay.trainer.config import GRPOConfig
from assay.trainer.partial import PartialRollouts
from assay.trainer.rollout import LocalEnvRunner, observation_ids
from assay.trainer.tiny import build_tokenizer, save_tiny
from assay.types import Task
from tests.trainer import long_env
from tests.trainer.long_env import LongEnv


class VersionedGenerator:
    """Answers "12" to every prompt; each token's log-prob says which policy version sampled it."""

    def __init__(self, tokenizer):
        self.tok, self.version, self.calls = tokenizer, 0, 0

    def generate(self, prompts, params):
        self.calls += 1
        ids = tuple(self.tok.encode("12", add_special_tokens=False))
        return [Generation(ids, tuple(self.logprob(self.version) for _ in ids), "12", "eos") for _ in prompts]

    @staticmethod
    def logprob(version: int) -> float:
        return -(version + 1) / 10


def task(name: str, turns: int) -> Task:
    return Task(name, f"answer {turns} times", meta={"turns": turns})


def run_step(partial, runner, gen, tok, tasks, version, group_size=2):
    gen.version = version
    dropped = partial.expire(version)
    batch, stats = partial.step(runner, tasks, group_size, gen, tok, SamplingParams(max_new_tokens=2), max_turns=3,
                                seed=100 * version, version=version)
    return batch, {**stats, "dropped": dropped}


def test_long_episodes_pause_and_finish_later_with_every_turns_logprobs_and_version():
    tok = build_tokenizer()
    gen, runner = VersionedGenerator(tok), LocalEnvRunner(LongEnv)
    partial = PartialRollouts(turns_per_step=1, max_staleness=2)

    # "three" takes the low slots 0-1: the new episodes of the next step must not reset its envs
    batch0, s0 = run_step(partial, runner, gen, tok, [task("three", 3), task("one", 1)], version=0)
    assert [t.task_id for t in batch0] == ["one", "one"]  # the 3-turn group is paused, not waited for
    assert s0["carried_out"] == 2 and s0["staleness"] == 0
    batch1, s1 = run_step(partial, runner, gen, tok, [task("two", 2)], version=1)
    assert batch1 == [] and s1["carried_in"] == 2 and s1["carried_out"] == 4  # "three" at turn 2, "two" at turn 1
    batch2, s2 = run_step(partial, runner, gen, tok, [], version=2)

    assert [t.task_id for t in batch2] == ["three", "three", "two", "two"]  # paused groups come first
    assert s2["carried_trained"] == 4 and s2["policy_version"] == 0 and s2["staleness"] == 2
    assert all(t.verdict is not None and t.verdict.error is None for t in batch0 + batch2)  # the env saw exactly its turns
    answer = tok.encode("12", add_special_tokens=False)
    for traj, versions in [(batch2[0], [0, 1, 2]), (batch2[2], [1, 2])]:
        turns = [t for t in traj.turns if t.role == "assistant"]
        assert [t.version for t in turns] == versions
        assert all(t.logprobs == tuple(VersionedGenerator.logprob(v) for _ in answer) for t, v in zip(turns, versions))
        # the flat per-token arrays the update reads: generated tokens with their version's log-prob, env tokens 0
        expected_ids, expected_logp = [], []
        for i, v in enumerate(versions):
            expected_ids += answer
            expected_logp += [VersionedGenerator.logprob(v)] * len(answer)
            if i < len(versions) - 1:
                obs = observation_ids(tok, f"more ({i + 1})", after_eos=True)
                expected_ids += obs
                expected_logp += [0.0] * len(obs)
        assert list(traj.token_ids) == expected_ids and list(traj.logprobs) == expected_logp
    assert partial.started == 6 == partial.trained + partial.dropped + partial.paused_episodes


def test_a_paused_group_that_would_break_the_staleness_bound_is_dropped_and_counted():
    tok = build_tokenizer()
    gen, runner = VersionedGenerator(tok), LocalEnvRunner(LongEnv)
    partial = PartialRollouts(turns_per_step=1, max_staleness=1)
    run_step(partial, runner, gen, tok, [task("three", 3), task("one", 1)], version=0)
    _, s1 = run_step(partial, runner, gen, tok, [], version=1)  # oldest token version 0, trained at 1: within k=1
    assert s1["dropped"] == 0 and s1["carried_in"] == 2 and s1["carried_out"] == 2
    batch2, s2 = run_step(partial, runner, gen, tok, [task("two", 2)], version=2)  # version 0 at step 2: past k=1
    assert s2["dropped"] == 2 and s2["carried_in"] == 0 and batch2 == []
    assert partial.started == 6 and partial.trained == 2 and partial.dropped == 2 and partial.paused_episodes == 2
    # continuing a stale group without expire() is refused, never trained past the bound
    with pytest.raises(RuntimeError, match="expire"):
        partial.step(runner, [], 2, gen, tok, SamplingParams(max_new_tokens=2), 3, seed=0, version=9)


# --------------------------------------------------------------------------- in the trainer

@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    long_env.register()
    return save_tiny(tmp_path_factory.mktemp("m") / "tiny", hidden_size=32, layers=1, heads=2)


def config(model: Path, run_dir: Path, **changes) -> GRPOConfig:
    base = dict(model=str(model), run_dir=str(run_dir), env_id="assay/test-long-v0", env_kwargs={}, max_turns=3,
                partial_rollout_turns=1, max_staleness=2, steps=5, prompts_per_step=2, group_size=4, max_new_tokens=6,
                eval_every=100, eval_size=2, save_every=100, seed=5)
    return GRPOConfig(**{**base, **changes})


def check_counts(trainer, rows: list[dict], group_size: int) -> None:
    """started == trained + dropped + still paused, from the trainer's own counters and from the rows."""
    partial = trainer._partial
    trained = sum(r["groups"] * group_size for r in rows)
    dropped = sum(r["dropped_stale"] for r in rows)
    assert partial.trained == trained and partial.dropped == dropped
    assert partial.started == trained + dropped + partial.paused_episodes


@pytest.mark.parametrize("k", [1, 2])
def test_training_with_partial_rollouts_keeps_the_bound_and_every_episode(model, tmp_path, k):
    from assay.trainer.grpo import GRPOTrainer

    trainer = GRPOTrainer(config(model, tmp_path, max_staleness=k), progress=False)
    trainer.train()
    rows = [r for r in trainer.run.rows() if "carried_in" in r]  # skipped steps (nothing finished) included
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5]
    assert all(r["staleness"] <= k for r in rows), [r["staleness"] for r in rows]
    assert all(r["step"] - 1 - r["policy_version"] == r["staleness"] for r in rows)
    assert sum(r["carried_trained"] for r in rows) > 0  # episodes begun in one step trained in a later one
    check_counts(trainer, rows, group_size=4)
    dropped = sum(r["dropped_stale"] for r in rows)
    if k == 1:
        assert dropped > 0  # 3-turn episodes need 3 steps: two versions of wait, one more than k allows
    else:
        assert dropped == 0 and max(r["staleness"] for r in rows) == 2
    assert any(r.get("grad_norm", 0) > 0 for r in rows)  # some steps really trained


def test_paused_episodes_are_dropped_on_resume_and_counted(model, tmp_path):
    """Paused episodes are not in checkpoints (their environments live in the runner): the
    checkpoint records how many there were, and the resumed run logs them as dropped."""
    from assay.trainer.grpo import GRPOTrainer

    first = GRPOTrainer(config(model, tmp_path, steps=1, save_every=1), progress=False)
    first.train()
    paused = first._partial.paused_episodes
    assert paused > 0, "nothing was paused at the checkpoint: the test proves nothing"
    state = torch.load(tmp_path / "checkpoints" / "step_000001" / "trainer_state.pt", weights_only=False)
    assert state["paused_episodes"] == paused
    resumed = GRPOTrainer(config(model, tmp_path, steps=2, save_every=1), resume=True, progress=False)
    resumed.train()
    (row,) = [r for r in resumed.run.rows() if "carried_in" in r and r["step"] == 2]
    assert row["step"] == 2 and row["dropped_on_resume"] == paused and row["carried_in"] == 0
    assert resumed._partial.started == resumed._partial.trained + resumed._partial.paused_episodes


def test_config_says_how_to_fix_partial_rollout_and_generator_settings():
    with pytest.raises(ConfigError, match="max_staleness >= 1"):
        GRPOConfig(max_turns=3, partial_rollout_turns=1)
    with pytest.raises(ConfigError, match="max_turns"):
        GRPOConfig(max_turns=2, partial_rollout_turns=2, max_staleness=1)
    with pytest.raises(ConfigError, match="dynamic_sampling=false"):
        GRPOConfig(algorithm="dapo", max_turns=3, partial_rollout_turns=1, max_staleness=1)
    with pytest.raises(ConfigError, match="backend=ray"):
        GRPOConfig(ray_generators=1)
    with pytest.raises(ConfigError):
        GRPOConfig(backend="ray", ray_generators=-1)
    assert GRPOConfig(max_turns=3, partial_rollout_turns=1, max_staleness=1).partial_rollout_turns == 1
    assert GRPOConfig(backend="ray", ray_generators=2).ray_generators == 2
