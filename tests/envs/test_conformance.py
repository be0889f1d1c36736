"""One conformance test, run over every registered environment (Gymnasium's practice).

For each id: the reset/step contract, same seed -> same task, pickling, and the gold answer
scores 1.0 (the verifier accepts its own gold). A new env registered anywhere in assay is
picked up here without a new test.
"""

from __future__ import annotations

import pickle

import gymnasium
import pytest

import assay
from assay import Provenance, Task, Verdict

# every registered env but the test doubles other test modules register (tests.trainer.echo_env, ...),
# which break the contract on purpose and, collected first, would otherwise join the list
ENV_IDS = [i for i in assay.list_envs() if not str(assay.spec(i).entry_point).startswith("tests.")]
MAX_EPISODE_STEPS = 20  # a wrong answer repeated, or a gold solution, must end any episode within this many steps


@pytest.fixture(params=ENV_IDS)
def env(request):
    env = assay.make(request.param)
    yield env
    env.close()


def test_registry_is_not_empty():
    assert len(ENV_IDS) >= 3


def test_reset_contract(env):
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs) and obs.strip()
    assert isinstance(info["task"], Task)
    assert isinstance(info["messages"], list) and info["messages"][-1]["role"] == "user"


def test_same_seed_same_task_and_seeds_vary(env):
    first = env.reset(seed=123)[1]["task"]
    again = env.reset(seed=123)[1]["task"]
    assert first == again
    ids = {env.reset(seed=s)[1]["task"].id for s in range(8)}
    assert len(ids) > 1, "eight seeds all gave the same task"


def play_gold(env, task):
    """Step the gold solution; returns the last step's result and the last action.

    Single-turn and retry envs take their gold response in one step. Multi-step envs (web) have a
    scripted oracle instead (``oracle_action()``, BrowserGym's ``cheat()``): it picks each next
    action from the live episode until the episode ends."""
    unwrapped = env.unwrapped
    if not hasattr(unwrapped, "oracle_action"):
        gold = unwrapped.gold_response(task)
        return env.step(gold), gold
    for _ in range(MAX_EPISODE_STEPS):
        action = unwrapped.oracle_action()
        result = env.step(action)
        if result[2] or result[3]:
            return result, action
    pytest.fail(f"{env.spec.id}: the oracle did not end the episode within {MAX_EPISODE_STEPS} steps")


def test_gold_scores_one_and_episode_ends(env):
    _, info = env.reset(seed=1)
    (obs, reward, terminated, truncated, step_info), gold = play_gold(env, info["task"])
    verdict = step_info["verdict"]
    assert isinstance(verdict, Verdict) and verdict.error is None, verdict
    assert reward == 1.0 and verdict.passed
    assert terminated and not truncated and isinstance(obs, str)
    prov = step_info["provenance"]
    assert isinstance(prov, Provenance)
    assert (prov.env_id, prov.seed, prov.verifier) == (env.spec.id, 1, verdict and env.unwrapped.verifier.name)
    assert prov.verifier_version
    with pytest.raises(gymnasium.error.ResetNeeded):
        env.step(gold)


def test_wrong_answer_scores_zero_without_error(env):
    """Single-turn envs end at once; multi-turn ones (retries with feedback) pay 0 on every
    step and end by themselves (terminated or truncated) when the answer never improves."""
    obs, _ = env.reset(seed=2)
    for _ in range(MAX_EPISODE_STEPS):
        obs, reward, terminated, truncated, info = env.step("I refuse to answer.")
        verdict = info.get("verdict")  # tool-using envs judge only when the episode ends
        assert reward == 0.0 and (verdict is None or not verdict.passed)
        if terminated or truncated:
            assert isinstance(verdict, Verdict), "the step that ends an episode carries its Verdict"
            break
        assert env.observation_space.contains(obs) and obs.strip(), "a continuing episode must say what went wrong"
    else:
        pytest.fail(f"{env.spec.id}: a wrong answer repeated {MAX_EPISODE_STEPS} times never ended the episode")


def test_explicit_task_option(env):
    _, info = env.reset(seed=3)
    task = info["task"]
    env.reset(seed=99)
    obs, info2 = env.reset(options={"task": task})
    assert info2["task"] == task
    with pytest.raises(TypeError):
        env.reset(options={"task": "not a task"})


def test_pickles_and_behaves_the_same(env):
    env.reset(seed=5)
    clone = pickle.loads(pickle.dumps(env))
    assert clone.reset(seed=5)[1]["task"] == env.reset(seed=5)[1]["task"]
    task = clone.reset(seed=4)[1]["task"]
    (_, reward, *_), _ = play_gold(clone, task)
    assert reward == 1.0


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_envs_stepped_on_threads_score_as_one_after_another(env_id):
    """The trainer steps a turn's envs on threads (LocalEnvRunner, env_threads): four episodes,
    gold and wrong answers alternating, give the same results on two threads as on one, and the
    golds still pass, so neither an env nor its verifier shares unguarded state across threads."""
    from assay.trainer.rollout import LocalEnvRunner

    def play(threads: int) -> list[tuple]:
        runner = LocalEnvRunner(lambda: assay.make(env_id), threads=threads)
        try:
            resets = runner.reset([(slot, 10 + slot, {}) for slot in range(4)])
            assert not any(isinstance(r, BaseException) for r in resets), resets
            probe = assay.make(env_id).unwrapped  # golds are read here, from a task alone
            actions = [probe.gold_response(info["task"]) if slot % 2 == 0 and not hasattr(probe, "oracle_action")
                       else "I refuse to answer." for slot, (_, info) in enumerate(resets)]
            steps = runner.step(list(enumerate(actions)))
            assert not any(isinstance(s, BaseException) for s in steps), steps
            return [(reward, terminated, info.get("verdict") and info["verdict"].passed,
                     info.get("verdict") and info["verdict"].error) for _, reward, terminated, _, info in steps]
        finally:
            runner.close()

    serial, threaded = play(1), play(2)
    assert threaded == serial
    assert all(error is None for *_, error in threaded)
    if not hasattr(assay.make(env_id).unwrapped, "oracle_action"):
        assert [r[0] for r in threaded[::2]] == [1.0, 1.0]
