"""Each loss term against values computed by hand (the formula is in each test's docstring)."""

from __future__ import annotations

import math

import pytest
import torch
from torch.testing import assert_close

from assay.trainer.losses import (
    aggregate_loss,
    clip_fraction,
    clipped_policy_loss,
    informative_groups,
    kl_penalty,
    overlong_penalty,
    truncated_is_weights,
)

T = torch.tensor


def test_clipped_policy_loss_hand_values():
    """r = exp(logp - old). A=+1: -min(r, clip(r)); A=-1: -min(-r, -clip(r)) = max(r, clip(r)).
    r = [1.5, 0.5, 1.1] with clip_low 0.2, clip_high 0.28:
      A=+1: clip -> [1.28, 0.8, 1.1]; min(r, c) = [1.28, 0.5, 1.1] -> loss [-1.28, -0.5, -1.1]
      A=-1: max(r, c) = [1.5, 0.8, 1.1] -> loss [1.5, 0.8, 1.1]"""
    old = torch.zeros(2, 3)
    logp = torch.log(T([[1.5, 0.5, 1.1], [1.5, 0.5, 1.1]]))
    loss = clipped_policy_loss(logp, old, T([1.0, -1.0]), clip_low=0.2, clip_high=0.28)
    assert_close(loss, T([[-1.28, -0.5, -1.1], [1.5, 0.8, 1.1]]), rtol=1e-6, atol=1e-6)


def test_clipped_policy_loss_gradient_is_zero_when_clipped():
    logp = torch.log(T([[1.5, 1.1]])).requires_grad_()
    clipped_policy_loss(logp, torch.zeros(1, 2), T([1.0]), 0.2, 0.2).sum().backward()
    # ratio 1.5 > 1.2 with A>0: clipped, no gradient; ratio 1.1 inside: d(-r)/dlogp = -r = -1.1
    assert_close(logp.grad, T([[0.0, -1.1]]), rtol=1e-6, atol=1e-6)


def test_clip_fraction():
    logp = torch.log(T([[1.5, 1.0, 0.7, 1.0]]))
    assert clip_fraction(logp, torch.zeros(1, 4), T([[1, 1, 1, 0]]), 0.2, 0.28).item() == pytest.approx(2 / 3)


def test_kl_estimators_hand_values():
    """log_ratio = ref - logp = ln 2 - 0 = 0.6931: k1 = -0.6931, k2 = 0.2402, k3 = 2 - 1 - 0.6931 = 0.3069."""
    logp, ref = T([0.0]), T([math.log(2.0)])
    assert kl_penalty(logp, ref, "k1").item() == pytest.approx(-math.log(2))
    assert kl_penalty(logp, ref, "k2").item() == pytest.approx(0.5 * math.log(2) ** 2)
    assert kl_penalty(logp, ref, "k3").item() == pytest.approx(1 - math.log(2))
    assert kl_penalty(ref, ref, "k3").item() == 0.0
    with pytest.raises(ValueError, match="k1"):
        kl_penalty(logp, ref, "k4")


def test_k3_is_nonnegative_and_unbiased_for_kl():
    """E_{x~p}[k3] = KL(p || q) for categorical p, q (Monte Carlo over the exact distribution)."""
    p = T([0.5, 0.3, 0.2], dtype=torch.float64)
    q = T([0.2, 0.5, 0.3], dtype=torch.float64)
    k3 = kl_penalty(p.log(), q.log(), "k3")
    assert (k3 >= 0).all()
    assert (p * k3).sum().item() == pytest.approx((p * (p / q).log()).sum().item(), rel=1e-12)


def test_truncated_is_weights():
    """min(exp(old - sampler), cap): exp(0.5)=1.6487, exp(2)=7.39 -> capped to 2, exp(-1)=0.3679."""
    w = truncated_is_weights(T([0.5, 2.0, -1.0]), torch.zeros(3), cap=2.0)
    assert_close(w, T([math.exp(0.5), 2.0, math.exp(-1.0)]))
    assert not w.requires_grad


@pytest.mark.parametrize("mode,expected", [
    # l = [[1, 2, 3], [4, 5, 6]], m = [[1, 1, 0], [1, 0, 0]]: masked sums 3 and 4, counts 2 and 1
    ("token-mean", (1 + 2 + 4) / 3),
    ("seq-mean-token-mean", ((1 + 2) / 2 + 4 / 1) / 2),
    ("seq-mean-token-sum", (3 + 4) / 2),
    ("seq-mean-token-sum-norm", (3 + 4) / (2 * 4)),  # max_tokens = 4
])
def test_aggregate_modes_hand_values(mode, expected):
    loss = T([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    mask = T([[1, 1, 0], [1, 0, 0]])
    assert aggregate_loss(loss, mask, mode, max_tokens=4).item() == pytest.approx(expected)


@pytest.mark.parametrize("mode", ["token-mean", "seq-mean-token-mean", "seq-mean-token-sum", "seq-mean-token-sum-norm"])
def test_micro_batches_with_global_counts_sum_to_the_full_batch_loss(mode):
    """Invariant behind gradient accumulation: Σ over micro-batches (with global counts) = full loss."""
    g = torch.Generator().manual_seed(0)
    loss = torch.randn(8, 5, generator=g)
    mask = (torch.rand(8, 5, generator=g) > 0.3).float()
    full = aggregate_loss(loss, mask, mode, max_tokens=5)
    parts = sum(aggregate_loss(loss[i:i + 2], mask[i:i + 2], mode, num_tokens=mask.sum().item(), num_seqs=8, max_tokens=5)
                for i in range(0, 8, 2))
    assert_close(parts, full)


def test_aggregate_rejects_unknown_mode_and_missing_norm():
    with pytest.raises(ValueError, match="token-mean"):
        aggregate_loss(torch.ones(1, 1), torch.ones(1, 1), "mean")
    with pytest.raises(ValueError, match="max_tokens"):
        aggregate_loss(torch.ones(1, 1), torch.ones(1, 1), "seq-mean-token-sum-norm")


def test_overlong_penalty_hand_values():
    """L_max = 20, L_buf = 4: |y| ≤ 16 -> 0; 18 -> (16-18)/4 = -0.5; 20 -> -1; 25 -> -1."""
    assert_close(overlong_penalty(T([10, 16, 18, 20, 25]), 20, 4), T([0.0, 0.0, -0.5, -1.0, -1.0]))
    with pytest.raises(ValueError):
        overlong_penalty(T([1]), 20, 0)


def test_informative_groups():
    rewards = T([1.0, 1.0, 0.0, 1.0, 0.5, 0.5, 2.0])
    groups = T([7, 7, 3, 3, 9, 9, 4])  # unsorted ids; group 4 is a singleton
    assert informative_groups(rewards, groups).tolist() == [False, False, True, True, False, False, False]


def test_lr_schedules_on_hand_values():
    from assay.trainer.schedule import lr_at

    assert lr_at(1, 1.0, 10, "constant") == 1.0
    assert lr_at(2, 1.0, 10, "constant", warmup_steps=4) == 0.5  # warm-up: 2/4
    assert lr_at(10, 1.0, 10, "linear") == 0.0
    assert lr_at(5, 1.0, 10, "linear") == 0.5
    assert abs(lr_at(5, 1.0, 10, "cosine") - 0.5) < 1e-12  # half way: cos(pi/2) = 0
    assert abs(lr_at(10, 2.0, 10, "cosine", min_lr_ratio=0.1) - 0.2) < 1e-12
    assert lr_at(6, 1.0, 10, "linear", warmup_steps=2) == 0.5  # (6-2)/(10-2) of the decay done
    assert lr_at(50, 1.0, 10, "linear") == 0.0  # past the end: stays at the floor
    # wsd: the peak until 80% of the post-warm-up steps, then linear to the floor
    assert lr_at(8, 1.0, 10, "wsd") == 1.0
    assert abs(lr_at(9, 1.0, 10, "wsd") - 0.5) < 1e-12  # half of the last 2 steps' decay
    assert abs(lr_at(10, 2.0, 10, "wsd", min_lr_ratio=0.1) - 0.2) < 1e-12
    assert lr_at(42, 1.0, 52, "wsd", warmup_steps=2) == 1.0  # (42-2)/50 = 0.8: decay starts here
    assert abs(lr_at(47, 1.0, 52, "wsd", warmup_steps=2) - 0.5) < 1e-12
    with pytest.raises(ValueError, match="schedule"):
        lr_at(1, 1.0, 10, "step")
