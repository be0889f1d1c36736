"""Final answers of explored trajectories, grouped by the domain verifier's equivalence, and the
votes over those groups (majority and weighted best-of-N).

Weighted best-of-N (search-and-learn): argmax over answers ``a`` of ``sum_{i: ans_i = a} w_i``;
majority vote is the same with ``w_i = 1``. Grouping first merges identical strings, then asks
the verifier whether two different strings are the same answer (``\\frac12`` and ``0.5``), so it
costs one verification per pair of *distinct* answers, not per pair of trajectories.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from assay.protocols import Verifier
from assay.types import Task

Equivalence = Callable[[str, str], bool]


def final_answer(task: Task, response: str) -> str | None:
    """The answer a response commits to, or None (no boxed / answer-like span)."""
    from assay.verifiers.math.extraction import extract_answer  # math's extraction reads any \boxed{}

    found = extract_answer(response)
    return found.text.strip() if found.found else None


def exact_equivalence(a: str, b: str) -> bool:
    return a == b


def verifier_equivalence(verifier: Verifier, task: Task) -> Equivalence:
    """``a ~ b`` when the verifier accepts ``b`` against ``a`` as gold (for math: math-verify)."""

    def same(a: str, b: str) -> bool:
        probe = Task(id=f"{task.id}/equivalence", prompt="", answer=a, domain=task.domain)
        verdict = verifier.verify(probe, f"\\boxed{{{b}}}")
        return verdict.error is None and verdict.passed

    return same


def group_answers(answers: Sequence[str | None], same: Equivalence = exact_equivalence) -> list[list[int]]:
    """Indices of ``answers`` grouped by equivalence (None answers are left out); groups keep the
    order of their first member."""
    by_string: dict[str, list[int]] = {}
    for i, a in enumerate(answers):
        if a is not None:
            by_string.setdefault(a, []).append(i)
    groups: list[tuple[str, list[int]]] = []
    for text, members in by_string.items():
        for representative, group in groups:
            if same is not exact_equivalence and same(representative, text):
                group.extend(members)
                break
        else:
            groups.append((text, list(members)))
    return [sorted(g) for _, g in groups]


def vote(answers: Sequence[str | None], weights: Sequence[float] | None = None,
         same: Equivalence = exact_equivalence) -> int | None:
    """Index of a representative of the winning answer group (its highest-weighted member), or
    None when no trajectory has an answer. Ties go to the group seen first."""
    weights = [1.0] * len(answers) if weights is None else list(weights)
    best, best_total = None, float("-inf")
    for group in group_answers(answers, same):
        total = sum(weights[i] for i in group)
        if total > best_total:
            best, best_total = max(group, key=lambda i: weights[i]), total
    return best
