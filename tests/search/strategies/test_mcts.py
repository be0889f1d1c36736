import math

import pytest

from assay.protocols import Prefix, Step
from assay.search import MCTS, Budget
from assay.search.strategies.mcts import _Node
from tests.search.helpers import ScriptedPolicy, TableScorer, math_verifier, task

TREE = {"": [("a\n", False), ("b\n", False)],
        "a\n": [("a1 \\boxed{7}", True)],
        "b\n": [("b1 \\boxed{8}", True)]}
SCORES = {"a\n": 0.9, "b\n": 0.2, "a\na1 \\boxed{7}": 0.8, "b\nb1 \\boxed{8}": 0.3}


def nodes(parent_visits, child_visits, child_total, weights=(1.0, 3.0)):
    root = _Node(Prefix(task()), None, 1.0, 0)
    root.visits = parent_visits
    for w in weights:
        child = _Node(root.prefix.extend(Step(f"s{w}")), root, w, 1)
        root.children.append(child)
    child = root.children[1]
    child.visits, child.total, child.best = child_visits, child_total, 0.9
    return root, child


def test_uct_is_q_plus_c_sqrt_log_parent_visits_over_visits():
    root, child = nodes(parent_visits=10, child_visits=4, child_total=2.0)
    strategy = MCTS(c=2.0)
    assert strategy._ucb(root, child) == pytest.approx(0.5 + 2.0 * math.sqrt(math.log(10) / 4))
    assert MCTS(backup="max")._ucb(root, child) == pytest.approx(0.9 + 1.0 * math.sqrt(math.log(10) / 4))


def test_puct_uses_the_normalised_prior_and_alphazero_scale():
    """Q + P sqrt(N) / (1 + n) (c_init + ln((N + c_base + 1) / c_base)); P = 3 / (1 + 3)."""
    root, child = nodes(parent_visits=10, child_visits=4, child_total=2.0)
    scale = 1.25 + math.log((10 + 19652 + 1) / 19652)
    expected = 0.5 + 0.75 * math.sqrt(10) / 5 * scale
    assert MCTS(selection_rule="puct")._ucb(root, child) == pytest.approx(expected)


def test_mcts_explores_the_tree_backs_up_values_and_answers_along_the_best_path():
    policy, scorer = ScriptedPolicy(TREE), TableScorer(SCORES)
    [result] = MCTS(width=2, widen=0).search([task()], policy, scorer, budget=Budget(steps=50),
                                             verifier=math_verifier())
    assert result.stopped == "done"  # every leaf finished: the tree is used up before the budget
    assert result.tree.size() == 5 and result.cost.steps == 6  # 2 samples per expansion, merged when equal
    a, b = result.tree.children
    assert (a.step.text, b.step.text) == ("a\n", "b\n")
    assert a.value == pytest.approx((0.9 + 0.8) / 2)  # its own score, then its expansion's backup
    assert result.tree.visits == 3  # one backup per expansion (root, a, b)
    assert result.answer == "7" and result.passed
    assert policy.calls[0] == ("propose", 1, 2)
    assert len(scorer.seen) == len(set(scorer.seen))


def test_same_text_candidates_merge_into_one_child():
    policy = ScriptedPolicy({"": [("a\n", False)], "a\n": [("\\boxed{7}", True)]})
    [result] = MCTS(width=4, widen=0).search([task()], policy, TableScorer({}), budget=Budget(steps=50))
    assert len(result.tree.children) == 1 and result.tree.children[0].prior == 1.0


def test_widening_samples_a_used_up_node_again():
    policy = ScriptedPolicy({"": [("a\n", False), ("a\n", False), ("b\n", False), ("b\n", False)],
                             "a\n": [("\\boxed{7}", True)], "b\n": [("\\boxed{8}", True)]})
    [result] = MCTS(width=2, widen=1).search([task()], policy, TableScorer({}), budget=Budget(steps=50))
    assert {c.step.text for c in result.tree.children} == {"a\n", "b\n"}  # b only came with the second sampling


def test_mcts_respects_the_budget_and_batches_problems():
    deep = {"": [("x\n", False), ("y\n", False)], "x\n": [("x\n", False)], "y\n": [("y\n", False)]}
    deep.update({"x\n" * d: [("x\n", False)] for d in range(2, 40)})
    deep.update({"y\n" * d: [("y\n", False)] for d in range(2, 40)})
    policy = ScriptedPolicy(deep)
    results = MCTS(width=2).search([task(0), task(1)], policy, TableScorer({}), budget=Budget(steps=9))
    for r in results:
        assert r.cost.steps == 9 and r.stopped == "budget" and r.answer is None
    assert all(n == 2 for kind, n, _ in policy.calls)  # each round: both problems in one call


def test_terminal_value_uses_the_verifier_on_rollouts():
    policy, scorer = ScriptedPolicy(TREE), TableScorer({k: 0.5 for k in SCORES})
    [result] = MCTS(width=2, widen=0, value="terminal").search([task()], policy, scorer, budget=Budget(steps=50),
                                                               verifier=math_verifier())
    a, b = result.tree.children
    assert a.score == 1.0 and b.score == 0.0  # the roll-outs a1 (7, right) and b1 (8, wrong)
    assert result.answer == "7"


def test_bad_parameters():
    for kwargs in ({"selection_rule": "ucb2"}, {"backup": "sum"}, {"value": "oracle"}, {"alpha": 2.0},
                   {"width": 0}, {"selection": "first"}):
        with pytest.raises(ValueError):
            MCTS(**kwargs)
