"""A real code verifier over the real bwrap sandbox (skips, or fails under ASSAY_REQUIRE_ALL=1,
when bubblewrap is missing), with short time limits so that hostile programs cost little."""

from __future__ import annotations

import pytest

from assay import Task
from tests.conftest import missing_dependency, require_binary


@pytest.fixture(scope="session")
def bwrap_ok() -> None:
    require_binary("bwrap")
    from assay.sandbox.bwrap_backend import BwrapBackend

    reason = BwrapBackend().check()
    if reason is not None:
        missing_dependency(f"bwrap backend unavailable: {reason}")


@pytest.fixture(scope="session")
def verifier(bwrap_ok):
    from assay.verifiers.code import CodeVerifier

    v = CodeVerifier(test_timeout_s=1.0, total_timeout_s=8.0, compile_timeout_s=10.0, workers=2)
    yield v
    v.close()


def stdio_task(pairs, task_id="stdio") -> Task:
    return Task(task_id, "p", answer={"tests": [{"input": i, "output": o} for i, o in pairs]}, domain="code")


def call_task(fn_name, inputs, outputs, task_id="call") -> Task:
    return Task(task_id, "p", answer={"fn_name": fn_name, "inputs": inputs, "outputs": outputs}, domain="code")


def check_task(entry_point, test, task_id="check", prelude="") -> Task:
    answer = {"entry_point": entry_point, "test": test}
    if prelude:
        answer["prelude"] = prelude
    return Task(task_id, "p", answer=answer, domain="code")


def fenced(code: str, lang: str = "python") -> str:
    return f"Here is my solution.\n```{lang}\n{code}\n```\n"
