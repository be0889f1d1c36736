"""Issue 9, item 6: with the SWE grader's feedback (failing test ids and pytest's output),
``GuidedRetry`` re-attempts a task. The scripted policy first submits a wrong fix; its second
attempt reads the failing test names in the hint and submits the right one."""

from __future__ import annotations

from assay.envs.swe.tasks import to_task
from assay.protocols import Step
from assay.search import Budget, GuidedRetry
from assay.verifiers.swe.verifier import SWEVerifier
from tests.verifiers.swe.patches import ORDINAL, make_patch, task


class FeedbackReadingPolicy:
    def __init__(self, wrong: str, right: str) -> None:
        self.wrong, self.right, self.hints_seen = wrong, right, []

    def propose(self, prefixes, k):
        return [[self._step(p)] * k for p in prefixes]

    def complete(self, prefixes, max_steps=None):
        return [(self._step(p),) for p in prefixes]

    def _step(self, prefix):
        self.hints_seen.append(prefix.hints)
        told = any("test_ordinal" in h and "FAIL_TO_PASS" in h for h in prefix.hints)
        return Step(self.right if told else self.wrong, terminal=True)


def test_guided_retry_fixes_the_task_from_the_graders_feedback(bwrap_runtime):
    inst = task(ORDINAL)
    wrong = make_patch(inst, {"inflection/__init__.py": lambda t: t.replace("return \"th\"", "return \"st\"", 1)})
    policy = FeedbackReadingPolicy(wrong, inst.patch)
    [result] = GuidedRetry(attempts=3).search([to_task(inst)], policy, budget=Budget(steps=10),
                                              verifier=SWEVerifier("bwrap"))
    assert result.passed and result.chosen == 1 and len(result.explored) == 2
    assert policy.hints_seen[0] == () and "test_ordinal" in policy.hints_seen[1][0]
