import pytest

from assay.protocols import Prefix, Step
from assay.verifiers.learned import EnsembleScorer
from tests.search.helpers import TableScorer, task


def prefix(*texts):
    return Prefix(task(), tuple(Step(t) for t in texts))


def test_worst_case_ensemble_takes_the_min_per_step():
    a = TableScorer({"x": 0.9, "xy": 0.2})
    b = TableScorer({"x": 0.4, "xy": 0.6})
    p = prefix("x", "y")
    assert EnsembleScorer((a, b), "min").score([p]) == [[0.4, 0.2]]


def test_uncertainty_weighted_ensemble_is_mean_minus_lambda_variance():
    """UWO = mean_k R_k - lam * var_k R_k with the population variance: for (0.9, 0.4, 0.5),
    mean 0.6, var ((0.3^2) + (0.2^2) + (0.1^2)) / 3 = 0.14/3."""
    members = tuple(TableScorer({"x": v}) for v in (0.9, 0.4, 0.5))
    [[got]] = EnsembleScorer(members, "mean_minus_var", lam=2.0).score([prefix("x")])
    assert got == pytest.approx(0.6 - 2.0 * 0.14 / 3)


def test_ensembles_refuse_bad_settings():
    with pytest.raises(ValueError, match="at least 2"):
        EnsembleScorer((TableScorer({}),))
    with pytest.raises(ValueError, match="mode"):
        EnsembleScorer((TableScorer({}), TableScorer({})), "median")


def test_standardized_member_has_mean_zero_and_std_one_on_the_reference():
    """Reference scores 1 and 3: mean 2, population std 1, so 1 -> -1, 3 -> 1 and 4 -> 2."""
    from assay.verifiers.learned import Standardized

    member = Standardized.fit(TableScorer({"a": 1.0, "b": 3.0, "c": 4.0}), [prefix("a"), prefix("b")])
    assert (member.mean, member.std) == (2.0, 1.0)
    assert member.score([prefix("a"), prefix("b"), prefix("c")]) == [[-1.0], [1.0], [2.0]]


def test_standardized_ensemble_ignores_each_members_offset_and_scale():
    """Two members that rank alike but sit at different offsets and scales (Bradley-Terry scores
    are only defined up to both): the raw min always follows the lower member, the standardized
    min is their common standard score."""
    low = TableScorer({"x": 0.0, "y": 4.0})
    high = TableScorer({"x": 10.0, "y": 11.0})
    reference = [prefix("x"), prefix("y")]
    assert EnsembleScorer((low, high), "min").score(reference) == [[0.0], [4.0]]
    assert EnsembleScorer.standardized((low, high), reference, "min").score(reference) == [[-1.0], [1.0]]


def test_standardizing_refuses_a_reference_the_member_cannot_tell_apart():
    from assay.verifiers.learned import Standardized

    with pytest.raises(ValueError, match="no finite spread"):
        Standardized.fit(TableScorer({"x": 0.5, "y": 0.5}), [prefix("x"), prefix("y")])
    with pytest.raises(ValueError, match="at least 2"):
        Standardized.fit(TableScorer({"x": 0.5}), [prefix("x")])


def test_an_ensemble_of_orms_gives_one_outcome_reward_per_response():
    """``rewards`` reads each response as a single step, as ``ValueHeadORM.rewards`` does, so an
    ensemble of ORMs goes wherever an ORM's rewards are read (pairwise_accuracy, eval)."""
    a = TableScorer({"\\boxed{7}": 0.9, "\\boxed{8}": 0.1})
    b = TableScorer({"\\boxed{7}": 0.7, "\\boxed{8}": 0.3})
    got = EnsembleScorer((a, b), "min").rewards([task(0), task(1)], ["\\boxed{7}", "\\boxed{8}"])
    assert got == [0.7, 0.1]
    assert [steps for _, _, steps in a.seen] == [("\\boxed{7}",), ("\\boxed{8}",)]  # one step per response
