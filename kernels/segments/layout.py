"""Argument checks and the ragged layout shared by every backend of the segment ops.

A batch of ragged segments is described either by ``offsets [S+1]`` (segment ``s`` is
``x[offsets[s]:offsets[s+1]]``; zero-length segments are allowed) or, for advantages, by
``group_ids [B]`` (arbitrary integers, in any order). Ids are turned into offsets by a stable
argsort; ``perm`` is ``None`` when the ids are already non-decreasing (the usual "G samples per
prompt, side by side" batch), so that case needs no sort, gather or scatter.

Checks cost one device sync each (a handful of scalars read back): a bad offset would otherwise
read out of bounds inside a kernel, which is worse than the sync.
"""

from __future__ import annotations

import math

import torch

ADVANTAGE_MODES = ("grpo", "dr_grpo", "rloo")
AGGREGATE_OPS = ("min", "mean", "prod", "last", "sum")
RETURN_MODES = ("sum", "min", "discounted", "softmin")


def check_choice(name: str, value: str, valid: tuple[str, ...]) -> None:
    if value not in valid:
        raise ValueError(f"{name} must be one of {valid}, got {value!r}")


def check_values(name: str, x: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 1:
        raise ValueError(f"{name} must be 1-D [N], got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got {x.dtype} (call .float() first)")


def _check_index(name: str, t: torch.Tensor, like: torch.Tensor) -> None:
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if t.dim() != 1:
        raise ValueError(f"{name} must be 1-D, got shape {tuple(t.shape)}")
    if t.dtype == torch.bool or t.is_floating_point() or t.is_complex():
        raise TypeError(f"{name} must be an integer tensor, got {t.dtype}")
    if t.device != like.device:
        raise ValueError(f"{name} is on {t.device} but the values are on {like.device}: move them to one device")


def check_offsets(offsets: torch.Tensor, values: torch.Tensor, name: str = "offsets") -> torch.Tensor:
    """Validate ``offsets [S+1]`` against ``values [N]``; return them as contiguous int64."""
    _check_index(name, offsets, values)
    if offsets.numel() == 0:
        raise ValueError(f"{name} must have at least one entry ([0] for no segments), got an empty tensor")
    off = offsets.to(torch.int64).contiguous()
    n = values.numel()
    first, last = off[0], off[-1]
    decreasing = (off[1:] < off[:-1]).any() if off.numel() > 1 else torch.zeros((), dtype=torch.bool, device=off.device)
    first, last, decreasing = torch.stack([first, last, decreasing.to(torch.int64)]).tolist()  # one sync
    if first != 0 or last != n:
        raise ValueError(f"{name} must start at 0 and end at len(values)={n}, got {name}[0]={first}, {name}[-1]={last}")
    if decreasing:
        raise ValueError(f"{name} must be non-decreasing (segment s is values[{name}[s]:{name}[s+1]])")
    return off


def check_group_ids(group_ids: torch.Tensor, rewards: torch.Tensor) -> None:
    _check_index("group_ids", group_ids, rewards)
    if group_ids.numel() != rewards.numel():
        raise ValueError(f"group_ids has {group_ids.numel()} entries but rewards has {rewards.numel()}: one id per reward")


def check_advantage_args(rewards, group_ids, offsets, mode, eps, loss_mask) -> torch.Tensor | None:
    """All checks of ``group_advantages``; returns validated int64 offsets (or None when ids are given)."""
    check_values("rewards", rewards)
    check_choice("mode", mode, ADVANTAGE_MODES)
    if not (isinstance(eps, (int, float)) and math.isfinite(eps) and eps >= 0):
        raise ValueError(f"eps must be a finite number >= 0, got {eps!r}")
    if (group_ids is None) == (offsets is None):
        raise ValueError("pass exactly one of group_ids [B] (any ids, any order) or offsets [G+1] (contiguous groups)")
    if loss_mask is not None:
        if not isinstance(loss_mask, torch.Tensor) or loss_mask.dim() != 2 or loss_mask.shape[0] != rewards.numel():
            shape = tuple(loss_mask.shape) if isinstance(loss_mask, torch.Tensor) else type(loss_mask).__name__
            raise ValueError(f"loss_mask must be [B, T] with B = len(rewards) = {rewards.numel()}, got {shape}")
        if loss_mask.device != rewards.device:
            raise ValueError(f"loss_mask is on {loss_mask.device} but rewards are on {rewards.device}")
    if group_ids is not None:
        check_group_ids(group_ids, rewards)
        return None
    return check_offsets(offsets, rewards)


def check_aggregate_args(step_rewards, offsets, op, empty) -> torch.Tensor:
    check_values("step_rewards", step_rewards)
    check_choice("op", op, AGGREGATE_OPS)
    if not isinstance(empty, (int, float)):
        raise TypeError(f"empty must be a number (the value of an empty segment for min/mean/last), got {empty!r}")
    return check_offsets(offsets, step_rewards)


def check_return_args(step_rewards, offsets, mode, gamma, temperature) -> torch.Tensor:
    check_values("step_rewards", step_rewards)
    check_choice("mode", mode, RETURN_MODES)
    if not (isinstance(gamma, (int, float)) and math.isfinite(gamma)):
        raise ValueError(f"gamma must be a finite number, got {gamma!r}")
    if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be a finite number > 0 (softmin weights softmax(-r/T)), got {temperature!r}")
    return check_offsets(offsets, step_rewards)


def segments_from_ids(group_ids: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor]:
    """``(perm, offsets)``: ``group_ids[perm]`` is sorted and ``offsets [G+1]`` bounds its runs.

    The sort is stable, so each group keeps its members in batch order. ``perm`` is None when the
    ids are already non-decreasing. Groups are numbered by ascending id.
    """
    n = group_ids.numel()
    if n == 0:
        return None, torch.zeros(1, dtype=torch.int64, device=group_ids.device)
    perm = None
    ids = group_ids
    if not bool((ids[1:] >= ids[:-1]).all()):
        perm = torch.argsort(ids, stable=True)
        ids = ids[perm]
    _, counts = torch.unique_consecutive(ids, return_counts=True)
    offsets = torch.zeros(counts.numel() + 1, dtype=torch.int64, device=ids.device)
    torch.cumsum(counts, 0, out=offsets[1:])
    return perm, offsets
