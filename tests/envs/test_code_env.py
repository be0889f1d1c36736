"""``assay/code-v0``: attempts, feedback as the next observation, and the two reward modes."""

from __future__ import annotations

import json

import gymnasium
import pytest

import assay
from assay import Task
from assay.envs.episode import play
from assay.errors import AssayError

TASK = Task("double", "Read n and print 2n.", answer={"tests": [{"input": "2\n", "output": "4\n"}, {"input": "5\n", "output": "10\n"}]},
            domain="code", meta={"solution": "print(2 * int(input()))"})
WRONG = "```python\nprint(int(input()) + 3)\n```"
RIGHT = "```python\nprint(2 * int(input()))\n```"


@pytest.fixture(scope="module")
def bwrap(request):
    from tests.conftest import missing_dependency, require_binary

    require_binary("bwrap")
    from assay.sandbox.bwrap_backend import BwrapBackend

    reason = BwrapBackend().check()
    if reason is not None:
        missing_dependency(f"bwrap backend unavailable: {reason}")


@pytest.fixture
def make(bwrap):
    envs = []

    def build(**kwargs):
        options = {"test_timeout_s": 1.0, "total_timeout_s": 5.0, "workers": 1}
        envs.append(assay.make("assay/code-v0", verifier_options=options, **kwargs))
        return envs[-1]

    yield build
    for env in envs:
        env.close()


def test_default_is_three_attempts_over_the_shipped_problems(make):
    env = make()
    obs, info = env.reset(seed=0)
    assert "```python" in obs and info["task"].domain == "code"
    assert len(env.unwrapped.source) >= 30
    for attempt in (1, 2, 3):
        _, reward, terminated, truncated, info = env.step("print('no')")
        assert (reward, terminated, truncated) == (0.0, attempt == 3, False) and not info["verdict"].passed


def test_max_turns_one_is_single_turn(make):
    env = make(max_turns=1)
    env.reset(seed=0)
    _, reward, terminated, truncated, info = env.step("print('no')")
    assert (reward, terminated, truncated) == (0.0, True, False) and not info["verdict"].passed


def test_feedback_is_the_next_observation_and_a_retry_can_pass(make):
    env = make(max_turns=3)
    env.reset(options={"task": TASK})
    obs, reward, terminated, truncated, info = env.step(WRONG)
    assert (reward, terminated, truncated) == (0.0, False, False)
    assert "Test 1 of 2 failed" in obs and "Expected:\n4" in obs and "2 attempts left" in obs
    assert info["attempt"] == 1 and info["messages"][-1] == {"role": "user", "content": obs}
    obs, reward, terminated, _, info = env.step(RIGHT)
    assert (obs, reward, terminated, info["attempt"]) == ("", 1.0, True, 2)
    assert [m["role"] for m in info["messages"]] == ["user", "assistant", "user", "assistant"]
    with pytest.raises(gymnasium.error.ResetNeeded):
        env.step(RIGHT)


def test_a_system_prompt_stays_at_the_head_of_the_transcript(make):
    env = make(max_turns=2, system_prompt="You write Python.")
    env.reset(options={"task": TASK})
    env.step(WRONG)
    info = env.step(RIGHT)[4]
    assert [m["role"] for m in info["messages"]] == ["system", "user", "assistant", "user", "assistant"]
    assert info["messages"][0]["content"] == "You write Python."


def test_discounted_reward_pays_less_for_later_attempts(make):
    env = make(max_turns=3, reward_mode="discounted", discount=0.5)
    env.reset(options={"task": TASK})
    env.step(WRONG)
    env.step(WRONG)
    assert env.step(RIGHT)[1] == 0.25
    env.reset(options={"task": TASK})
    assert env.step(RIGHT)[1] == 1.0


def test_running_out_of_attempts_ends_with_zero(make):
    env = make(max_turns=2)
    env.reset(options={"task": TASK})
    assert env.step(WRONG)[2] is False
    _, reward, terminated, _, info = env.step(WRONG)
    assert (reward, terminated, info["attempt"]) == (0.0, True, 2)


def test_a_verdict_that_could_not_judge_ends_the_episode(make):
    env = make(max_turns=3)
    env.reset(options={"task": Task("bad", "p", answer={"tests": []}, domain="code")})
    _, reward, terminated, _, info = env.step(RIGHT)
    assert terminated and reward == 0.0 and info["verdict"].error.startswith("malformed gold")


def test_play_records_the_feedback_turns(make):
    env = make(max_turns=3)
    answers = iter([WRONG, RIGHT])
    traj = play(env, lambda obs, info: next(answers), options={"task": TASK})
    assert [t.role for t in traj.turns] == ["user", "assistant", "environment", "assistant"]
    assert traj.reward == 1.0 and traj.provenance.verifier == "code"


def test_path_loads_dataset_jsonl(make, tmp_path):
    path = tmp_path / "he.jsonl"
    row = {"task_id": "HE/1", "prompt": "def sq(x):\n    \"\"\"Square.\"\"\"\n", "entry_point": "sq",
           "canonical_solution": "    return x * x\n", "test": "def check(candidate):\n    assert candidate(3) == 9\n"}
    path.write_text(json.dumps(row) + "\n")
    env = make(path=str(path))
    _, info = env.reset(seed=0)
    assert info["task"].id == "HE/1"
    assert env.step(env.unwrapped.gold_response(info["task"]))[1] == 1.0


@pytest.mark.parametrize("kwargs", [{"max_turns": 0}, {"reward_mode": "best"}, {"discount": 0}, {"path": "x.jsonl", "source": [TASK]}])
def test_bad_arguments_are_rejected(kwargs):  # before any sandbox starts
    with pytest.raises(AssayError):
        assay.make("assay/code-v0", **kwargs)
