"""Reward-model losses against hand-computed values."""

import math

import pytest
import torch

from assay.trainer.rm_losses import bradley_terry_loss, implicit_prm_loss, step_bce_loss


def test_bradley_terry_is_mean_negative_log_sigmoid_of_the_margin():
    """Differences 2 and -1: (log(1 + e^-2) + log(1 + e^1)) / 2."""
    got = bradley_terry_loss(torch.tensor([3.0, 0.0]), torch.tensor([1.0, 1.0]))
    assert float(got) == pytest.approx((math.log1p(math.exp(-2)) + math.log1p(math.exp(1))) / 2, rel=1e-6)
    with_margin = bradley_terry_loss(torch.tensor([3.0]), torch.tensor([1.0]), margin=2.0)
    assert float(with_margin) == pytest.approx(math.log(2), rel=1e-6)


def test_bradley_terry_gradient_pushes_chosen_up_and_rejected_down():
    c, r = torch.tensor([0.0], requires_grad=True), torch.tensor([0.0], requires_grad=True)
    bradley_terry_loss(c, r).backward()
    assert float(c.grad) == pytest.approx(-0.5) and float(r.grad) == pytest.approx(0.5)


def test_step_bce_takes_soft_labels():
    """logits 0 and ln 3 (p = 0.5, 0.75), labels 0.25 and 1: (ln 2 + -ln 0.75) / 2."""
    got = step_bce_loss(torch.tensor([0.0, math.log(3)]), torch.tensor([0.25, 1.0]))
    assert float(got) == pytest.approx((math.log(2) - math.log(0.75)) / 2, rel=1e-6)


def test_implicit_prm_loss_is_bce_of_beta_times_summed_log_ratio():
    """beta 0.05, log-ratio sums 20 and -20 -> logits 1 and -1; outcomes 1 and 1:
    (log(1 + e^-1) + log(1 + e^1)) / 2."""
    got = implicit_prm_loss(torch.tensor([-5.0, -30.0]), torch.tensor([-25.0, -10.0]), torch.tensor([1.0, 1.0]))
    assert float(got) == pytest.approx((math.log1p(math.exp(-1)) + math.log1p(math.exp(1))) / 2, rel=1e-6)
