"""What every strategy shares: its entry point and its parameters' checks."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from assay.protocols import Policy, Scorer, Verifier
from assay.search.answers import final_answer
from assay.search.budget import Budget, Meter
from assay.search.result import SearchResult
from assay.search.session import SELECTIONS, AnswerFn, Session
from assay.types import Task


def positive(name: str, value, allow_zero: bool = False) -> None:
    low = 0 if allow_zero else 1
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")


def check_selection(selection: str) -> None:
    if selection not in SELECTIONS:
        raise ValueError(f"selection must be one of {', '.join(SELECTIONS)}, got {selection!r}")


@dataclass(frozen=True)
class Strategy:
    """Base of the strategies: ``search`` runs all ``tasks`` together, a round at a time, each
    problem under its own copy of ``budget``, and returns one ``SearchResult`` per task.

    ``verifier`` (optional) judges the chosen answer (the result's Verdict) and, with
    ``equivalence="auto"``, groups answers for votes; ``answer`` extracts a final answer from a
    finished trajectory's text. ``on_spend`` is called with the problems' ``Meter``s after every
    policy and scorer call (``Meter.used`` gives each one's share of its budget: a progress bar).
    """

    name = "strategy"
    needs_scorer = True

    def search(self, tasks: Sequence[Task], policy: Policy, scorer: Scorer | None = None, *, budget: Budget,
               verifier: Verifier | None = None, answer: AnswerFn = final_answer,
               equivalence: str = "auto", on_spend: Callable[[Sequence[Meter]], None] | None = None) -> list[SearchResult]:
        if isinstance(tasks, Task):
            raise TypeError("search takes a list of tasks; wrap a single task as [task]")
        if self.needs_scorer and scorer is None:
            raise ValueError(f"{type(self).__name__} needs a scorer (a PRM, an ensemble, or VerifierScorer)")
        session = Session(tasks, policy, scorer, budget, getattr(self, "aggregation", "last"), verifier, answer,
                          equivalence, on_spend)
        return self.run(session)

    def run(self, session: Session) -> list[SearchResult]:  # pragma: no cover - abstract
        raise NotImplementedError
