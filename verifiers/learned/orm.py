"""An outcome reward model: a scalar head over any Hugging Face transformer (Bradley-Terry)."""

from __future__ import annotations

from collections.abc import Sequence

from assay.protocols import Prefix
from assay.types import Task
from assay.verifiers.learned.outcome import last_step_rewards
from assay.verifiers.learned.prm import ValueHeadPRM


class ValueHeadORM(ValueHeadPRM):
    """``r(prompt, response) = head(h)`` at the response's last token: an unbounded score trained
    pairwise (Bradley-Terry: ``p(chosen > rejected) = sigmoid(r_c - r_r)``), so only differences
    mean something. Same checkpoint format as ``ValueHeadPRM`` (model directory plus
    ``value_head.safetensors``), written by ``assay train-rm --kind orm``.

    As a ``Scorer`` it reads every step's prefix as if it were the whole response (raw scores,
    not probabilities: aggregate with ``last``)."""

    def score(self, prefixes: Sequence[Prefix]) -> list[list[float]]:
        return self.logits(prefixes)

    def rewards(self, tasks: Sequence[Task], responses: Sequence[str]) -> list[float]:
        """One scalar per (task, response), the response read as a single step."""
        return last_step_rewards(self, tasks, responses)
