import pytest

from assay.search import Budget, GuidedRetry
from tests.search.helpers import ScriptedPolicy, math_verifier, task


def hint(task, response, verdict):
    return f"not {response.strip()}: {verdict.feedback[:20]}"


class HintedPolicy(ScriptedPolicy):
    def _next(self, prefix, written=""):
        from assay.protocols import Step

        text = "\\boxed{7}" if prefix.hints else "\\boxed{8}"
        return Step(text, (1, 2), -1.0, True)


def test_a_failed_attempt_is_retried_with_the_verifiers_feedback():
    p = HintedPolicy({})
    [result] = GuidedRetry(attempts=3, guidance=hint).search([task()], p, budget=Budget(steps=10),
                                                             verifier=math_verifier())
    assert result.passed and result.answer == "7" and result.chosen == 1
    first, second = result.explored
    assert first.hints == () and second.hints[0].startswith("not \\boxed{8}")
    assert result.cost.steps == 2  # stopped at the first pass


def test_default_guidance_is_the_feedback_and_problems_are_batched():
    p = HintedPolicy({})
    results = GuidedRetry(attempts=2).search([task(0), task(1)], p, budget=Budget(steps=10), verifier=math_verifier())
    assert all(r.passed for r in results)
    assert results[0].explored[1].hints[0].startswith("Your previous attempt was judged wrong")
    assert p.calls == [("complete", 2, None), ("complete", 2, None)]


def test_the_budget_ends_retries():
    [result] = GuidedRetry(attempts=3).search([task()], HintedPolicy({}), budget=Budget(steps=1),
                                              verifier=math_verifier())
    assert len(result.explored) == 1 and not result.passed and result.stopped == "budget"


def test_guided_retry_needs_a_verifier():
    with pytest.raises(ValueError, match="verifier"):
        GuidedRetry().search([task()], HintedPolicy({}), budget=Budget(steps=3))
