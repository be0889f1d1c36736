"""The GRPO family's loss terms, each a small pure function over per-token tensors.

Shapes: ``(B, T)`` per-token tensors for B sequences of T (padded) response tokens, ``mask`` is 1
on tokens the policy generated (0 on padding and on environment-written tokens).

Sources (see ../shared/REFERENCES.md): PPO/GRPO clipped surrogate (Schulman et al. 2017; Shao et
al. 2024), asymmetric "clip-higher" and token-mean aggregation, dynamic sampling and the overlong
penalty (DAPO, Yu et al. 2025), Dr.GRPO's constant normaliser (Liu et al. 2025), KL estimators k1,
k2, k3 (Schulman, "Approximating KL divergence", 2020), truncated importance sampling for the
sampler/trainer mismatch (Yao et al. 2025, "Your efficient RL framework secretly brings you
off-policy RL training").
"""

from __future__ import annotations

import torch

LOSS_AGG_MODES = ("token-mean", "seq-mean-token-mean", "seq-mean-token-sum", "seq-mean-token-sum-norm")
KL_ESTIMATORS = ("k1", "k2", "k3")


def clipped_policy_loss(logp: torch.Tensor, old_logp: torch.Tensor, advantages: torch.Tensor,
                        clip_low: float = 0.2, clip_high: float = 0.2) -> torch.Tensor:
    """Per-token ``-min(r·A, clip(r, 1-clip_low, 1+clip_high)·A)`` with ``r = exp(logp - old_logp)``.

    ``advantages`` is ``(B,)`` (broadcast over tokens) or ``(B, T)``. DAPO's clip-higher is
    ``clip_high > clip_low`` (0.28 vs 0.2 in the paper).
    """
    if advantages.dim() == 1:
        advantages = advantages[:, None]
    ratio = torch.exp(logp - old_logp)
    clipped = torch.clamp(ratio, 1.0 - clip_low, 1.0 + clip_high)
    return -torch.minimum(ratio * advantages, clipped * advantages)


def clip_fraction(logp: torch.Tensor, old_logp: torch.Tensor, mask: torch.Tensor,
                  clip_low: float = 0.2, clip_high: float = 0.2) -> torch.Tensor:
    """Share of generated tokens whose ratio lies outside the clip range (a health metric)."""
    ratio = torch.exp(logp - old_logp)
    outside = ((ratio < 1.0 - clip_low) | (ratio > 1.0 + clip_high)).float()
    return (outside * mask).sum() / mask.sum().clamp_min(1)


def kl_penalty(logp: torch.Tensor, ref_logp: torch.Tensor, estimator: str = "k3") -> torch.Tensor:
    """Per-token estimate of KL(π ‖ π_ref) from samples of π, with ``log_ratio = ref_logp - logp``:
    k1 = -log_ratio; k2 = ½·log_ratio²; k3 = exp(log_ratio) - 1 - log_ratio (unbiased, ≥ 0)."""
    log_ratio = ref_logp - logp
    if estimator == "k1":
        return -log_ratio
    if estimator == "k2":
        return 0.5 * log_ratio**2
    if estimator == "k3":
        return torch.exp(log_ratio) - 1.0 - log_ratio
    raise ValueError(f"kl estimator must be one of {KL_ESTIMATORS}, got {estimator!r}")


def truncated_is_weights(old_logp: torch.Tensor, sampler_logp: torch.Tensor, cap: float = 2.0) -> torch.Tensor:
    """``min(π_train / π_sampler, cap)`` per token, without gradient.

    The sampler (vLLM, a server, another dtype) and the trainer compute slightly different
    probabilities for the same tokens; weighting the loss by this truncated ratio corrects the
    bias while the cap bounds the variance.
    """
    return torch.exp(old_logp - sampler_logp).clamp(max=cap).detach()


def aggregate_loss(per_token: torch.Tensor, mask: torch.Tensor, mode: str = "token-mean", *,
                   num_tokens: float | None = None, num_seqs: float | None = None,
                   max_tokens: int | None = None) -> torch.Tensor:
    """Reduce ``(B, T)`` per-token losses to a scalar.

    - ``token-mean``: Σ l·m / N_tokens (DAPO).
    - ``seq-mean-token-mean``: mean over sequences of each sequence's token mean (GRPO paper).
    - ``seq-mean-token-sum``: mean over sequences of each sequence's token sum.
    - ``seq-mean-token-sum-norm``: Σ l·m / (N_seqs · max_tokens) (Dr.GRPO: a constant
      normaliser, so long and short answers are not weighted differently).

    ``num_tokens`` / ``num_seqs`` are the *global* batch's counts when this is one micro-batch (or
    one rank) of a larger batch: then summing the micro-batch losses gives exactly the loss of the
    whole batch, so gradient accumulation and data parallelism do not change the update.
    """
    mask = mask.to(per_token.dtype)
    masked = per_token * mask
    n_seqs = float(per_token.shape[0]) if num_seqs is None else float(num_seqs)
    if mode == "token-mean":
        n_tok = mask.sum() if num_tokens is None else torch.as_tensor(float(num_tokens))
        return masked.sum() / n_tok.clamp_min(1)
    if mode == "seq-mean-token-mean":
        per_seq = masked.sum(-1) / mask.sum(-1).clamp_min(1)
        return per_seq.sum() / max(n_seqs, 1.0)
    if mode == "seq-mean-token-sum":
        return masked.sum() / max(n_seqs, 1.0)
    if mode == "seq-mean-token-sum-norm":
        if not max_tokens or max_tokens < 1:
            raise ValueError("seq-mean-token-sum-norm needs max_tokens (the generation budget), e.g. max_new_tokens")
        return masked.sum() / (max(n_seqs, 1.0) * max_tokens)
    raise ValueError(f"loss aggregation mode must be one of {LOSS_AGG_MODES}, got {mode!r}")


def overlong_penalty(lengths: torch.Tensor, max_length: int, buffer: int) -> torch.Tensor:
    """DAPO's soft overlong punishment, per sequence:
    0 if |y| ≤ L_max − L_buf; (L_max − L_buf − |y|) / L_buf in between; −1 if |y| > L_max."""
    if not 0 < buffer <= max_length:
        raise ValueError(f"overlong buffer must be in (0, max_length={max_length}], got {buffer}")
    lengths = lengths.to(torch.float32)
    soft = (max_length - buffer - lengths) / buffer
    return torch.where(lengths > max_length, torch.full_like(lengths, -1.0), soft.clamp(max=0.0))


def informative_groups(rewards: torch.Tensor, group_ids: torch.Tensor) -> torch.Tensor:
    """Per-sample mask: True where the sample's group has rewards that are not all equal.

    DAPO's dynamic sampling drops the other groups: with equal rewards every advantage is 0 and
    the group only dilutes the batch.
    """
    _, inverse = torch.unique(group_ids, return_inverse=True)
    n = int(inverse.max()) + 1 if inverse.numel() else 0
    r = rewards.to(torch.float64)
    lo = torch.full((n,), float("inf"), dtype=torch.float64).scatter_reduce(0, inverse, r, "amin")
    hi = torch.full((n,), float("-inf"), dtype=torch.float64).scatter_reduce(0, inverse, r, "amax")
    return (hi > lo)[inverse]


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp_min(1)
