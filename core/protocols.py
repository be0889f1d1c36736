"""The seams between layers. Each protocol is a few lines; implementations live in the layer
that owns them and are passed in (DESIGN.md: dependencies point one way)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from assay.types import Task, Verdict


@runtime_checkable
class Verifier(Protocol):
    """Judges a response to a task. Never raises on bad model output: returns a Verdict."""

    name: str
    version: str

    def verify(self, task: Task, response: str) -> Verdict: ...

    def verify_batch(self, tasks: Sequence[Task], responses: Sequence[str]) -> list[Verdict]: ...
