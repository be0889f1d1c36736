"""What a search returns: the chosen answer with its Verdict, every explored trajectory with its
step scores, the MCTS tree, and the cost. Frozen values, so results can be kept and compared."""

from __future__ import annotations

from dataclasses import dataclass

from assay.protocols import Step
from assay.search.budget import Cost
from assay.types import Task, Verdict


@dataclass(frozen=True)
class Explored:
    """One trajectory the search wrote (finished or cut off), with the scorer's view of it.

    ``score`` is ``step_scores`` aggregated with the strategy's aggregation (None when no scorer
    looked at it); ``answer`` is its final answer, None if it has none (not finished, or no
    answer-like span).
    """

    steps: tuple[Step, ...]
    step_scores: tuple[float, ...] = ()
    score: float | None = None
    answer: str | None = None
    hints: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        return "".join(s.text for s in self.steps)

    @property
    def done(self) -> bool:
        return bool(self.steps) and self.steps[-1].terminal


@dataclass(frozen=True)
class TreeNode:
    """A frozen snapshot of one MCTS node: the step that leads to it and its statistics."""

    step: Step | None  # None at the root
    visits: int
    value: float  # backed-up value (mean or max, per the backup rule)
    prior: float
    score: float | None  # the scorer's value of the prefix ending here
    terminal: bool
    children: tuple[TreeNode, ...] = ()

    def size(self) -> int:
        return 1 + sum(c.size() for c in self.children)


@dataclass(frozen=True)
class SearchResult:
    """One problem's search. ``chosen`` indexes ``explored`` (None: no trajectory has an answer);
    ``stopped`` is ``"done"`` (the strategy finished) or ``"budget"`` (a limit ended it)."""

    task: Task
    strategy: str
    answer: str | None
    response: str
    verdict: Verdict | None
    explored: tuple[Explored, ...]
    chosen: int | None
    cost: Cost
    stopped: str
    tree: TreeNode | None = None

    @property
    def passed(self) -> bool:
        return self.verdict is not None and self.verdict.passed
