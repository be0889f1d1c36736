import pytest

from assay.search import BestOfN, Budget, MajorityVote
from tests.search.helpers import ScriptedPolicy, TableScorer, math_verifier, task

SOLUTIONS = {"": [("x \\boxed{7}", True), ("y \\boxed{8}", True), ("z \\boxed{8}", True)]}
SCORES = {"x \\boxed{7}": 0.6, "y \\boxed{8}": 0.4, "z \\boxed{8}": 0.4}


def run(strategy, scorer=None, tasks=None, budget=Budget(steps=100)):
    policy = ScriptedPolicy(SOLUTIONS)
    return strategy.search(tasks or [task()], policy, scorer, budget=budget, verifier=math_verifier()), policy


def test_weighted_best_of_n_sums_scores_per_answer():
    """argmax_a sum_{i: ans_i = a} s_i: 8 gets 0.4 + 0.4 = 0.8 > 0.6."""
    [result], _ = run(BestOfN(n=3), TableScorer(SCORES))
    assert result.answer == "8" and result.verdict is not None and not result.passed  # the verdict judges the pick


def test_plain_best_of_n_takes_the_single_best():
    [result], _ = run(BestOfN(n=3, selection="best"), TableScorer(SCORES))
    assert result.answer == "7" and result.passed and result.response == "x \\boxed{7}"
    assert result.explored[result.chosen].score == pytest.approx(0.6)  # fp32 through the kernel


def test_majority_vote_counts_answers_and_needs_no_scorer():
    [result], _ = run(MajorityVote(n=3))
    assert result.answer == "8" and all(e.score is None for e in result.explored)


def test_min_aggregation_changes_the_pick():
    scores = {"x ": 0.9, "x \\boxed{7}": 0.6, "y ": 0.1, "y \\boxed{8}": 0.7, "z ": 0.1, "z \\boxed{8}": 0.7}
    policy = ScriptedPolicy({"": [("x ", False), ("y ", False), ("z ", False)],
                             "x ": [("\\boxed{7}", True)], "y ": [("\\boxed{8}", True)], "z ": [("\\boxed{8}", True)]})
    last = BestOfN(n=3).search([task()], policy, TableScorer(scores), budget=Budget(steps=100))[0]
    assert last.answer == "8"  # last: 0.7 + 0.7 > 0.6
    policy = ScriptedPolicy(policy.script)
    worst = BestOfN(n=3, aggregation="min").search([task()], policy, TableScorer(scores), budget=Budget(steps=100))[0]
    assert worst.answer == "7"  # min: 0.6 > 0.1 + 0.1


def test_all_problems_share_one_policy_call_and_one_scorer_call():
    scorer = TableScorer(SCORES)
    results, policy = run(BestOfN(n=3), scorer, tasks=[task(i) for i in range(5)])
    assert policy.calls == [("complete", 15, None)]
    assert scorer.calls == 1 and len(results) == 5
    assert all(r.cost.steps == 3 and r.cost.scorer_calls == 3 for r in results)


def test_an_exhausted_budget_samples_nothing():
    [result], policy = run(BestOfN(n=3), TableScorer(SCORES), budget=Budget(steps=3))
    assert result.cost.steps == 3 and result.stopped == "budget"
