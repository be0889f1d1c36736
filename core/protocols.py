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


# -- search: a Policy proposes steps, a Scorer scores them ------------------------------------

@dataclass(frozen=True)
class Step:
    """One reasoning step (or turn) a policy wrote.

    ``token_ids`` are exactly the ids generated for it (empty for a policy without a tokenizer);
    ``logprob`` is the sum of their sampling log-probs (PUCT priors use its per-token mean) and
    ``token_logprobs`` the per-token values where the policy has them; ``terminal`` marks the step
    that ends the solution.
    """

    text: str
    token_ids: tuple[int, ...] = ()
    logprob: float = 0.0
    terminal: bool = False
    token_logprobs: tuple[float, ...] = ()  # per token, when the policy has them (for training)

    @property
    def n_tokens(self) -> int:
        return len(self.token_ids)


@dataclass(frozen=True)
class Prefix:
    """A task and the steps written so far: the unit a ``Policy`` extends and a ``Scorer`` scores.

    ``hints`` is guidance the policy should read before continuing (a guided retry's feedback);
    it is part of the prefix's identity, so a scorer cache never mixes hinted and plain prefixes.
    """

    task: Task
    steps: tuple[Step, ...] = ()
    hints: tuple[str, ...] = ()

    def extend(self, *steps: Step) -> Prefix:
        return Prefix(self.task, self.steps + steps, self.hints)

    @property
    def text(self) -> str:
        return "".join(s.text for s in self.steps)

    @property
    def done(self) -> bool:
        return bool(self.steps) and self.steps[-1].terminal

    @property
    def key(self) -> tuple:
        """What identifies the prefix for caching: task, hints and step texts."""
        return (self.task.id, self.hints, tuple(s.text for s in self.steps))


@runtime_checkable
class Policy(Protocol):
    """Writes steps, batched over prefixes of any tasks.

    ``propose`` samples ``k`` independent next steps for each prefix (one list per prefix, in
    order). ``complete`` writes each prefix out to a terminal step, or stops after ``max_steps``
    new steps; it returns only the new steps.
    """

    def propose(self, prefixes: Sequence[Prefix], k: int) -> list[list[Step]]: ...

    def complete(self, prefixes: Sequence[Prefix], max_steps: int | None = None) -> list[tuple[Step, ...]]: ...


@runtime_checkable
class Scorer(Protocol):
    """Scores every step of each prefix (one list per prefix, one float per step), batched.

    A process reward model returns p(step correct | prefix) in [0, 1]; other scorers (an implicit
    PRM, an ensemble) may use another scale, and aggregation treats all alike.
    """

    def score(self, prefixes: Sequence[Prefix]) -> list[list[float]]: ...
