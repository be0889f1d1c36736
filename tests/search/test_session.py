import pytest

from assay.protocols import Prefix
from assay.search import BestOfN, Budget
from assay.search.build import make_strategy
from assay.search.session import Session
from tests.search.helpers import ScriptedPolicy, TableScorer, task

SCRIPT = {"": [("a\n", False)], "a\n": [("\\boxed{7}", True)]}


def test_scores_are_cached_by_prefix_and_charged_once():
    scorer = TableScorer({"a\n": 0.3})
    session = Session([task(0), task(1)], ScriptedPolicy(SCRIPT), scorer, Budget(steps=10))
    p0 = Prefix(task(0)).extend(*ScriptedPolicy(SCRIPT).propose([Prefix(task(0))], 1)[0])
    p1 = Prefix(task(1), p0.steps)
    assert session.score([(0, p0), (1, p1), (0, p0)]) == [[0.3]] * 3
    assert session.score([(0, p0)]) == [[0.3]]
    assert scorer.calls == 1 and len(scorer.seen) == 2  # same steps, different tasks: two prefixes
    assert session.meters[0].scorer_calls == 1 and session.meters[1].scorer_calls == 1


def test_a_scorer_that_answers_the_wrong_shape_is_caught():
    class Short:
        def score(self, prefixes):
            return [[] for _ in prefixes]

    session = Session([task()], ScriptedPolicy(SCRIPT), Short(), Budget(steps=10))
    p = Prefix(task()).extend(*ScriptedPolicy(SCRIPT).propose([Prefix(task())], 1)[0])
    with pytest.raises(RuntimeError, match="step scores"):
        session.score([(0, p)])


def test_search_checks_its_arguments():
    with pytest.raises(TypeError, match="list of tasks"):
        BestOfN(n=2).search(task(), ScriptedPolicy(SCRIPT), TableScorer({}), budget=Budget(steps=4))
    with pytest.raises(TypeError, match="Budget"):
        BestOfN(n=2).search([task()], ScriptedPolicy(SCRIPT), TableScorer({}), budget=4)
    with pytest.raises(ValueError, match="needs a verifier"):
        BestOfN(n=2).search([task()], ScriptedPolicy(SCRIPT), TableScorer({}), budget=Budget(steps=4),
                            equivalence="verifier")


def test_strategies_are_built_by_name_with_typed_options():
    beam = make_strategy("beam", {"n": "8", "beam-width": "2", "aggregation": "min"})
    assert (beam.n, beam.beam_width, beam.aggregation) == (8, 2, "min")
    assert make_strategy("mcts", {"c": "0.5", "selection_rule": "puct"}).c == 0.5
    with pytest.raises(ValueError, match="no option 'width'"):
        make_strategy("beam", {"width": "3"})
    with pytest.raises(ValueError, match="unknown strategy"):
        make_strategy("greedy")
    with pytest.raises(ValueError, match="expected int"):
        make_strategy("best_of_n", {"n": "many"})


def test_on_spend_hears_every_charge_with_each_problems_share_of_its_budget():
    heard: list[list[float]] = []
    BestOfN(n=2).search([task(0), task(1)], ScriptedPolicy(SCRIPT), TableScorer({"a\n": 0.3, "a\n\\boxed{7}": 0.9}),
                        budget=Budget(steps=8, scorer_calls=1), on_spend=lambda meters: heard.append([m.used() for m in meters]))
    # one policy call (2 solutions x 2 steps = 4 of 8 steps each), then one scorer call (the two solutions
    # are one prefix, scored once: 1 of 1 scorer calls, full)
    assert heard == [[0.5, 0.5], [1.0, 1.0]]
