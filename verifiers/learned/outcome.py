"""Any step scorer read as an outcome reward model: the response as one step, its score the reward."""

from __future__ import annotations

from collections.abc import Sequence

from assay.protocols import Prefix, Scorer, Step
from assay.types import Task


def last_step_rewards(scorer: Scorer, tasks: Sequence[Task], responses: Sequence[str]) -> list[float]:
    """One scalar per (task, response): ``scorer``'s score of the response read as a single step
    (the ``rewards`` of an ORM, for a single model or an ensemble of them)."""
    rows = scorer.score([Prefix(t, (Step(r),)) for t, r in zip(tasks, responses)])
    return [row[-1] for row in rows]
