import math

import pytest

from assay.search import aggregate


STEPS = [[0.5, 0.9, 0.2], [1.0], [0.3, 0.3]]


@pytest.mark.parametrize("op, expected", [
    ("last", [0.2, 1.0, 0.3]),
    ("min", [0.2, 1.0, 0.3]),
    ("mean", [1.6 / 3, 1.0, 0.3]),
    ("sum", [1.6, 1.0, 0.6]),
    ("prod", [0.09, 1.0, 0.09]),
])
def test_aggregations_match_hand_computed_values(op, expected):
    assert aggregate(STEPS, op) == pytest.approx(expected, abs=1e-6)


def test_softmin_is_the_softmax_of_minus_scores_over_temperature_times_the_scores():
    """PURE: w = softmax(-r / T), value = sum_t w_t r_t (T = 0.1)."""
    r = STEPS[0]
    w = [math.exp(-x / 0.1) for x in r]
    expected = sum(wi * x for wi, x in zip(w, r)) / sum(w)
    got = aggregate(STEPS, "softmin")
    assert got[0] == pytest.approx(expected, abs=1e-5)
    assert got[1] == pytest.approx(1.0) and got[2] == pytest.approx(0.3)
    assert min(r) < got[0] < sum(r) / len(r)


def test_empty_trajectories_and_unknown_ops():
    assert aggregate([[], [0.4]], "min") == pytest.approx([0.0, 0.4])
    assert aggregate([[]], "prod") == [1.0]
    assert aggregate([], "last") == []
    with pytest.raises(ValueError, match="softmin"):
        aggregate(STEPS, "max")
