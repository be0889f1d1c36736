"""Process-level transforms on hand-computed values, over ragged segments (an empty one included)."""

import pytest

from assay.verifiers.shaping import clip_rewards, delta_rewards, shape_process, step_returns

# trajectories: [0.9, 0.2, 0.6], [], [0.5]
R = [0.9, 0.2, 0.6, 0.5]
OFF = [0, 3, 3, 4]


def test_clip_is_min_of_reward_minus_eta_and_zero():
    assert clip_rewards(R, eta=0.5).tolist() == pytest.approx([0.0, -0.3, 0.0, 0.0])
    assert clip_rewards(R).tolist() == pytest.approx([0.0, 0.0, 0.0, 0.0])


def test_delta_subtracts_the_next_step_and_drops_the_last():
    assert delta_rewards(R, OFF).tolist() == pytest.approx([0.7, -0.4, 0.0, 0.0])


def test_delta_returns_telescope_to_first_minus_last():
    """sum_{k>=t} (r_k - r_{k+1}) over a segment = r_t - r_last: 0.9 - 0.6, 0.2 - 0.6, 0."""
    got = step_returns(delta_rewards(R, OFF), OFF, "sum")
    assert got.tolist() == pytest.approx([0.3, -0.4, 0.0, 0.0])


def test_sum_and_min_form_returns():
    assert step_returns(R, OFF, "sum").tolist() == pytest.approx([1.7, 0.8, 0.6, 0.5])
    assert step_returns(R, OFF, "min").tolist() == pytest.approx([0.2, 0.2, 0.6, 0.5])


def test_shape_process_composes_transform_then_returns():
    """clip eta 0.5 -> [0, -0.3, 0 | 0]; min-form -> [-0.3, -0.3, 0, 0]; sum -> same here."""
    assert shape_process(R, OFF, "clip", "min", eta=0.5).tolist() == pytest.approx([-0.3, -0.3, 0.0, 0.0])
    assert shape_process(R, OFF, "none", "sum").tolist() == pytest.approx([1.7, 0.8, 0.6, 0.5])
    with pytest.raises(ValueError, match="transform"):
        shape_process(R, OFF, "nope")
    with pytest.raises(ValueError, match="return mode"):
        step_returns(R, OFF, "max")
