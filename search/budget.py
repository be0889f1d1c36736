"""Compute budgets: what a search may spend per problem, and what it did spend.

Strategies compare fairly only at equal compute, so every one runs under a ``Budget`` that
counts the three things search spends: generated steps, generated tokens and scored prefixes
(scorer calls). A strategy asks its ``Meter`` before each round and stops cleanly when a limit is
reached. Generation lengths are only known afterwards, so the round that crosses a limit is
charged in full: spending can exceed a limit by at most one round, and ``Cost`` reports it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Budget:
    """Per-problem limits; ``None`` leaves a resource unlimited (at least one must be set)."""

    steps: int | None = None
    tokens: int | None = None
    scorer_calls: int | None = None

    def __post_init__(self) -> None:
        limits = {"steps": self.steps, "tokens": self.tokens, "scorer_calls": self.scorer_calls}
        if all(v is None for v in limits.values()):
            raise ValueError("a Budget needs at least one limit: Budget(steps=...), tokens=... or scorer_calls=...")
        for name, value in limits.items():
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise ValueError(f"Budget.{name} must be a positive integer or None, got {value!r}")

    @classmethod
    def parse(cls, text: str) -> Budget:
        """``"steps=64"``, ``"steps=64,scorer_calls=300"`` or a bare integer (steps)."""
        text = text.strip()
        if text.isdigit():
            return cls(steps=int(text))
        fields: dict[str, int] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, sep, value = part.partition("=")
            name = name.strip().replace("-", "_")
            if not sep or name not in ("steps", "tokens", "scorer_calls") or not value.strip().isdigit():
                raise ValueError(f"cannot read budget {text!r}: write e.g. 'steps=64' or "
                                 "'steps=64,tokens=20000,scorer_calls=500'")
            fields[name] = int(value)
        return cls(**fields)


@dataclass(frozen=True)
class Cost:
    """What one problem's search spent; ``generator_calls`` / ``scorer_batches`` count the batched
    calls the problem took part in (shared with the other problems of the same rounds)."""

    steps: int = 0
    tokens: int = 0
    scorer_calls: int = 0
    generator_calls: int = 0
    scorer_batches: int = 0


class Meter:
    """Running spend of one problem against its ``Budget`` (mutable, owned by one search)."""

    def __init__(self, budget: Budget):
        self.budget = budget
        self.steps = self.tokens = self.scorer_calls = self.generator_calls = self.scorer_batches = 0

    def charge_generation(self, steps: int, tokens: int) -> None:
        self.steps += steps
        self.tokens += tokens
        self.generator_calls += 1

    def charge_scoring(self, prefixes: int) -> None:
        self.scorer_calls += prefixes
        self.scorer_batches += 1 if prefixes else 0

    def steps_left(self) -> float:
        """Steps still affordable (``inf`` when steps are unlimited); 0 once any limit is reached."""
        if self.exhausted:
            return 0
        return float("inf") if self.budget.steps is None else self.budget.steps - self.steps

    def used(self) -> float:
        """Share of the budget spent, 0 to 1: the largest share among its limits (progress display)."""
        b = self.budget
        shares = [spent / limit for spent, limit in ((self.steps, b.steps), (self.tokens, b.tokens),
                                                     (self.scorer_calls, b.scorer_calls)) if limit is not None]
        return min(1.0, max(shares))

    @property
    def exhausted(self) -> bool:
        b = self.budget
        return ((b.steps is not None and self.steps >= b.steps)
                or (b.tokens is not None and self.tokens >= b.tokens)
                or (b.scorer_calls is not None and self.scorer_calls >= b.scorer_calls))

    def cost(self) -> Cost:
        return Cost(self.steps, self.tokens, self.scorer_calls, self.generator_calls, self.scorer_batches)
