"""The segment ops' public entry points: check the arguments, pick a backend, run it.

``backend="auto"`` runs the Triton kernel on CUDA tensors and the CPU path otherwise
(``assay.kernels.dispatch.resolve``). ``"cpu"`` on CUDA tensors copies to the host and back.
Outputs are float32 on the input's device. None of the ops is differentiable: rewards and step
scores are data, so inputs are detached and outputs never require grad.
"""

from __future__ import annotations

import torch

from assay.kernels.dispatch import resolve
from assay.kernels.segments import cpu, reference
from assay.kernels.segments.layout import check_advantage_args, check_aggregate_args, check_return_args


def _triton():
    # Imported on first use: importing assay.kernels must neither need triton nor fix
    # TRITON_INTERPRET (read when the kernels are decorated) before a test can set it.
    from assay.kernels.segments import triton_kernels

    return triton_kernels


def _on_host(fn, *args):
    """Run a CPU path on host copies of the tensor arguments; return the result on their device."""
    device = next(a.device for a in args if isinstance(a, torch.Tensor))
    host = [a.cpu() if isinstance(a, torch.Tensor) else a for a in args]
    return fn(*host).to(device)


def group_advantages(rewards, group_ids=None, mode="grpo", eps=1e-6, *, offsets=None, loss_mask=None,
                     backend="auto"):
    """Group-relative advantages of ``rewards [B]``: float32 ``[B]``, or ``[B, T]`` with ``loss_mask``.

    Groups: ``group_ids [B]`` (any integers, any order) or ``offsets [G+1]`` (contiguous groups,
    zero-length allowed), exactly one of the two.

    - ``"grpo"``: ``(r - mean_g) / (std_g + eps)``, unbiased std.
    - ``"dr_grpo"``: ``r - mean_g``.
    - ``"rloo"``: ``r - (sum_g r - r) / (n - 1) = n / (n - 1) * (r - mean_g)``.

    A single-sample group gives 0 in every mode, an all-equal group exactly 0. Statistics are
    float32, two-pass, shifted by the group's first reward (stable for ``1e6 + noise``).
    ``loss_mask [B, T]`` broadcasts to tokens: ``A[:, None] * mask``.
    """
    offsets = check_advantage_args(rewards, group_ids, offsets, mode, eps, loss_mask)
    which = resolve(backend, *(t for t in (rewards, group_ids, offsets) if t is not None))
    if which == "reference":
        return reference.group_advantages_reference(rewards, group_ids, mode, eps, offsets=offsets, loss_mask=loss_mask)
    if which == "triton":
        adv = _triton().group_advantages_triton(rewards, group_ids, offsets, mode, eps)
    else:
        adv = _on_host(cpu.group_advantages_cpu, rewards, group_ids, offsets, mode, eps)
    if loss_mask is not None:
        return adv[:, None] * loss_mask.detach().to(torch.float32)  # (B, T)
    return adv


def prm_aggregate(step_rewards, offsets, op="min", *, empty=0.0, backend="auto"):
    """One float32 score per segment ``[S]`` from ragged step scores (``offsets [S+1]``).

    ``op``: ``"min"``, ``"mean"``, ``"prod"``, ``"last"``, ``"sum"``. ``prod`` is computed as
    ``exp(sum(log r))`` when every step of the segment is positive and as the direct product
    otherwise. Empty segments: ``sum`` 0, ``prod`` 1 (empty product), ``min``/``mean``/``last``
    the ``empty`` keyword (default 0.0).
    """
    off = check_aggregate_args(step_rewards, offsets, op, empty)
    which = resolve(backend, step_rewards, off)
    if which == "reference":
        return reference.prm_aggregate_reference(step_rewards, off, op, empty=empty)
    if which == "triton":
        return _triton().prm_aggregate_triton(step_rewards, off, op, empty)
    return _on_host(cpu.prm_aggregate_cpu, step_rewards, off, op, empty)


def process_returns(step_rewards, offsets, mode="sum", gamma=1.0, temperature=0.1, *, backend="auto"):
    """Per-step float32 returns ``[N]`` within each ragged segment (``offsets [S+1]``).

    - ``"sum"``: ``G_t = sum_{k >= t} r_k``.
    - ``"min"``: ``G_t = min_{k >= t} r_k`` (PURE's min-form credit assignment, exact).
    - ``"discounted"``: ``G_t = r_t + gamma * G_{t+1}``.
    - ``"softmin"``: PURE's code: ``w = softmax(-r / T)`` per segment, ``r' = w * r``, reverse cumsum.

    Empty segments contribute nothing.
    """
    off = check_return_args(step_rewards, offsets, mode, gamma, temperature)
    which = resolve(backend, step_rewards, off)
    if which == "reference":
        return reference.process_returns_reference(step_rewards, off, mode, gamma, temperature)
    if which == "triton":
        return _triton().process_returns_triton(step_rewards, off, mode, gamma, temperature)
    return _on_host(cpu.process_returns_cpu, step_rewards, off, mode, gamma, temperature)
