"""Rollouts are exact at the token level, multi-turn included, and survive broken environments."""

from __future__ import annotations

from transformers import AutoModelForCausalLM, AutoTokenizer

from assay.protocols import Generation, SamplingParams
from assay.trainer.generators.hf import HFGenerator
from assay.trainer.rollout import observation_ids, run_episodes
from assay.trainer.tiny import build_tokenizer, save_tiny
from assay.types import Task
from tests.trainer.echo_env import EchoEnv


class ScriptedGenerator:
    """Returns fixed token ids per call (one script entry per turn): a stand-in for a model so
    the test controls exactly which ids were 'generated'."""

    def __init__(self, tokenizer, per_turn: list[list[int]]):
        self.tok, self.per_turn, self.calls, self.seen = tokenizer, per_turn, 0, []

    def generate(self, prompts, params):
        ids = self.per_turn[self.calls]
        self.calls += 1
        self.seen.append([list(p) for p in prompts])
        return [Generation(tuple(ids), tuple(-0.5 for _ in ids), self.tok.decode(ids), "length") for _ in prompts]


def test_multiturn_ids_are_exactly_the_generated_ones_never_retokenized():
    tok = build_tokenizer()
    step_chars = [tok.convert_tokens_to_ids(c) for c in "Step"]  # decodes to "Step", re-encodes as ONE token
    assert tok.encode("Step", add_special_tokens=False) != step_chars
    gen = ScriptedGenerator(tok, [step_chars, step_chars])
    (traj,) = run_episodes(lambda: EchoEnv(), [Task("t", "say something")], 1, gen, tok,
                           SamplingParams(max_new_tokens=4), max_turns=3)
    obs = observation_ids(tok, "again", after_eos=False)
    assert list(traj.token_ids) == step_chars + obs + step_chars
    assert list(traj.loss_mask) == [1] * 4 + [0] * len(obs) + [1] * 4
    assert list(traj.logprobs) == [-0.5] * 4 + [0.0] * len(obs) + [-0.5] * 4
    assert traj.step_boundaries == (4, 8 + len(obs))
    assert traj.reward == 1.0 and traj.verdict.passed
    # the second generator call saw prompt + turn-1 ids + observation ids, exactly
    assert gen.seen[1][0] == list(traj.prompt_ids) + step_chars + obs
    assert [t.role for t in traj.turns] == ["user", "assistant", "environment", "assistant"]


def test_env_crash_marks_only_that_episode():
    tok = build_tokenizer()
    boom = [tok.convert_tokens_to_ids("x")]
    gen = ScriptedGenerator(tok, [boom, boom])
    trajs = run_episodes(lambda: EchoEnv(crash_on="x"), [Task("a", "p"), Task("b", "p")], 2, gen, tok,
                         SamplingParams(max_new_tokens=1), max_turns=2)
    assert len(trajs) == 4
    assert all(t.verdict.error and "env exploded" in t.verdict.error and t.reward == 0.0 for t in trajs)


def test_group_ids_and_order():
    tok = build_tokenizer()
    gen = ScriptedGenerator(tok, [[5], [5]])
    trajs = run_episodes(lambda: EchoEnv(), [Task("a", "p"), Task("b", "p")], 3, gen, tok, SamplingParams(max_new_tokens=1), max_turns=2)
    assert [t.task_id for t in trajs] == ["a"] * 3 + ["b"] * 3
    assert len({t.group_id for t in trajs[:3]}) == 1 and trajs[0].group_id != trajs[3].group_id


def test_real_model_multiturn_rollout_is_consistent(tmp_path):
    path = save_tiny(tmp_path / "tiny", hidden_size=32, layers=1, heads=2)
    model, tok = AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)
    trajs = run_episodes(lambda: EchoEnv(), [Task("a", "say hi")], 4, HFGenerator(model, tok), tok,
                         SamplingParams(max_new_tokens=6, seed=0), max_turns=2)
    for t in trajs:
        gen_ids = [i for turn in t.turns if turn.role == "assistant" for i in turn.token_ids]
        assert [i for i, m in zip(t.token_ids, t.loss_mask) if m] == gen_ids
        assert len(t.logprobs) == len(t.token_ids) and all(lp <= 0 for lp in t.logprobs)
