"""Outcome-level transforms on hand-computed values."""

import pytest
import torch

from assay.verifiers.shaping import PPOCState, format_gate, hybrid, length_penalty, posterior_gate, ppo_c_calibrate


def test_format_gate_replaces_malformed_rewards():
    got = format_gate([0.9, 0.4, 1.0], [True, False, True], fail_reward=-1.0)
    assert got.tolist() == pytest.approx([0.9, -1.0, 1.0])


def test_length_penalty_charges_tokens_past_the_free_allowance():
    """coef 0.01, free 10: lengths 5, 10, 30 pay 0, 0, 0.2."""
    got = length_penalty([1.0, 1.0, 1.0], [5, 10, 30], coef=0.01, free_tokens=10)
    assert got.tolist() == pytest.approx([1.0, 1.0, 0.8])


def test_length_penalty_with_passed_spares_wrong_answers():
    got = length_penalty([1.0, 0.0], [30, 30], coef=0.01, passed=[True, False])
    assert got.tolist() == pytest.approx([0.7, 0.0])
    with pytest.raises(ValueError, match=">= 0"):
        length_penalty([1.0], [3], coef=-1.0)


def test_posterior_gate_adds_process_reward_only_when_the_outcome_passed():
    """R = R_format + R_outcome + 1[pass] R_process: (0.5 + 1 + 0.7, 0.5 + 0 + 0)."""
    got = posterior_gate(outcome=[1.0, 0.0], process=[0.7, 0.9], passed=[True, False], format_reward=[0.5, 0.5])
    assert got.tolist() == pytest.approx([2.2, 0.5])


def test_ppo_c_updates_the_running_mean_then_adjusts_by_confidence():
    """r = (12 -> clamped 10, 0); r_bar = 0.1 * 5 + 0.9 * 1 = 1.4;
    r_hat = 10 + 0.5 * 8.6 * (0.9 - 0.5) = 11.72, 0 + 0.5 * (-1.4) * (0.8 - 0.5) = -0.21."""
    got, state = ppo_c_calibrate([12.0, 0.0], [0.9, 0.8], PPOCState(1.0))
    assert state.mean == pytest.approx(1.4)
    assert got.tolist() == pytest.approx([11.72, -0.21])
    # a confidence of exactly 0.5 leaves the (clamped) reward alone
    same, _ = ppo_c_calibrate([3.0, -20.0], [0.5, 0.5])
    assert same.tolist() == pytest.approx([3.0, -10.0])
    with pytest.raises(ValueError, match="confidence"):
        ppo_c_calibrate([1.0], [1.5])


def test_hybrid_weights_verifiable_and_learned():
    assert hybrid([1.0, 0.0], [0.2, 0.8], 1.0, 0.5).tolist() == pytest.approx([1.1, 0.4])
    assert hybrid(torch.tensor([1.0]), torch.tensor([2.0])).tolist() == [3.0]


@pytest.mark.parametrize("text,expected", [
    ("The answer is 4. Confidence: 0.8", 0.8),
    ("confidence = 80%", 0.8),
    ("Confidence is 8/10", 0.8),
    ("confidence level: 0.65", 0.65),
    ("CONFIDENCE:1", 1.0),
    ("Confidence: 0.2. On reflection, Confidence: 0.9", 0.9),  # the last statement counts
    ("confidence: 7", None),  # a bare number above 1: which scale?
    ("Confidence: 1.5", None),
    ("confidence 3/0", None),
    ("Confidence: 0.7, no wait, confidence: 7", None),  # the last one is unreadable: none, not the earlier one
    ("no statement at all", None),
])
def test_parse_confidence_reads_the_last_statement_in_zero_one(text, expected):
    from assay.verifiers.shaping import parse_confidence

    got = parse_confidence(text)
    assert got == (pytest.approx(expected) if expected is not None else None)
