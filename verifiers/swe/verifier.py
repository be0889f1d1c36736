"""``SWEVerifier``: a response (a unified diff, bare or in a fenced block) graded as SWE-bench does.

``task.answer`` holds the instance record (``instance.py``); ``task.answer["patch"]`` is the gold
fix. The reward is 1.0 when the instance is resolved, else 0.0; ``components`` carry the
FAIL_TO_PASS and PASS_TO_PASS pass fractions; ``feedback`` lists the failing tests and pytest's
output (never the gold), which is what a guided retry shows the model.
"""

from __future__ import annotations

import re
from assay.types import Task, Verdict
from assay.verifiers.base import BaseVerifier
from assay.verifiers.swe.grader import grade
from assay.verifiers.swe.instance import from_record
from assay.verifiers.swe.results import feedback
from assay.verifiers.swe.workspace import Runtime

_FENCE = re.compile(r"```(?:diff|patch)?[ \t]*\n(.*?)```", re.S)


def extract_patch(response: str) -> str:
    """The last fenced diff block, or the whole response when it is a bare diff (or empty)."""
    blocks = [b for b in _FENCE.findall(response) if "--- " in b or "diff --git" in b]
    if blocks:
        return blocks[-1]
    return response if response.lstrip().startswith(("diff ", "--- ", "Index: ")) or not response.strip() else ""


class SWEVerifier(BaseVerifier):
    name = "swe"
    version = "1"

    max_workers = 2  # each grading is a sandbox running pytest: a core's worth of work

    def __init__(self, backend: str = "bwrap", image: str | None = None, timeout_s: float = 300.0) -> None:
        self.runtime = Runtime(backend, image)
        self.timeout_s = timeout_s

    def gold_response(self, task: Task) -> str:
        return str(task.answer.get("patch", ""))

    def _verify(self, task: Task, response: str) -> Verdict:
        try:
            instance = from_record(task.answer)
        except Exception as e:
            return Verdict.failure(f"malformed gold: {e}")
        if not instance.FAIL_TO_PASS:
            return Verdict.failure("malformed gold: the instance lists no FAIL_TO_PASS tests")
        patch = extract_patch(response)
        if response.strip() and not patch:
            return Verdict(reward=0.0, passed=False, components={"format": 0.0},
                           feedback="no patch found: answer with a unified diff (```diff ... ```)")
        try:
            graded = grade(instance, patch, self.runtime, self.timeout_s)
        except Exception as e:  # sandbox or snapshot failure: the verifier could not judge
            return Verdict.failure(f"could not grade: {type(e).__name__}: {e}")
        o = graded.outcome
        details = {"tests": {t.test_id: t.status for t in o.tests}, "problem": o.problem, "log": graded.log,
                   "setup_s": graded.setup_s, "grade_s": graded.grade_s,
                   "applied": (graded.answer or {}).get("applied"), "reverted": (graded.answer or {}).get("reverted", [])}
        return Verdict(
            reward=1.0 if o.resolved else 0.0, passed=o.resolved,
            components={"FAIL_TO_PASS": o.fraction("FAIL_TO_PASS"), "PASS_TO_PASS": o.fraction("PASS_TO_PASS"),
                        "format": 1.0},
            feedback=feedback(o, graded.log), details=details, error=graded.error,
        )
