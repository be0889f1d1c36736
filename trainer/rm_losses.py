"""Reward-model losses, each a small pure function (tests/trainer/test_rm_losses.py checks them on
hand-computed values)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def bradley_terry_loss(chosen: torch.Tensor, rejected: torch.Tensor, margin: float = 0.0) -> torch.Tensor:
    """Pairwise ORM loss: ``mean(-log sigmoid(r_chosen - r_rejected - margin))`` over ``(B,)``
    scores (Bradley-Terry; ``margin`` as in Llama 2's RM, 0 for the plain form)."""
    return -F.logsigmoid(chosen - rejected - margin).mean()


def step_bce_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """PRM loss: binary cross-entropy of ``sigmoid(logit)`` against each step's label, hard (0/1)
    or soft (Monte-Carlo estimates in [0, 1]), averaged over all steps of the batch ``(N,)``."""
    return F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))


def implicit_prm_loss(logp_sum: torch.Tensor, ref_logp_sum: torch.Tensor, outcome: torch.Tensor,
                      beta: float = 0.05) -> torch.Tensor:
    """PRIME's implicit PRM objective: ``BCE(sigmoid(beta * sum_t (log pi(y_t) - log pi_ref(y_t))),
    outcome)``, averaged over ``(B,)`` responses; ``beta`` 0.05 in the paper."""
    return F.binary_cross_entropy_with_logits(beta * (logp_sum - ref_logp_sum), outcome.to(logp_sum.dtype))
