"""Process-level reward transforms over ragged step rewards.

Layout: ``step_rewards [N]`` holds every trajectory's per-step rewards back to back and
``offsets [S+1]`` marks where trajectory ``s`` starts and ends (``assay.kernels``'s segment layout).

Why these exist (Gao et al. 2024; PURE, Cheng et al. 2025): with summed process rewards, a policy
can raise its return by writing *more* steps that a PRM scores well (repeats, filler), whatever
the answer. Clip makes every step reward <= 0, so extra steps never pay; Delta telescopes, so a
return is ``r_t - r_last`` however many steps follow; min-form takes the worst future step, which
extra steps can only lower. bench/reward_hacking.py measures it.
"""

from __future__ import annotations

import torch

PROCESS_TRANSFORMS = ("none", "clip", "delta")
RETURN_MODES = ("sum", "min", "softmin", "discounted")


def clip_rewards(step_rewards, eta: float = 0.0) -> torch.Tensor:
    """Clip (Gao et al. 2024): ``r_k <- min(r_k - eta, 0)``."""
    return (torch.as_tensor(step_rewards, dtype=torch.float32) - eta).clamp(max=0.0)


def delta_rewards(step_rewards, offsets) -> torch.Tensor:
    """Delta (Gao et al. 2024): ``r_k <- r_k - r_{k+1}`` within each trajectory; the last step's
    reward is dropped (0), so the sum from step t telescopes to ``r_t - r_last``."""
    r = torch.as_tensor(step_rewards, dtype=torch.float32)
    out = torch.zeros_like(r)
    off = torch.as_tensor(offsets).tolist()
    for a, b in zip(off[:-1], off[1:]):
        if b - a > 1:
            out[a:b - 1] = r[a:b - 1] - r[a + 1:b]
    return out


def step_returns(step_rewards, offsets, mode: str = "sum", gamma: float = 1.0, temperature: float = 0.1) -> torch.Tensor:
    """Per-step returns within each trajectory via ``assay.kernels.process_returns``: ``sum``
    (``G_t = sum_{k>=t} r_k``), PURE's ``min`` (``G_t = min_{k>=t} r_k``), its ``softmin`` form, or
    ``discounted``."""
    from assay.kernels import process_returns  # numba / triton: loaded when returns are first taken

    if mode not in RETURN_MODES:
        raise ValueError(f"return mode must be one of {RETURN_MODES}, got {mode!r}")
    r = torch.as_tensor(step_rewards, dtype=torch.float32)
    off = torch.as_tensor(offsets, dtype=torch.int64)
    return process_returns(r, off, mode=mode, gamma=gamma, temperature=temperature)


def shape_process(step_rewards, offsets, transform: str = "none", mode: str = "sum", eta: float = 0.0) -> torch.Tensor:
    """The composition a trainer uses: a per-step transform (``none`` | ``clip`` | ``delta``), then
    returns in ``mode``. Returns ``[N]`` per-step returns."""
    if transform not in PROCESS_TRANSFORMS:
        raise ValueError(f"process transform must be one of {PROCESS_TRANSFORMS}, got {transform!r}")
    r = torch.as_tensor(step_rewards, dtype=torch.float32)
    if transform == "clip":
        r = clip_rewards(r, eta)
    elif transform == "delta":
        r = delta_rewards(r, offsets)
    return step_returns(r, offsets, mode)
