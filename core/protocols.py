"""The seams between layers. Each protocol is a few lines; implementations live in the layer
that owns them and are passed in (DESIGN.md: dependencies point one way)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from assay.types import Task, Verdict


@runtime_checkable
class Verifier(Protocol):
    """Judges a response to a task. Never raises on bad model output: returns a Verdict."""

    name: str
    version: str

    def verify(self, task: Task, response: str) -> Verdict: ...

    def verify_batch(self, tasks: Sequence[Task], responses: Sequence[str]) -> list[Verdict]: ...


@dataclass(frozen=True)
class SamplingParams:
    """How to sample. ``temperature`` divides the logits (never the log-probs)."""

    max_new_tokens: int = 64
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0  # 0: no top-k truncation
    stop: tuple[str, ...] = ()  # generation ends after the first of these strings appears
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0 (0 = greedy), got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")


@dataclass(frozen=True)
class Generation:
    """One sampled continuation: exactly the ids generated and the sampler's log-prob of each
    (under the distribution it sampled from, temperature applied)."""

    token_ids: tuple[int, ...]
    logprobs: tuple[float, ...]
    text: str
    finish_reason: str  # "eos" | "stop" | "length"


@runtime_checkable
class Generator(Protocol):
    """Batched sampling, token ids in and token ids out (multi-turn contexts stay exact)."""

    def generate(self, prompts: Sequence[Sequence[int]], params: SamplingParams) -> list[Generation]: ...
