"""Turn the harness's report (what each test did) into per-test results, judged on the host.

Feedback names a test by number and shows its input, the expected output and the actual output
(each truncated), or the error or timeout: what the task allows a retry to see. It quotes the
candidate's stderr only as its last lines (the exception), never the harness's internals.
"""

from __future__ import annotations

import json
import signal
from dataclasses import dataclass
from typing import Any

from assay.verifiers.code import harness
from assay.verifiers.code.compare import Comparison
from assay.verifiers.code.gold import CallGold, Gold, StdioGold

STATUSES = ("passed", "wrong_answer", "runtime_error", "timeout", "output_limit", "memory")


@dataclass(frozen=True)
class TestResult:
    status: str  # one of STATUSES
    time_s: float
    feedback: str  # empty when passed


def judge_report(gold: Gold, report: dict, comparison: Comparison, chars: int) -> list[TestResult]:
    results = []
    for i, rec in enumerate(report.get("tests", [])):
        if isinstance(gold, StdioGold):
            results.append(_stdio(i, gold, rec, comparison, chars))
        elif isinstance(gold, CallGold):
            results.append(_call(i, gold, rec, comparison, chars))
        else:
            results.append(_check(rec, chars))
    return results


def clip(text: str, n: int) -> str:
    text = str(text)
    return text if len(text) <= n else text[: n - 3] + "..."


def _failure(rec: dict, chars: int) -> tuple[str, str] | None:
    """(status, description) when the process did not end normally, else None."""
    code = rec.get("exit_code", 0)
    if rec.get("timed_out") or code == -signal.SIGXCPU:
        return "timeout", "timed out"
    if rec.get("output_limit"):
        return "output_limit", "exceeded the output limit"
    stderr = str(rec.get("stderr", ""))
    if code == -signal.SIGKILL or "MemoryError" in stderr:
        return "memory", "was killed (memory limit exceeded?)" + _tail(stderr, chars)
    if code != 0:
        how = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
        return "runtime_error", f"crashed ({how})" + _tail(stderr, chars)
    return None


def _tail(stderr: str, chars: int) -> str:
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    return f":\n{clip(lines[-1], chars)}" if lines else ""


def _stdio(i: int, gold: StdioGold, rec: dict, comparison: Comparison, chars: int) -> TestResult:
    head = f"Test {i + 1} of {len(gold.inputs)}"
    shown_input = f"Input:\n{clip(gold.inputs[i], chars)}"
    failed = _failure(rec, chars)
    if failed is not None:
        status, what = failed
        return TestResult(status, rec.get("time_s", 0.0), f"{head} {what}.\n{shown_input}")
    actual = str(rec.get("stdout", ""))
    if comparison.text(actual, gold.outputs[i]):
        return TestResult("passed", rec.get("time_s", 0.0), "")
    return TestResult("wrong_answer", rec.get("time_s", 0.0),
                      f"{head} failed: wrong answer.\n{shown_input}\n"
                      f"Expected:\n{clip(gold.outputs[i], chars)}\nGot:\n{clip(actual, chars)}")


def _call(i: int, gold: CallGold, rec: dict, comparison: Comparison, chars: int) -> TestResult:
    head = f"Test {i + 1} of {len(gold.inputs)}"
    call = clip(f"{gold.fn_name}({', '.join(repr(a) for a in gold.inputs[i])})", chars)
    failed = _failure(rec, chars)
    if failed is not None:
        status, what = failed
        return TestResult(status, rec.get("time_s", 0.0), f"{head} {what}.\nCall: {call}")
    try:
        result = json.loads(rec.get("result") or "null")
    except (ValueError, RecursionError):
        result = None
    if not isinstance(result, dict) or not ("value" in result or "raised" in result):
        return TestResult("runtime_error", rec.get("time_s", 0.0),
                          f"{head} failed: the program exited before returning a value.\nCall: {call}")
    if "raised" in result:
        return TestResult("runtime_error", rec.get("time_s", 0.0),
                          f"{head} failed: {clip(result['raised'], chars)}\nCall: {call}")
    try:
        actual = harness.decode(result["value"])
    except (ValueError, TypeError, KeyError, RecursionError, OverflowError):
        return TestResult("runtime_error", rec.get("time_s", 0.0),
                          f"{head} failed: unreadable return value.\nCall: {call}")
    if comparison.value(actual, gold.outputs[i]):
        return TestResult("passed", rec.get("time_s", 0.0), "")
    return TestResult("wrong_answer", rec.get("time_s", 0.0),
                      f"{head} failed: wrong answer.\nCall: {call}\n"
                      f"Expected: {clip(repr(gold.outputs[i]), chars)}\nGot: {clip(_safe_repr(actual), chars)}")


def _safe_repr(value: Any) -> str:
    try:
        return repr(value)
    except (ValueError, RecursionError):  # e.g. an int past the str-conversion digit limit
        return "<value too large to show>"


def _check(rec: dict, chars: int) -> TestResult:
    try:
        result = json.loads(rec.get("result") or "null")
    except (ValueError, RecursionError):
        result = None
    if isinstance(result, dict) and result.get("passed") is True and not rec.get("timed_out"):
        return TestResult("passed", rec.get("time_s", 0.0), "")
    if rec.get("timed_out"):
        return TestResult("timeout", rec.get("time_s", 0.0), "The tests timed out.")
    if not isinstance(result, dict):
        return TestResult("runtime_error", rec.get("time_s", 0.0),
                          "The tests did not complete (the test process was killed).")
    where = f" at {clip(result.get('where'), chars)}" if result.get("where") else ""
    message = clip(result.get("message", ""), chars)
    status = "wrong_answer" if message.startswith("AssertionError") else "runtime_error"
    return TestResult(status, rec.get("time_s", 0.0), f"A test failed{where}:\n{message}")
