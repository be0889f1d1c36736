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
