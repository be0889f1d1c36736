"""Deterministic stand-ins for a policy and a scorer, so strategy tests can state exact outcomes.

``ScriptedPolicy`` answers from a script: for each prefix text, the candidate steps it cycles
through. ``TableScorer`` scores a step by the text of the prefix that ends with it. Both log
their calls, which is how tests check batching and caching.
"""

from __future__ import annotations

from collections import defaultdict

from assay.protocols import Prefix, Step
from assay.types import Task


def math_verifier():
    from assay import verifiers

    return verifiers.get("math")


def task(i: int = 0, answer: str = "7") -> Task:
    return Task(id=f"t{i}", prompt=f"problem {i}", answer=answer, domain="math")


class ScriptedPolicy:
    def __init__(self, script: dict[str, list[tuple[str, bool]]]):
        self.script = script
        self.calls: list[tuple] = []
        self._cursor: dict[tuple, int] = defaultdict(int)

    def _next(self, prefix: Prefix, written: str = "") -> Step:
        key = (prefix.task.id, prefix.hints, prefix.text + written)
        options = self.script.get((prefix.hints, key[2])) or self.script[key[2]]
        text, terminal = options[self._cursor[key] % len(options)]
        self._cursor[key] += 1
        return Step(text, tuple(range(len(text))), -0.5 * len(text), terminal, (-0.5,) * len(text))

    def propose(self, prefixes, k):
        self.calls.append(("propose", len(prefixes), k))
        return [[self._next(p) for _ in range(k)] for p in prefixes]

    def complete(self, prefixes, max_steps=None):
        self.calls.append(("complete", len(prefixes), max_steps))
        out = []
        for p in prefixes:
            new: list[Step] = []
            while not (new and new[-1].terminal) and (max_steps is None or len(new) < max_steps):
                new.append(self._next(p, "".join(s.text for s in new)))
            out.append(tuple(new))
        return out


class TableScorer:
    def __init__(self, table: dict[str, float], default: float = 0.5):
        self.table, self.default = table, default
        self.seen: list[tuple] = []
        self.calls = 0

    def score(self, prefixes):
        self.calls += 1
        out = []
        for p in prefixes:
            self.seen.append(p.key)
            text, scores = "", []
            for s in p.steps:
                text += s.text
                scores.append(self.table.get(text, self.default))
            out.append(scores)
        return out
