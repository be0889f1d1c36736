"""assay/mix-v0 (envs/mixture.py): several environments behind one, each episode from a member
chosen by weight. Each test checks one property; the test envs below register under ids whose
entry points live in tests.*, so the conformance test leaves them out."""

from __future__ import annotations

import math
import pickle
import random

import gymnasium
import numpy as np
import pytest

import assay
from assay.envs.episode import RESET_SEED, play
from assay.envs.mixture import MEMBER_KEY
from assay.envs.spaces import FreeText
from assay.errors import AssayError
from assay.types import Provenance, Task, Verdict
from assay.verifiers.base import BaseVerifier

WORDS = ("apple", "brick", "cloud", "drift", "ember", "flint")


class WordVerifier(BaseVerifier):
    """Accepts the task's word, or (``reverse``) the word spelt backwards."""

    version = "1"

    def __init__(self, reverse: bool):
        self.reverse, self.name = reverse, "drow" if reverse else "word"

    def gold_response(self, task: Task) -> str:
        return task.answer[::-1] if self.reverse else task.answer

    def _verify(self, task: Task, response: str) -> Verdict:
        ok = response.strip() == self.gold_response(task)
        return Verdict(float(ok), ok)


class WordEnv(gymnasium.Env):
    """Single turn: say the seed's word (``reverse``: backwards). Every instance numbers its tasks
    ``t0``..``t5``, as two datasets may share ids; a task given back must be one it posed, with its
    own id and meta, or reset refuses it."""

    def __init__(self, reverse: bool = False):
        self.observation_space, self.action_space = FreeText(), FreeText()
        self.reverse, self.verifier = reverse, WordVerifier(reverse)
        self.posed: Task | None = None
        self.closed = False

    def task_for(self, seed: int) -> Task:
        word = WORDS[seed % len(WORDS)]
        return Task(f"t{seed % len(WORDS)}", f"Say {word}{' backwards' * self.reverse}.", word,
                    meta={"seed": seed % len(WORDS)})

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        task = (options or {}).get("task")
        if task is None:
            task = self.task_for(seed)
        elif task != self.task_for(task.meta.get("seed", -1)):
            raise ValueError(f"{task.id!r} is not a task this env posed")
        self.posed = task
        return task.prompt, {"task": task}

    def step(self, action):
        verdict = self.verifier.verify(self.posed, action)
        provenance = Provenance(env_id="word", verifier=self.verifier.name, verifier_version="1")
        return "", verdict.reward, True, False, {"task": self.posed, "verdict": verdict, "provenance": provenance}

    def gold_response(self, task: Task) -> str:
        return self.verifier.gold_response(task)

    def close(self):
        self.closed = True


WORD = assay.register("test-mix-word-v0", "tests.envs.test_mixture:WordEnv", override=True)
PLAIN = assay.register("test-mix-plain-v0", "tests.trainer.echo_env:PlainReverseEnv", override=True)
ECHO = assay.register("test-mix-echo-v0", "tests.trainer.echo_env:EchoEnv", override=True)
LEFT_RIGHT = [{"id": WORD, "name": "left"}, {"id": WORD, "name": "right", "kwargs": {"reverse": True}}]


def mix(envs) -> gymnasium.Env:
    return assay.make("assay/mix-v0", envs=envs)


def test_weights_are_followed():
    """3:1 over 400 seeds: the count of the first member is Binomial(400, 0.75), mean 300 and sd
    sqrt(400 * 0.75 * 0.25) = 8.66; equal weights would give about 200."""
    env = mix({"assay/arithmetic-v0": 3, "assay/modchain-v0": 1})
    n, p = 400, 0.75
    first = sum(env.reset(seed=s)[1]["task"].meta[MEMBER_KEY] == "assay/arithmetic-v0" for s in range(n))
    assert abs(first - n * p) <= 4 * math.sqrt(n * p * (1 - p)), first


def test_same_seed_same_member_and_task_whatever_the_global_random_state():
    a, b = mix(LEFT_RIGHT), mix(LEFT_RIGHT)
    first = [a.reset(seed=s)[1]["task"] for s in range(24)]
    np.random.seed(1)
    random.seed(1)
    again = [b.reset(seed=s)[1]["task"] for s in reversed(range(24))][::-1]
    assert first == again
    assert {t.meta[MEMBER_KEY] for t in first} == {"left", "right"}


def test_a_tagged_task_goes_back_to_its_member_in_the_members_own_form():
    drawn = [mix(LEFT_RIGHT).reset(seed=s)[1]["task"] for s in range(12)]
    env = mix(LEFT_RIGHT)
    for task in drawn:
        env.reset(seed=99)
        obs, info = env.reset(options={"task": task})  # WordEnv refuses a task it did not pose
        name = task.meta[MEMBER_KEY]
        member = env.unwrapped.member(name).unwrapped
        assert info["task"] == task and info[MEMBER_KEY] == name and obs == task.prompt
        assert member.posed == member.task_for(task.meta["seed"])
        assert env.step(env.unwrapped.gold_response(task))[1] == 1.0


def test_ids_are_unique_across_members_whose_ids_collide():
    env = mix(LEFT_RIGHT)
    tasks = [env.reset(seed=s)[1]["task"] for s in range(60)]
    native = {(t.meta[MEMBER_KEY], t.id.split(":", 1)[1]) for t in tasks}
    assert len({own for _, own in native}) < len(native), "the two members never shared an id: the test is not live"
    by_id: dict[str, Task] = {}
    for task in tasks:  # the trainer's group id is f"{task.id}#{seed}": one id must name one task
        assert by_id.setdefault(task.id, task) == task


def test_the_verifier_routes_each_task_to_its_members_verifier():
    env = mix(LEFT_RIGHT)
    tasks = [env.reset(seed=s)[1]["task"] for s in range(12)]
    verifier = env.unwrapped.verifier
    golds = [verifier.gold_response(t) for t in tasks]
    assert all(v.passed for v in verifier.verify_batch(tasks, golds))
    swapped = [t.answer if t.meta[MEMBER_KEY] == "right" else t.answer[::-1] for t in tasks]
    assert not any(v.passed for v in verifier.verify_batch(tasks, swapped))
    stray = verifier.verify(Task("x", "Say apple.", "apple"), "apple")
    assert stray.error is not None and not stray.passed


def test_a_plain_gymnasium_member_is_posed_again_by_its_reset_seed():
    env = mix({PLAIN: 1, WORD: 1})
    found = [(s, info) for s in range(20) for _, info in [env.reset(seed=s)] if info[MEMBER_KEY] == PLAIN]
    seed, info = found[0]
    task = info["task"]
    assert task.meta[RESET_SEED] == seed and task.meta[MEMBER_KEY] == PLAIN and task.id == f"{PLAIN}:seed-{seed}"
    env.reset(seed=seed + 1)
    obs, again = mix({PLAIN: 1, WORD: 1}).reset(seed=12345, options={"task": task})  # the trainer passes the reset seed; any seed works
    assert obs == task.prompt and again["task"] == task
    word = obs.split()[-1]
    env.reset(seed=task.meta[RESET_SEED], options={"task": task})
    assert env.step(word[::-1])[1:3] == (1.0, True)


def test_a_multi_turn_member_runs_until_it_ends():
    env = mix({ECHO: 1})
    env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step("hi")
    assert (obs, reward, terminated, truncated, info[MEMBER_KEY]) == ("again", 0.0, False, False, ECHO)
    obs, reward, terminated, truncated, info = env.step("hi")
    assert (reward, terminated) == (1.0, True)
    assert info["provenance"].env_id == "assay/mix-v0"
    with pytest.raises(gymnasium.error.ResetNeeded):
        env.step("hi")


def test_a_played_episode_keeps_the_mixtures_task():
    """The member's step info names its own task; play() must still record the mixture's."""
    env = mix(LEFT_RIGHT)
    trajectory = play(env, lambda obs, info: env.unwrapped.gold_response(info["task"]), seed=3)
    assert trajectory.task_id == trajectory.task.id and MEMBER_KEY in trajectory.task.meta
    assert trajectory.reward == 1.0 and trajectory.provenance.verifier in ("word", "drow")


def test_a_pickled_mixture_finishes_its_episode():
    env = mix(LEFT_RIGHT)
    task = env.reset(seed=4)[1]["task"]
    clone = pickle.loads(pickle.dumps(env))
    assert clone.step(clone.unwrapped.gold_response(task))[1] == 1.0


def test_search_sees_no_verifier_when_a_member_has_none():
    assert mix({PLAIN: 1, WORD: 1}).unwrapped.verifier is None


def test_close_closes_the_members_it_built():
    env = mix(LEFT_RIGHT)
    for s in range(6):
        env.reset(seed=s)
    members = [env.unwrapped.member(name).unwrapped for name in ("left", "right")]
    env.close()
    assert all(m.closed for m in members)


@pytest.mark.parametrize("envs,message", [
    ({}, "got none"),
    ([], "got none"),
    ("assay/arithmetic-v0", "envs must be"),
    ({"assay/arithmetc-v0": 1}, "Did you mean 'assay/arithmetic-v0'"),
    ({"assay/arithmetic-v0": 0}, "must be a number > 0"),
    ({"assay/arithmetic-v0": -1.5}, "must be a number > 0"),
    ({"assay/arithmetic-v0": "heavy"}, "must be a number > 0"),
    ({"assay/arithmetic-v0": True}, "must be a number > 0"),
    ({"assay/arithmetic-v0": float("nan")}, "must be a number > 0"),
    ([{"id": "assay/arithmetic-v0"}, {"id": "arithmetic-v0", "kwargs": {"difficulty": 5}}], "its own 'name'"),
    ({"assay/mix-v0": 1}, "a mixture cannot hold one"),
    ([{"id": "assay/arithmetic-v0", "wieght": 2}], "takes the keys id, weight, kwargs, name"),
    ([{"id": "assay/arithmetic-v0", "kwargs": ["difficulty"]}], "must be a mapping"),
], ids=["empty-map", "empty-list", "a-string", "unknown-id", "zero", "negative", "not-a-number", "bool", "nan",
        "duplicate", "nested", "unknown-key", "kwargs-list"])
def test_a_bad_config_is_refused_in_one_line(envs, message):
    with pytest.raises(AssayError, match=message) as caught:
        mix(envs)
    assert "\n" not in str(caught.value)


def test_the_docs_configs_build_the_mixture_they_describe(tmp_path):
    """docs/environments.md: the run config loads as a GRPOConfig and its env_kwargs make the
    3:1 mixture; the list form's entries parse (members are only checked, not built)."""
    import re
    from pathlib import Path

    import yaml

    from assay.config import load
    from assay.envs.mixture import parse_members
    from assay.trainer.config import GRPOConfig

    doc = (Path(__file__).resolve().parents[2] / "docs" / "environments.md").read_text()
    run_yaml, list_yaml = re.findall(r"```yaml\n(.*?)```", doc.split("## Several environments at once")[1], re.S)[:2]
    (tmp_path / "mix.yaml").write_text(run_yaml)
    cfg = load(GRPOConfig, str(tmp_path / "mix.yaml"), [])
    env = assay.make(cfg.env_id, **cfg.env_kwargs)
    assert [(m.name, m.weight) for m in env.unwrapped.members] == [("assay/arithmetic-v0", 3.0), ("assay/modchain-v0", 1.0)]
    members = parse_members(yaml.safe_load(list_yaml)["env_kwargs"]["envs"])
    assert [m.name for m in members] == ["modchain-easy", "modchain-hard", "assay/code-v0"]


def test_a_mixture_of_task_lists_lists_them_interleaved_by_weight(tmp_path):
    """Held-out evaluation then takes each member's first tasks in proportion to its weight."""
    import json

    from assay.trainer.evaluation import held_out_tasks

    def split(name, n):
        path = tmp_path / f"{name}.jsonl"
        path.write_text("".join(json.dumps({"problem": f"{name} {k}", "answer": str(k)}) + "\n" for k in range(n)))
        return str(path)

    env = assay.make("assay/mix-v0", envs=[{"id": "assay/math-v0", "name": "a", "weight": 2, "kwargs": {"path": split("a", 5)}},
                                           {"id": "assay/math-v0", "name": "b", "kwargs": {"path": split("b", 2)}}])
    listed = env.unwrapped.task_list()
    assert [t.meta[MEMBER_KEY] + t.answer for t in listed] == ["a0", "b0", "a1", "a2", "b1", "a3", "a4"]
    assert [t.id for t in held_out_tasks(env, 3)] == [t.id for t in listed[:3]]
    obs, info = env.reset(options={"task": listed[1]})
    assert obs == "b 0" and info["task"] == listed[1]  # listed tasks are posed as the mixture's own
    assert assay.make("assay/mix-v0").unwrapped.task_list() is None  # endless generators: drawn by seed
