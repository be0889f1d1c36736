"""Plain-torch references for the segment ops: the spec every other backend is tested against.

Readable loops over groups and segments, computed in float64 and returned as float32. None of
the ops is differentiable: rewards are data, so inputs are detached and outputs carry no graph.

Formulas (REFERENCES.md; the paper is right where the two disagree):

- GRPO (Shao et al. 2024, DeepSeekMath): ``A = (r - mean_g) / (std_g + eps)``, unbiased std.
- Dr.GRPO (Liu et al. 2025, "Understanding R1-Zero-Like Training"): ``A = r - mean_g``.
- RLOO (Ahmadian et al. 2024, "Back to Basics"): ``A = r - (sum_g r - r) / (n - 1)
  = n / (n - 1) * (r - mean_g)``.
- PURE (Cheng et al. 2025, "Stop Summation: Min-Form Credit Assignment Is All Process Reward
  Model Needs"): the return of step t is ``min_{k >= t} r_k``; their code reaches it with a softmin
  reweighting ``w = softmax(-r / T)`` over the segment, ``r' = w * r``, then a reverse cumulative sum.

Departures from other implementations, on purpose:

- A group of one sample gets advantage 0 in every mode (verl gives GRPO singletons mean 0, std 1,
  i.e. ``A = r``): a lone sample has no baseline to compare with.
- Deviations are taken after shifting by the group's first reward, ``d = (r - r_0) - mean(r - r_0)``
  (the "shifted data" two-pass variance): an all-equal group gives exactly 0, never
  ``rounding / eps`` noise, and rewards like ``1e6 + noise`` keep their digits.
"""

from __future__ import annotations

import torch

from assay.kernels.segments.layout import (
    check_advantage_args,
    check_aggregate_args,
    check_return_args,
)


def _groups(group_ids: torch.Tensor | None, offsets: torch.Tensor | None) -> list[torch.Tensor]:
    """Index tensors of each group's members, in batch order."""
    if offsets is not None:
        bounds = offsets.tolist()
        return [torch.arange(a, b, device=offsets.device) for a, b in zip(bounds[:-1], bounds[1:])]
    return [torch.nonzero(group_ids == g).flatten() for g in torch.unique(group_ids)]


def group_advantages_reference(rewards, group_ids=None, mode="grpo", eps=1e-6, *, offsets=None, loss_mask=None):
    """Group-relative advantages ``[B]`` (or ``[B, T]`` with ``loss_mask``), float32.

    Groups come from ``group_ids [B]`` (any integers, any order) or ``offsets [G+1]``.
    ``loss_mask [B, T]`` broadcasts the per-sample advantage to tokens: ``A[:, None] * mask``.
    """
    offsets = check_advantage_args(rewards, group_ids, offsets, mode, eps, loss_mask)
    r = rewards.detach().to(torch.float64)
    adv = torch.zeros_like(r)
    for members in _groups(group_ids, offsets):
        n = members.numel()
        if n < 2:
            continue  # singleton (or empty) group: advantage 0
        g = r[members]
        y = g - g[0]  # shifted data: exact zeros when all rewards are equal
        d = y - y.mean()  # r - mean_g
        if mode == "grpo":
            std = (d.square().sum() / (n - 1)).sqrt()  # unbiased
            adv[members] = d / (std + eps) if std + eps > 0 else torch.zeros_like(d)
        elif mode == "dr_grpo":
            adv[members] = d
        else:  # rloo: r - (sum - r)/(n - 1) == n/(n - 1) * (r - mean)
            adv[members] = d * (n / (n - 1))
    adv = adv.to(torch.float32)
    if loss_mask is not None:
        return adv[:, None] * loss_mask.detach().to(torch.float32)  # (B, T)
    return adv


def prm_aggregate_reference(step_rewards, offsets, op="min", *, empty=0.0):
    """One score per segment ``[S]`` float32 from its step scores.

    ``min``, ``mean``, ``last``, ``sum`` as named. ``prod`` is ``exp(sum(log r))`` when every step
    in the segment is positive (PRM probabilities: no overflow or underflow in partial products)
    and the direct product otherwise (a zero or negative score has no log).
    An empty segment gives ``sum`` 0, ``prod`` 1 (the empty product), and ``empty`` for min/mean/last.
    """
    off = check_aggregate_args(step_rewards, offsets, op, empty).tolist()
    r = step_rewards.detach().to(torch.float64)
    out = torch.empty(len(off) - 1, dtype=torch.float64, device=r.device)
    for s, (a, b) in enumerate(zip(off[:-1], off[1:])):
        seg = r[a:b]
        if seg.numel() == 0:
            out[s] = {"sum": 0.0, "prod": 1.0}.get(op, float(empty))
        elif op == "min":
            out[s] = seg.min()
        elif op == "mean":
            out[s] = seg.mean()
        elif op == "last":
            out[s] = seg[-1]
        elif op == "sum":
            out[s] = seg.sum()
        else:  # prod
            out[s] = seg.log().sum().exp() if bool((seg > 0).all()) else seg.prod()
    return out.to(torch.float32)


def process_returns_reference(step_rewards, offsets, mode="sum", gamma=1.0, temperature=0.1):
    """Per-step returns ``[N]`` float32, each segment on its own (a segment is one trajectory).

    - ``sum``: ``G_t = sum_{k >= t} r_k`` (reverse cumulative sum).
    - ``min``: ``G_t = min_{k >= t} r_k`` (PURE's min-form credit assignment, exact).
    - ``discounted``: ``G_t = r_t + gamma * G_{t+1}``, ``G`` past the end is 0.
    - ``softmin``: PURE's implementation: ``w = softmax(-r / T)`` over the segment,
      ``r' = w * r``, ``G_t = sum_{k >= t} r'_k``. As ``T -> 0``, ``G_0 -> min r``.
    """
    off = check_return_args(step_rewards, offsets, mode, gamma, temperature).tolist()
    r = step_rewards.detach().to(torch.float64)
    out = torch.empty_like(r)
    for a, b in zip(off[:-1], off[1:]):
        seg = r[a:b]
        if seg.numel() == 0:
            continue
        if mode == "sum":
            out[a:b] = seg.flip(0).cumsum(0).flip(0)
        elif mode == "min":
            out[a:b] = seg.flip(0).cummin(0).values.flip(0)
        elif mode == "discounted":
            g = 0.0
            for t in range(seg.numel() - 1, -1, -1):
                g = seg[t] + gamma * g
                out[a + t] = g
        else:  # softmin
            w = torch.softmax(-seg / temperature, 0)
            out[a:b] = (w * seg).flip(0).cumsum(0).flip(0)
    return out.to(torch.float32)
