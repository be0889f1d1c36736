"""Learning-rate schedules as pure functions of the step, so a resumed run needs no scheduler state."""

from __future__ import annotations

import math

LR_SCHEDULES = ("constant", "linear", "cosine", "wsd")

WSD_DECAY_FRACTION = 0.2
"""wsd holds the peak and decays over this last share of the steps after warm-up (MiniCPM's
warmup-stable-decay, Hu et al. 2024: a long high-lr phase explores, a short decay settles the weights)."""


def lr_at(step: int, base_lr: float, total_steps: int, schedule: str = "constant", warmup_steps: int = 0,
          min_lr_ratio: float = 0.0) -> float:
    """The learning rate of optimisation step ``step`` (1-based) of ``total_steps``.

    Linear warm-up from ``base_lr / warmup_steps`` to ``base_lr`` over the first ``warmup_steps``,
    then ``constant``, or a ``linear`` / ``cosine`` decay to ``min_lr_ratio * base_lr`` at the
    last step, or ``wsd``: constant, then a linear decay to that floor over the last
    ``WSD_DECAY_FRACTION`` of the steps after warm-up.
    """
    if schedule not in LR_SCHEDULES:
        raise ValueError(f"schedule must be one of {LR_SCHEDULES}, got {schedule!r}")
    if warmup_steps and step <= warmup_steps:
        return base_lr * step / warmup_steps
    if schedule == "constant":
        return base_lr
    span = max(total_steps - warmup_steps, 1)
    progress = min(max(step - warmup_steps, 0) / span, 1.0)
    floor = min_lr_ratio * base_lr
    if schedule == "wsd":
        decay_start = 1.0 - WSD_DECAY_FRACTION
        if progress <= decay_start:
            return base_lr
        progress = (progress - decay_start) / WSD_DECAY_FRACTION
        schedule = "linear"
    if schedule == "linear":
        return floor + (base_lr - floor) * (1.0 - progress)
    return floor + (base_lr - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))
