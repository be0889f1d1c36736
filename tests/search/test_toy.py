import numpy as np
import pytest

from assay.envs.procedural import modchain
from assay.protocols import Prefix
from assay.search.toy import NoisyPRM, ToyChainPolicy, read_state, toy_answer, trap_step


@pytest.fixture(scope="module")
def tasks():
    rng = np.random.default_rng(0)
    return [modchain.generate(rng, 2) for _ in range(300)]


def test_step_accuracy_is_the_parameter_and_the_trap_step_is_harder(tasks):
    policy = ToyChainPolicy(step_accuracy=0.7, trap_accuracy=0.2, seed=1)
    right = {"plain": [], "trap": []}
    for t in tasks:
        gold = modchain.step_values(t)
        first = policy.propose([Prefix(t)], 20)[0]
        for step in first:
            value = int(step.text.split(":")[1].split()[0])
            right["trap" if trap_step(t) == 1 else "plain"].append(value == gold[0])
    assert np.mean(right["plain"]) == pytest.approx(0.7, abs=0.03)
    assert np.mean(right["trap"]) == pytest.approx(0.2, abs=0.05)


def test_a_trap_always_gives_the_same_wrong_value(tasks):
    policy = ToyChainPolicy(step_accuracy=1.0, trap_accuracy=0.0, seed=0)
    for t in tasks[:20]:
        answers = {toy_answer(t, "".join(s.text for s in c)) for c in policy.complete([Prefix(t)] * 10)}
        assert len(answers) == 1 and answers != {t.answer}


def test_a_perfect_policy_solves_and_writes_the_modchain_format(tasks):
    policy = ToyChainPolicy(step_accuracy=1.0, trap_accuracy=None, seed=0)
    for t, steps in zip(tasks[:20], policy.complete([Prefix(t) for t in tasks[:20]])):
        text = "".join(s.text for s in steps)
        assert all(modchain.check_steps(t, text)) and toy_answer(t, text) == t.answer
        assert steps[-1].terminal and not any(s.terminal for s in steps[:-1])
        assert read_state(Prefix(t, steps)).on_path


def test_repeats_use_up_the_step_cap_and_end_without_the_answer(tasks):
    policy = ToyChainPolicy(step_accuracy=1.0, trap_accuracy=None, repeat_rate=0.9, slack=1, seed=0)
    outcomes = [toy_answer(t, "".join(s.text for s in c)) == t.answer
                for t, c in zip(tasks, policy.complete([Prefix(t) for t in tasks]))]
    assert np.mean(outcomes) < 0.1
    lengths = [len(c) for c in policy.complete([Prefix(tasks[0])] * 20)]
    assert max(lengths) <= len(tasks[0].meta["ops"]) + 1


def test_the_prm_separates_on_path_steps_and_is_deterministic(tasks):
    policy, prm = ToyChainPolicy(step_accuracy=0.5, trap_accuracy=None, seed=3), NoisyPRM(separation=3.0, noise=0.5)
    good, bad = [], []
    for t in tasks[:100]:
        for steps in policy.complete([Prefix(t)] * 4):
            prefix = Prefix(t, steps)
            scores = prm.score([prefix])[0]
            assert scores == prm.score([prefix])[0]
            for j, s in enumerate(scores):
                (good if read_state(Prefix(t, steps[:j + 1])).on_path else bad).append(s)
    assert np.mean(good) > 0.75 and np.mean(bad) < 0.25


def test_a_biased_prm_over_rewards_repeats(tasks):
    policy = ToyChainPolicy(step_accuracy=1.0, trap_accuracy=None, repeat_rate=0.5, seed=0)
    fair, biased = NoisyPRM(noise=0.0), NoisyPRM(noise=0.0, repeat_bias=3.0)
    for t in tasks[:30]:
        steps = policy.complete([Prefix(t)])[0]
        for j in range(1, len(steps)):
            if steps[j].text == steps[j - 1].text:
                p = Prefix(t, steps[:j + 1])
                assert biased.score([p])[0][j] > fair.score([p])[0][j]


def test_the_toy_refuses_other_tasks():
    from assay.types import Task

    with pytest.raises(ValueError, match="modchain"):
        ToyChainPolicy().propose([Prefix(Task(id="x", prompt="1+1", meta={"generator": "arithmetic"}))], 1)
