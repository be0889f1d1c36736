"""What every verifier shares: batch verification on threads, the never-raise guarantee, and the
gold self-check."""

from __future__ import annotations

import traceback
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from assay.types import Task, Verdict


class BaseVerifier:
    """Subclasses implement :meth:`_verify`; callers use :meth:`verify` / :meth:`verify_batch`.

    ``verify`` turns any exception from ``_verify`` into ``Verdict.failure`` so a bug or a hostile
    response can cost a sample, never a training run. ``_verify`` must itself be thread-safe and
    must bound its own time (no ``signal.alarm``: it only works on the main thread).
    """

    name: str = "base"
    version: str = "0"
    max_workers: int = 8

    def _verify(self, task: Task, response: str) -> Verdict:
        raise NotImplementedError

    def verify(self, task: Task, response: str) -> Verdict:
        if not isinstance(response, str):
            return Verdict.failure(f"response must be str, got {type(response).__name__}")
        try:
            return self._verify(task, response)
        except Exception as e:  # never raise on model output; keep the evidence
            return Verdict.failure(
                f"{self.name} verifier crashed: {type(e).__name__}: {e}",
                traceback=traceback.format_exc(limit=8),
            )

    def verify_batch(self, tasks: Sequence[Task], responses: Sequence[str]) -> list[Verdict]:
        if len(tasks) != len(responses):
            raise ValueError(f"verify_batch got {len(tasks)} tasks and {len(responses)} responses")
        if len(tasks) <= 1:
            return [self.verify(t, r) for t, r in zip(tasks, responses)]
        with ThreadPoolExecutor(max_workers=min(self.max_workers, len(tasks))) as pool:
            return list(pool.map(self.verify, tasks, responses))

    def gold_response(self, task: Task) -> str:
        """A response that states the gold answer in this verifier's expected format."""
        raise NotImplementedError

    def self_check(self, task: Task) -> Verdict:
        """Verify the task's own gold answer: a verifier must accept its gold (else the gold or
        the verifier is broken, and the task would teach nothing)."""
        return self.verify(task, self.gold_response(task))
