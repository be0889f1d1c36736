"""Rollouts are exact at the token level, multi-turn included, and survive broken environments."""

from __future__ import annotations

import dataclasses
import threading
import time

from transformers import AutoModelForCausalLM, AutoTokenizer

from assay.protocols import Generation, SamplingParams
from assay.trainer.generators.hf import HFGenerator
from assay.trainer.rollout import LocalEnvRunner, observation_ids, run_episodes
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


def test_an_envs_system_prompt_is_in_the_prompt_ids_the_policy_sees():
    import assay

    tok = build_tokenizer()
    gen = ScriptedGenerator(tok, [tok.encode("1", add_special_tokens=False)])
    def make():
        return assay.make("assay/arithmetic-v0", difficulty=1, system_prompt="Answer in digits.")

    task = make().reset(seed=0)[1]["task"]
    (traj,) = run_episodes(make, [task], 1, gen, tok, SamplingParams(max_new_tokens=1), max_turns=1)
    # the tiny model's chat template: a system message as itself, then "Q: <prompt>"
    assert tok.decode(traj.prompt_ids, skip_special_tokens=True).startswith(f"Answer in digits.\nQ: {task.prompt}")
    assert gen.seen[0][0] == list(traj.prompt_ids)


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


class ThreadNotingEcho(EchoEnv):
    """EchoEnv that notes the thread of every call it gets, construction and close included."""

    def __init__(self, crash_on=None):
        super().__init__(crash_on)
        self.threads = [threading.get_ident()]

    def reset(self, *, seed=None, options=None):
        self.threads.append(threading.get_ident())
        return super().reset(seed=seed, options=options)

    def step(self, action):
        self.threads.append(threading.get_ident())
        time.sleep(0.01)  # long enough for the lanes to overlap
        return super().step(action)

    def close(self):
        self.threads.append(threading.get_ident())


def test_env_threads_give_the_episodes_of_one_thread_and_keep_each_env_on_its_thread():
    """Seven episodes over two turns, one env crashing on its answer: three threads give the same
    trajectories as one. Each env is built, reset, stepped and closed on one thread (slot s on
    thread s % 3), as Playwright's sync API needs; the three threads all worked."""
    tok = build_tokenizer()
    tasks = [Task(f"t{i}", "p") for i in range(7)]

    def rollout(threads: int):
        runner = LocalEnvRunner(lambda: ThreadNotingEcho(crash_on="b"), threads=threads)
        per_turn = [[tok.convert_tokens_to_ids(c)] for c in "ab"]  # turn 2 says "b": every env crashes there
        trajs = run_episodes(None, tasks, 1, ScriptedGenerator(tok, per_turn), tok, SamplingParams(max_new_tokens=1),
                             max_turns=2, runner=runner)
        envs = list(runner.envs)
        runner.close()
        return trajs, envs

    def without_traceback(t):  # the traceback of the crash names the runner's frames, which differ
        return dataclasses.replace(t, verdict=dataclasses.replace(t.verdict, details={}))

    serial, _ = rollout(1)
    threaded, envs = rollout(3)
    assert list(map(without_traceback, threaded)) == list(map(without_traceback, serial))
    assert all("env exploded" in t.verdict.error and "env exploded" in t.verdict.details["traceback"] for t in threaded)
    assert all(len(set(env.threads)) == 1 and len(env.threads) == 5 for env in envs)  # init, reset, 2 steps, close
    lanes = [env.threads[0] for env in envs]
    assert len(set(lanes)) == 3 and all(lanes[s] == lanes[s % 3] for s in range(7))
    assert threading.get_ident() not in lanes


def test_env_threads_overlap_waiting_envs():
    runner = LocalEnvRunner(lambda: ThreadNotingEcho(), threads=4)
    runner.reset([(slot, slot, {}) for slot in range(8)])
    start = time.perf_counter()
    runner.step([(slot, "x") for slot in range(8)])  # 8 x 10 ms of waiting, on 4 threads
    assert time.perf_counter() - start < 0.06
    runner.close()

