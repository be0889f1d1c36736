"""Outcome-level reward transforms: ``(B,)`` rewards in, ``(B,)`` shaped rewards out.

Each is a pure function (PPO-C's running mean is passed in and returned, never kept here), so a
trainer can compose them in any order and a test can check each on hand-computed values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch


def _f(x) -> torch.Tensor:
    return torch.as_tensor(x, dtype=torch.float32)


def format_gate(rewards, format_ok, fail_reward: float = 0.0) -> torch.Tensor:
    """``r`` where the response is well formed, else ``fail_reward``: a malformed response earns
    nothing a learned or partial-credit reward would otherwise give it."""
    rewards, ok = _f(rewards), torch.as_tensor(format_ok, dtype=torch.bool)
    return torch.where(ok, rewards, torch.full_like(rewards, fail_reward))


def length_penalty(rewards, lengths, coef: float, free_tokens: int = 0, passed=None) -> torch.Tensor:
    """Conciseness: ``r - coef * max(0, |y| - free_tokens)``. With ``passed``, only passing
    responses pay it, so a short wrong answer never beats a long right one on length alone."""
    if coef < 0 or free_tokens < 0:
        raise ValueError(f"coef and free_tokens must be >= 0, got {coef} and {free_tokens}")
    rewards = _f(rewards)
    penalty = coef * (_f(lengths) - free_tokens).clamp(min=0.0)
    if passed is not None:
        penalty = penalty * torch.as_tensor(passed, dtype=torch.float32)
    return rewards - penalty


def posterior_gate(outcome, process, passed, format_reward=0.0) -> torch.Tensor:
    """Posterior-GRPO: ``R = R_format + R_outcome + 1[outcome passes] * R_process``. The process
    reward only ever adds to responses that are right, so it cannot pay for a wrong answer that
    merely looks well reasoned."""
    gate = torch.as_tensor(passed, dtype=torch.float32)
    return _f(format_reward) + _f(outcome) + gate * _f(process)


@dataclass(frozen=True)
class PPOCState:
    """PPO-C's running reward mean ``r_bar`` (start: 0)."""

    mean: float = 0.0


def ppo_c_calibrate(rewards, confidence, state: PPOCState = PPOCState(), alpha: float = 0.1, w: float = 0.5,
                    clamp: float = 10.0) -> tuple[torch.Tensor, PPOCState]:
    """PPO-C reward calibration: ``r <- clamp(r, -clamp, clamp)``; ``r_bar <- alpha * mean(r) +
    (1 - alpha) * r_bar``; ``r_hat = r + w * (r - r_bar) * (c - 0.5)`` with ``c`` the verbalised
    confidence in [0, 1]. Above-average rewards grow with confidence and below-average ones shrink,
    so confident wrong answers pay. The batch's own mean enters ``r_bar`` before the adjustment.
    Returns the calibrated rewards and the new state."""
    if not 0 < alpha <= 1:
        raise ValueError(f"alpha must be in (0, 1], got {alpha}")
    c = _f(confidence)
    if c.numel() and (c.min() < 0 or c.max() > 1):
        raise ValueError("confidence must lie in [0, 1]")
    r = _f(rewards).clamp(-clamp, clamp)
    mean = alpha * float(r.mean()) + (1 - alpha) * state.mean if r.numel() else state.mean
    return r + w * (r - mean) * (c - 0.5), PPOCState(mean)


_CONFIDENCE = re.compile(r"confidence\s*(?:level|score)?\s*(?:is|[:=])?\s*(\d+(?:\.\d+)?)\s*(%|/\s*(\d+(?:\.\d+)?))?",
                         re.IGNORECASE)


def parse_confidence(text: str) -> float | None:
    """The verbalised confidence PPO-C reads: the last ``Confidence: X`` in ``text`` (case and the
    separator free: ``confidence = 0.8``, ``Confidence is 80%``), as a number in [0, 1]: ``0.8``,
    ``80%`` or ``8/10``. A bare number above 1 is ambiguous (a 0-10 or a 0-100 scale?) and, like a
    value outside [0, 1] or no statement at all, gives None."""
    found = None
    for m in _CONFIDENCE.finditer(text):
        value, unit, denominator = float(m.group(1)), m.group(2), m.group(3)
        if unit == "%":
            value /= 100
        elif denominator is not None:
            value = value / float(denominator) if float(denominator) > 0 else -1.0
        found = value if 0.0 <= value <= 1.0 else None
    return found


def hybrid(verifiable, learned, verifiable_weight: float = 1.0, learned_weight: float = 1.0) -> torch.Tensor:
    """Weighted verifiable plus learned reward: ``a * r_verifier + b * r_model``."""
    return verifiable_weight * _f(verifiable) + learned_weight * _f(learned)
