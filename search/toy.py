"""A toy policy and a noisy process reward model over the modchain tasks, for benchmarks and tests.

Both are cheap enough to run thousands of problems at budgets of hundreds of steps on a CPU, and
both have the knobs a study of search needs:

- ``ToyChainPolicy`` writes ``Step i: <value>`` lines. Each step is right with probability
  ``step_accuracy``; one *trap* step per task (chosen from the task id) is right only with
  ``trap_accuracy`` and otherwise gives the same wrong value, so wrong answers cluster and
  majority vote can settle on a wrong one, as models with systematic errors do. With probability
  ``repeat_rate`` the policy repeats its previous line instead of advancing: harmless to the
  answer, but it uses up the ``max_steps`` cap (chain length + ``slack``); a policy that hits the
  cap writes the value it has, which is wrong.
- ``NoisyPRM`` scores a step ``sigmoid(+-separation/2 + noise * eps)``, the sign from whether the
  prefix is still on the correct path and ``eps`` a standard normal fixed by the prefix's text (the
  same prefix always gets the same score). ``repeat_bias`` > 0 makes it over-reward repeated lines:
  the reward hack a policy trained on summed process rewards learns to exploit.
"""

from __future__ import annotations

import math
import random
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from statistics import NormalDist

from assay.envs.procedural.modchain import apply
from assay.protocols import Prefix, Step
from assay.types import Task

_NORMAL = NormalDist()


def _chain(task: Task) -> tuple[int, int, list[tuple[str, int]]]:
    meta = task.meta
    if meta.get("generator") != "modchain":
        raise ValueError(f"the toy policy works on modchain tasks (assay/modchain-v0); task {task.id!r} is "
                         f"from {meta.get('generator')!r}")
    return int(meta["x0"]), int(meta["modulus"]), [(op, int(a)) for op, a in meta["ops"]]


def trap_step(task: Task) -> int:
    """The 1-based index of the task's trap step."""
    return 1 + zlib.crc32(task.id.encode()) % len(task.meta["ops"])


def toy_answer(task: Task, text: str) -> str | None:
    """The last ``\\boxed{...}`` of a toy solution (the fast path of ``final_answer``)."""
    start = text.rfind("\\boxed{")
    if start < 0:
        return None
    end = text.find("}", start)
    return text[start + 7:end].strip() if end > 0 else None


@dataclass(frozen=True)
class ToyState:
    """Where a toy prefix stands: steps written, chain steps done, the current value, and
    whether it is still on the correct path."""

    written: int
    advanced: int
    value: int
    on_path: bool


def read_state(prefix: Prefix) -> ToyState:
    _chain(prefix.task)  # a modchain task, or a clear error
    state, previous = ToyState(0, 0, int(prefix.task.meta["x0"]), True), None
    for step in prefix.steps:
        state, previous = _after(prefix.task, state, step, previous), step.text
    return state


@dataclass
class ToyChainPolicy:
    """See the module docstring. ``seed`` fixes every draw (calls in the same order give the
    same steps). Its steps carry no token ids (see ``_step``)."""

    step_accuracy: float = 0.8
    trap_accuracy: float | None = 0.35
    repeat_rate: float = 0.0
    distractors: int = 2
    slack: int = 2
    seed: int = 0
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        for name in ("step_accuracy", "repeat_rate") + (("trap_accuracy",) if self.trap_accuracy is not None else ()):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be a probability in [0, 1], got {getattr(self, name)}")
        if self.distractors < 1 or self.slack < 0:
            raise ValueError("distractors must be >= 1 and slack >= 0")
        self._rng = random.Random(self.seed)

    def propose(self, prefixes: Sequence[Prefix], k: int) -> list[list[Step]]:
        out = []
        for p in prefixes:
            state, previous = read_state(p), p.steps[-1].text if p.steps else None
            out.append([self._next(p, state, previous) for _ in range(k)])
        return out

    def complete(self, prefixes: Sequence[Prefix], max_steps: int | None = None) -> list[tuple[Step, ...]]:
        out = []
        for prefix in prefixes:
            state, new = read_state(prefix), []
            while not (new and new[-1].terminal) and (max_steps is None or len(new) < max_steps):
                previous = new[-1].text if new else (prefix.steps[-1].text if prefix.steps else None)
                step = self._next(prefix, state, previous)
                new.append(step)
                state = _after(prefix.task, state, step, previous)
            out.append(tuple(new))
        return out

    # -- one step -----------------------------------------------------------------------------
    def _next(self, prefix: Prefix, state: ToyState, last_text: str | None) -> Step:
        x0, m, ops = _chain(prefix.task)
        k = len(ops)
        rng = self._rng
        if state.written + 1 >= k + self.slack and state.advanced < k:  # out of room: answer with what it has
            return self._step(f"Answer: \\boxed{{{state.value}}}\n", 0.0, terminal=True)
        if last_text is not None and rng.random() < self.repeat_rate:
            return self._step(last_text, math.log(self.repeat_rate))
        j = state.advanced + 1
        right = apply(state.value, *ops[j - 1], m)
        trap = self.trap_accuracy is not None and j == trap_step(prefix.task)
        p = self.trap_accuracy if trap else self.step_accuracy
        stay = 1.0 - (self.repeat_rate if last_text is not None else 0.0)
        if rng.random() < p:
            value, prob = right, stay * p
        else:
            d = 0 if trap else rng.randrange(self.distractors)  # a trap always gives the same wrong value
            value = (right + (d // 2 + 1) * (1 if d % 2 == 0 else -1)) % m
            prob = stay * (1 - p) / (1 if trap else self.distractors)
        text = f"Step {j}: {value}\n" + (f"\\boxed{{{value}}}\n" if j == k else "")
        return self._step(text, math.log(max(prob, 1e-12)), terminal=j == k)

    @staticmethod
    def _step(text: str, logprob: float, terminal: bool = False) -> Step:
        # no token ids: the toy has no tokenizer, and made-up ids would reach model scorers as if
        # real (they tokenize a step's text when it has none); token budgets do not apply to it
        return Step(text, (), logprob, terminal)



def _after(task: Task, state: ToyState, step: Step, previous_text: str | None) -> ToyState:
    """The state after one more step (``read_state`` without re-reading the whole prefix)."""
    if step.text == previous_text or not step.text.startswith("Step "):  # a repeat, or a forced answer
        return ToyState(state.written + 1, state.advanced, state.value, state.on_path and step.text == previous_text)
    value = int(step.text.split(":", 1)[1].split()[0])
    gold = int(task.meta["steps"][state.advanced]["value"])
    return ToyState(state.written + 1, state.advanced + 1, value, state.on_path and value == gold)


@dataclass(frozen=True)
class NoisyPRM:
    """See the module docstring."""

    separation: float = 2.0
    noise: float = 1.0
    repeat_bias: float = 0.0
    seed: int = 0

    def score(self, prefixes: Sequence[Prefix]) -> list[list[float]]:
        return [self._score(p) for p in prefixes]

    def _score(self, prefix: Prefix) -> list[float]:
        _chain(prefix.task)
        crc = zlib.crc32(f"{self.seed}|{prefix.task.id}|{prefix.hints}".encode())
        state, previous, scores = ToyState(0, 0, int(prefix.task.meta["x0"]), True), None, []
        half = self.separation / 2
        for step in prefix.steps:
            crc = zlib.crc32(step.text.encode(), crc)
            state = _after(prefix.task, state, step, previous)
            eps = _NORMAL.inv_cdf((crc + 0.5) / 2**32)
            bias = self.repeat_bias if step.text == previous else 0.0
            logit = (half if state.on_path else -half) + self.noise * eps + bias
            scores.append(1.0 / (1.0 + math.exp(-logit)))
            previous = step.text
        return scores
