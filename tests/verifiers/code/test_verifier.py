"""The code verifier on honest programs: formats, feedback, rewards, comparison modes, languages."""

from __future__ import annotations

import pickle

import pytest

import assay.verifiers
from assay import Task
from assay.verifiers.code import CodeVerifier
from tests.conftest import require_binary
from tests.verifiers.code.conftest import call_task, check_task, fenced, stdio_task

ADD = stdio_task([("1 2\n", "3\n"), ("10 -4\n", "6\n"), ("0 0\n", "0\n")])
ADD_PY = "a, b = map(int, input().split())\nprint(a + b)"


def test_registered_under_code():
    assert "code" in assay.verifiers.available()
    assert isinstance(assay.verifiers.get("code"), CodeVerifier)


def test_every_shipped_problem_accepts_its_reference_solution(verifier):
    from assay.envs.code_env import builtin_problems

    tasks = list(builtin_problems())
    assert len(tasks) >= 30
    assert {t.answer.keys().__iter__().__next__() for t in tasks} >= {"tests", "fn_name", "entry_point"}
    verdicts = verifier.verify_batch(tasks, [verifier.gold_response(t) for t in tasks])
    assert [(t.id, v.feedback) for t, v in zip(tasks, verdicts) if not v.passed] == []
    assert all(v.reward == 1.0 and v.error is None for v in verdicts)


def test_stdio_pass_and_fail_with_feedback(verifier):
    assert verifier.verify(ADD, fenced(ADD_PY)).passed
    verdict = verifier.verify(ADD, fenced("a, b = map(int, input().split())\nprint(a - b)"))
    assert not verdict.passed and verdict.error is None
    assert verdict.components == {"pass_fraction": pytest.approx(1 / 3), "all_pass": 0.0}
    assert verdict.feedback == "Test 1 of 3 failed: wrong answer.\nInput:\n1 2\n\nExpected:\n3\n\nGot:\n-1\n"


def test_call_based_feedback_shows_the_call(verifier):
    task = call_task("mul", [[2, 2], [4, 5]], [4, 20])
    assert verifier.verify(task, fenced("def mul(a, b):\n    return a * b")).passed
    verdict = verifier.verify(task, fenced("def mul(a, b):\n    return a + b"))
    assert "Call: mul(4, 5)\nExpected: 20\nGot: 9" in verdict.feedback
    assert "Test 2 of 2" in verdict.feedback


def test_call_based_leetcode_class_and_apps_wrapped_output(verifier):
    task = call_task("pair", [[1]], [[[1, 1]]])  # APPS wraps the expected value in a list
    assert verifier.verify(task, fenced("class Solution:\n    def pair(self, x):\n        return (x, x)")).passed


def test_check_mode_feedback_names_the_failing_assert(verifier):
    task = check_task("inc", "def check(candidate):\n    assert candidate(1) == 2\n    assert candidate(-1) == 0\n")
    assert verifier.verify(task, fenced("def inc(x):\n    return x + 1")).passed
    verdict = verifier.verify(task, fenced("def inc(x):\n    return abs(x) + 1"))
    assert "line 3: assert candidate(-1) == 0" in verdict.feedback and verdict.components["all_pass"] == 0.0


def test_check_mode_runs_mbpp_style_asserts_and_expected_exceptions(verifier):
    task = check_task("div", "assert div(6, 3) == 2\ntry:\n    div(1, 0)\nexcept ZeroDivisionError:\n    pass\nelse:\n    raise AssertionError('no error')\n")
    assert verifier.verify(task, fenced("def div(a, b):\n    return a // b")).passed
    assert not verifier.verify(task, fenced("def div(a, b):\n    return a // b if b else 0")).passed


def test_check_mode_prelude_is_available_to_the_candidate(verifier):
    task = check_task("twice", "def check(c):\n    assert c(2) == 4\n", prelude="def helper(x):\n    return 2 * x\n")
    assert verifier.verify(task, fenced("def twice(x):\n    return helper(x)")).passed


def test_timeout_and_runtime_error_feedback(verifier):
    verdict = verifier.verify(ADD, fenced("import time\ntime.sleep(5)"))
    assert verdict.details["tests"][0]["status"] == "timeout" and "Test 1 of 3 timed out." in verdict.feedback
    verdict = verifier.verify(ADD, fenced("print(1 / 0)"))
    assert "crashed (exit code 1)" in verdict.feedback and "ZeroDivisionError: division by zero" in verdict.feedback


def test_syntax_error_is_a_failure_not_a_verifier_error(verifier):
    verdict = verifier.verify(ADD, fenced("def broken(:\n    pass"))
    assert not verdict.passed and verdict.error is None and "does not compile" in verdict.feedback


def test_the_last_fenced_block_is_the_program_and_unfenced_text_is_one(verifier):
    response = f"First try:\n```python\nprint('nope')\n```\nBetter:\n```python\n{ADD_PY}\n```\nDone."
    assert verifier.verify(ADD, response).passed
    assert verifier.verify(ADD, ADD_PY).passed
    assert not verifier.verify(ADD, "").passed


def test_malformed_gold_is_a_verifier_error(verifier):
    for answer in (None, "3", {"tests": []}, {"fn_name": "f", "inputs": [[1]], "outputs": []},
                   {"entry_point": "f", "test": "def check(:"}, {"tests": [{"input": 1, "output": "x"}]}):
        verdict = verifier.verify(Task("bad", "p", answer=answer), "print(1)")
        assert verdict.error is not None and verdict.error.startswith("malformed gold"), answer
        assert not verdict.passed


def test_pass_fraction_reward_option(bwrap_ok):
    v = CodeVerifier(reward="pass_fraction", test_timeout_s=1.0, total_timeout_s=5.0, workers=1)
    try:
        verdict = v.verify(ADD, fenced("print(3)"))
    finally:
        v.close()
    assert verdict.reward == pytest.approx(1 / 3) and not verdict.passed


@pytest.mark.parametrize(("mode", "got", "ok"), [
    ("exact", "3\n", True), ("exact", "3 \n", False), ("whitespace", "  3  \n\n", True),
    ("whitespace", "3.0000001\n", False), ("float", "3.0000001\n", True), ("float", "3.01\n", False),
])
def test_comparison_modes_end_to_end(bwrap_ok, mode, got, ok):
    v = CodeVerifier(compare=mode, test_timeout_s=1.0, total_timeout_s=5.0, workers=1)
    try:
        verdict = v.verify(stdio_task([("", "3\n")]), fenced(f"import sys\nsys.stdout.write({got!r})"))
    finally:
        v.close()
    assert verdict.passed is ok


@pytest.mark.parametrize(("lang", "code"), [
    ("c", '#include <stdio.h>\nint main(void){int a,b;scanf("%d %d",&a,&b);printf("%d\\n",a+b);return 0;}'),
    ("cpp", '#include <iostream>\nint main(){long a,b;std::cin>>a>>b;std::cout<<a+b<<"\\n";}'),
])
def test_c_and_cpp_programs(verifier, lang, code):
    require_binary("gcc" if lang == "c" else "g++")
    assert verifier.verify(ADD, fenced(code, lang)).passed
    broken = verifier.verify(ADD, fenced("int main( {", lang))
    assert not broken.passed and broken.error is None and "does not compile" in broken.feedback


def test_verifier_pickles_without_its_pool(verifier):
    clone = pickle.loads(pickle.dumps(verifier))
    try:
        assert clone._pool is None and clone.verify(ADD, fenced(ADD_PY)).passed
    finally:
        clone.close()


@pytest.mark.parametrize("kwargs", [{"compare": "fuzzy"}, {"reward": "mean"}, {"test_timeout_s": 0},
                                    {"test_timeout_s": 10, "total_timeout_s": 5}, {"memory_mb": 8}])
def test_bad_options_are_rejected(kwargs):
    with pytest.raises(ValueError):
        CodeVerifier(**kwargs)
