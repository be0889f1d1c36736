"""The trainer takes plain Gymnasium text envs, as the README registers one: no Task in info and no
Verdict. The task is the observation of a seed, a GRPO group's episodes all get it, the reward is
the episode's return, and a Verdict is made from it (Gymnasium's ``is_success`` when given)."""

from __future__ import annotations

import json

import pytest

import assay
from assay.errors import AssayError
from assay.protocols import Generation, SamplingParams
from assay.trainer.config import GRPOConfig
from assay.trainer.grpo import GRPOTrainer
from assay.envs.episode import draw_task
from assay.trainer.rollout import run_episodes
from assay.trainer.tiny import build_tokenizer, save_tiny
from tests.trainer.echo_env import PlainReverseEnv

assay.register("test-plain-reverse-v0", "tests.trainer.echo_env:PlainReverseEnv", override=True)


class Answers:
    """Answers each prompt with its word reversed when ``right``, else with "no"."""

    def __init__(self, tokenizer, right: bool):
        self.tok, self.right = tokenizer, right

    def generate(self, prompts, params):
        out = []
        for p in prompts:
            word = self.tok.decode(p).split("Reverse the word ")[1].split()[0]
            ids = self.tok.encode(word[::-1] if self.right else "no", add_special_tokens=False)
            out.append(Generation(tuple(ids), tuple(-1.0 for _ in ids), self.tok.decode(ids), "eos"))
        return out


def test_a_plain_env_task_is_its_observation_tied_to_the_seed():
    env = PlainReverseEnv()
    task = draw_task(env, 5)
    assert task.id == "seed-5" and task.prompt.startswith("Reverse the word ") and task.meta == {"reset_seed": 5}
    assert draw_task(env, 5) == task
    assert len({draw_task(env, seed).prompt for seed in range(5, 9)}) > 1


def test_a_group_shares_the_task_and_the_return_is_the_sum_of_rewards():
    tok = build_tokenizer()
    env = PlainReverseEnv(turns=2)
    tasks = [draw_task(env, s) for s in (1, 2)]
    trajs = run_episodes(lambda: PlainReverseEnv(turns=2), tasks, 3, Answers(tok, right=True), tok,
                         SamplingParams(max_new_tokens=8), max_turns=2, seed=100)
    assert [t.task_id for t in trajs] == ["seed-1"] * 3 + ["seed-2"] * 3
    for task, group in ((tasks[0], trajs[:3]), (tasks[1], trajs[3:])):
        assert len({t.prompt_ids for t in group}) == 1
        assert task.prompt in tok.decode(group[0].prompt_ids)  # the drawn word, not that of seed 100 + i
    assert all(t.reward == 1.0 and t.verdict.passed and t.verdict.error is None for t in trajs)  # 0.5 + 0.5
    wrong = run_episodes(lambda: PlainReverseEnv(turns=2), tasks[:1], 2, Answers(tok, right=False), tok,
                         SamplingParams(max_new_tokens=8), max_turns=2)
    assert all(t.reward == 0.0 and not t.verdict.passed for t in wrong)


def test_is_success_decides_passed_when_the_env_gives_it():
    tok = build_tokenizer()
    (traj,) = run_episodes(lambda: PlainReverseEnv(says_success=True), [draw_task(PlainReverseEnv(), 3)], 1,
                           Answers(tok, right=True), tok, SamplingParams(max_new_tokens=8))
    assert traj.reward == 1.0 and not traj.verdict.passed


def test_an_env_without_text_prompts_is_refused_clearly():
    class NumberEnv(PlainReverseEnv):
        def reset(self, *, seed=None, options=None):
            return 3, {}

    with pytest.raises(AssayError, match="reset\\(\\) must return the prompt as text"):
        draw_task(NumberEnv(), 0)


def test_grpo_trains_and_evaluates_on_a_plain_env(tmp_path):
    model = save_tiny(tmp_path / "tiny", hidden_size=32, layers=1, heads=2)
    config = GRPOConfig(model=str(model), run_dir=str(tmp_path / "run"), env_id="assay/test-plain-reverse-v0", env_kwargs={},
                        steps=2, prompts_per_step=2, group_size=4, max_new_tokens=6, eval_size=3, eval_every=1, save_every=2)
    trainer = GRPOTrainer(config, progress=False)
    history = trainer.train()
    trainer.close()
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "eval_accuracy" in r] == [0, 1, 2]
    assert [r["step"] for r in history if "reward" in r] == [1, 2] and all(r["errors"] == 0 for r in history if "errors" in r)
