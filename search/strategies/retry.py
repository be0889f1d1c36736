"""Guided retries (Agent-RLVR, Da et al. 2025): attempt, verify, guide, attempt again."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from assay.protocols import Prefix
from assay.search.result import SearchResult
from assay.search.session import Session
from assay.search.strategies.base import Strategy, positive
from assay.types import Task, Verdict

Guidance = Callable[[Task, str, Verdict], str]


def feedback_guidance(task: Task, response: str, verdict: Verdict) -> str:
    """The default guidance: the verifier's own feedback on the failed attempt."""
    return f"Your previous attempt was judged wrong: {verdict.feedback or verdict.error or 'no details'}"


@dataclass(frozen=True)
class GuidedRetry(Strategy):
    """Up to ``attempts`` solutions per problem. After a failed attempt, ``guidance(task,
    response, verdict)`` (the verifier's feedback by default; Agent-RLVR also uses plans and
    environment hints) is added to the prefix's hints and the policy writes a fresh solution.
    Stops at the first passing attempt. Needs the verifier (it reads the gold), so this is a
    training-time strategy: the guided trajectories are what Agent-RLVR trains on. A scorer, when
    given, scores the attempts for the record. ``keep_hints`` keeps every earlier hint in the
    prefix (else only the latest)."""

    attempts: int = 3
    guidance: Guidance = feedback_guidance
    keep_hints: bool = True
    name = "guided_retry"
    needs_scorer = False

    def __post_init__(self) -> None:
        positive("attempts", self.attempts)
        if not callable(self.guidance):
            raise TypeError("guidance must be callable (task, response, verdict) -> str")

    def run(self, session: Session) -> list[SearchResult]:
        if session.verifier is None:
            raise ValueError("GuidedRetry needs a verifier: its feedback is the guidance")
        problems = range(len(session.tasks))
        current = {i: Prefix(session.tasks[i]) for i in problems}
        attempts: dict[int, list[Prefix]] = {i: [] for i in problems}
        verdicts_of: dict[int, list[Verdict]] = {i: [] for i in problems}
        passed: dict[int, int | None] = {i: None for i in problems}
        for _ in range(self.attempts):
            requests = [(i, current[i]) for i in problems
                        if passed[i] is None and session.meters[i].steps_left() > 0]
            if not requests:
                break
            written = [(i, p.extend(*steps)) for (i, p), steps in zip(requests, session.complete(requests))]
            verdicts = session.verifier.verify_batch([p.task for _, p in written], [p.text for _, p in written])
            for (i, attempt), verdict in zip(written, verdicts):
                attempts[i].append(attempt)
                verdicts_of[i].append(verdict)
                if verdict.passed:
                    passed[i] = len(attempts[i]) - 1
                    continue
                hint = self.guidance(attempt.task, attempt.text, verdict)
                hints = (attempt.hints if self.keep_hints else ()) + (hint,)
                current[i] = Prefix(attempt.task, (), hints)
        if session.scorer is not None:
            session.values([(i, p) for i in problems for p in attempts[i]])
        results = []
        for i in problems:
            explored = session.explored(attempts[i], scored=session.scorer is not None)
            chosen = passed[i] if passed[i] is not None else (len(explored) - 1 if explored else None)
            if chosen is not None and not explored[chosen].done:
                chosen = None
            verdict = verdicts_of[i][chosen] if chosen is not None else None  # judged already: not twice
            results.append(session.result(i, self.name, explored, chosen, verdict=verdict))
        return results
