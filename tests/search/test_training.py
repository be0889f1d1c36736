import json

import numpy as np
import pytest

from assay.envs.procedural import modchain
from assay.protocols import Prefix
from assay.search import MCTS, BeamSearch, Budget
from assay.search.toy import ToyChainPolicy, read_state
from assay.search.training import mc_step_labels, rest_value_targets, to_trajectories, tree_step_labels
from assay.types import Trajectory
from tests.search.helpers import ScriptedPolicy, TableScorer, math_verifier, task
from tests.search.strategies.test_beam import SCORES, TREE


def test_search_results_become_exact_trajectories_with_step_boundaries():
    [result] = BeamSearch(n=2, beam_width=2).search([task()], ScriptedPolicy(TREE), TableScorer(SCORES),
                                                    budget=Budget(steps=100))
    trajectories = to_trajectories(result, math_verifier(), prompt_ids=(5, 6))
    assert len(trajectories) == sum(e.done for e in result.explored) == 2
    for traj, e in zip(trajectories, [e for e in result.explored if e.done]):
        ids = [i for s in e.steps for i in s.token_ids]
        assert traj.token_ids == tuple(ids) and traj.loss_mask == (1,) * len(ids)
        assert traj.logprobs == (-0.5,) * len(ids)
        assert traj.step_boundaries == (len(e.steps[0].token_ids), len(ids))
        assert traj.step_rewards == e.step_scores and traj.prompt_ids == (5, 6)
        assert traj.reward == (1.0 if e.answer == "7" else 0.0) and traj.verdict is not None
        assert Trajectory.from_dict(json.loads(json.dumps(traj.to_dict()))) == traj  # lossless through JSON


def test_without_a_verifier_rewards_wait_for_a_rescore():
    [result] = BeamSearch(n=2, beam_width=2).search([task()], ScriptedPolicy(TREE), TableScorer(SCORES),
                                                    budget=Budget(steps=100))
    assert all(t.reward == 0.0 and t.verdict is None for t in to_trajectories(result))


def test_monte_carlo_labels_estimate_the_chance_a_prefix_still_solves():
    rng = np.random.default_rng(0)
    tasks = [modchain.generate(rng, 1) for _ in range(30)]
    policy = ToyChainPolicy(step_accuracy=0.6, trap_accuracy=None, seed=0)
    written = policy.complete([Prefix(t) for t in tasks])
    labels = mc_step_labels(list(zip(tasks, written)), ToyChainPolicy(step_accuracy=0.95, trap_accuracy=None, seed=1),
                            math_verifier(), rollouts=8)
    on, off = [], []
    for t, steps, lab in zip(tasks, written, labels):
        assert lab.steps == tuple(steps) and len(lab.labels) == len(steps) and lab.source == "monte_carlo"
        for j, value in enumerate(lab.labels):
            (on if read_state(Prefix(t, tuple(steps[:j + 1]))).on_path else off).append(value)
    assert np.mean(on) > 0.8 and np.mean(off) < 0.2
    hard = mc_step_labels(list(zip(tasks[:5], written[:5])), policy, math_verifier(), rollouts=4, hard=True)
    assert all(v in (0.0, 1.0) for lab in hard for v in lab.labels)


def test_rest_mcts_value_targets_match_hand_computed_values():
    """V_k = max(0, V_{k-1} + (1 - V_{k-1}) r_k / m_k), m_k = steps left counting k."""
    assert rest_value_targets([1, 1, 1]) == pytest.approx([1 / 3, 2 / 3, 1.0])
    assert rest_value_targets([1, 1, -1]) == pytest.approx([1 / 3, 2 / 3, 1 / 3])
    assert rest_value_targets([-1, 1]) == pytest.approx([0.0, 1.0])
    assert rest_value_targets([1, 1], distances=[4, 4]) == pytest.approx([0.25, 0.25 + 0.75 / 4])
    with pytest.raises(ValueError):
        rest_value_targets([2.0])


def test_tree_labels_mark_steps_that_lead_to_a_verified_solution():
    from tests.search.strategies.test_mcts import SCORES as MCTS_SCORES, TREE as MCTS_TREE

    [result] = MCTS(width=2, widen=0).search([task()], ScriptedPolicy(MCTS_TREE), TableScorer(MCTS_SCORES),
                                             budget=Budget(steps=50))
    labels = {lab.texts: lab.labels for lab in tree_step_labels(result, math_verifier())}
    assert labels == {("a\n", "a1 \\boxed{7}"): (1.0, 1.0), ("b\n", "b1 \\boxed{8}"): (0.0, 0.0)}
    rest = {lab.texts: lab.labels for lab in tree_step_labels(result, math_verifier(), rest=True)}
    assert rest[("a\n", "a1 \\boxed{7}")] == pytest.approx((0.5, 1.0))
    assert rest[("b\n", "b1 \\boxed{8}")] == (0.0, 0.0)
    with pytest.raises(ValueError, match="MCTS"):
        tree_step_labels(BeamSearch(n=2, beam_width=2).search([task()], ScriptedPolicy(TREE), TableScorer(SCORES),
                                                              budget=Budget(steps=9))[0], math_verifier())
