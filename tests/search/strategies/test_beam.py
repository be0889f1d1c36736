from assay.search import DVTS, BeamSearch, Budget
from tests.search.helpers import ScriptedPolicy, TableScorer, math_verifier, task

TREE = {"": [("a\n", False), ("b\n", False)],
        "a\n": [("a1 \\boxed{7}", True), ("a2 \\boxed{8}", True)],
        "b\n": [("b1 \\boxed{8}", True)]}
SCORES = {"a\n": 0.9, "b\n": 0.1, "a\na1 \\boxed{7}": 0.8, "a\na2 \\boxed{8}": 0.2, "b\nb1 \\boxed{8}": 0.5}


def test_beam_keeps_the_top_n_over_width_and_refills_to_n():
    policy, scorer = ScriptedPolicy(TREE), TableScorer(SCORES)
    [result] = BeamSearch(n=4, beam_width=2).search([task()], policy, scorer, budget=Budget(steps=100),
                                                    verifier=math_verifier())
    # round 1: a, b, a, b -> keep the two a's -> 4 copies of a; round 2: a1, a2, a1, a2 all finish
    finished = [e for e in result.explored if e.done]
    assert sorted(e.text for e in finished) == ["a\na1 \\boxed{7}"] * 2 + ["a\na2 \\boxed{8}"] * 2
    assert result.answer == "7" and result.passed  # weighted: 0.8 * 2 > 0.2 * 2
    assert any(e.text == "b\n" for e in result.explored)  # pruned prefixes are still reported
    assert result.stopped == "done" and result.cost.steps == 8


def test_beam_batches_every_problem_into_one_call_per_round_and_scores_each_prefix_once():
    policy, scorer = ScriptedPolicy(TREE), TableScorer(SCORES)
    results = BeamSearch(n=4, beam_width=2).search([task(i) for i in range(3)], policy, scorer, budget=Budget(steps=100))
    assert policy.calls == [("propose", 12, 1), ("propose", 12, 1)]
    assert scorer.calls == 2
    assert len(scorer.seen) == len(set(scorer.seen)) == 3 * 4  # a, b, a1, a2 per problem
    assert [r.answer for r in results] == ["7"] * 3


def test_beam_stops_cleanly_at_the_step_budget():
    [result] = BeamSearch(n=4, beam_width=2).search([task()], ScriptedPolicy(TREE), TableScorer(SCORES),
                                                    budget=Budget(steps=6))
    assert result.cost.steps == 6 and result.stopped == "budget"  # 4 first steps, then only 2 affordable
    assert len([e for e in result.explored if e.done]) == 2 and result.answer is not None


def test_lookahead_scores_a_prefix_by_its_rollout():
    """With lookahead 1, 'b' is judged by b's continuation (0.5) and 'a' by a1 (0.8) or a2 (0.2)."""
    scores = dict(SCORES, **{"a\n": 0.0, "b\n": 1.0})
    [result] = BeamSearch(n=2, beam_width=2, lookahead=1).search([task()], ScriptedPolicy(TREE), TableScorer(scores),
                                                                 budget=Budget(steps=100))
    # round 1 proposes a and b; a's roll-out is a1 (0.8) > b's 0.5, so a survives despite its own 0.0
    assert result.answer in ("7", "8") and result.explored[result.chosen].text.startswith("a\n")


def test_dvts_runs_independent_subtrees_that_each_follow_their_best_child():
    policy, scorer = ScriptedPolicy(TREE), TableScorer(SCORES)
    [result] = DVTS(n=4, beam_width=2).search([task()], policy, scorer, budget=Budget(steps=100))
    finished = [e.text for e in result.explored if e.done]
    assert finished[:2] == ["a\na1 \\boxed{7}"] * 2  # two subtrees, each a -> a1
    assert policy.calls == [("propose", 2, 2), ("propose", 2, 2)]
    assert result.answer == "7" and result.cost.steps == 8


def test_invalid_parameters_are_refused():
    import pytest

    with pytest.raises(ValueError, match="beam_width"):
        BeamSearch(n=2, beam_width=4)
    with pytest.raises(ValueError, match="aggregation"):
        DVTS(aggregation="max")
    with pytest.raises(ValueError, match="needs a scorer"):
        BeamSearch().search([task()], ScriptedPolicy(TREE), None, budget=Budget(steps=4))
