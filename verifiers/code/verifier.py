"""``CodeVerifier``: does the response's program pass the task's tests?

The program is the response's last fenced code block, or the whole text when there is none
(:mod:`~assay.verifiers.code.extract`). Gold formats: :mod:`~assay.verifiers.code.gold`.
Python always; C and C++ (gcc/g++) for stdin/stdout tests when the fence or the gold says so.

How a verdict is reached, and why it cannot be faked from inside the sandbox:
all tests of a problem run in one pooled sandbox run through :mod:`~assay.verifiers.code.harness`,
each test in a fresh fork with its own time limit, under one global limit. The harness answers
with ``nonce\\n{report}``, and a report without this run's nonce counts as a failure. The report holds
what each test *did* (stdout text, a return value in a strict plain-data codec, exit code,
timing); the expected outputs of stdin/stdout and call-based tests never enter the sandbox, and
the comparison (:mod:`~assay.verifiers.code.compare`) runs here, on plain data. Check-mode tests
(HumanEval/MBPP asserts) run in the sandbox in a process the candidate does not share, under a
harness whose nonce no candidate process ever held (details in ``harness.py``).

Reward: ``all_pass`` (1/0) by default, or ``pass_fraction`` with ``reward="pass_fraction"``; both
are in ``components``. ``passed`` is ``all_pass``.

Does not cover: partial credit inside one check function, special judges (several valid
answers), interactive problems, programs that need third-party packages (pooled sandboxes run
Python without site-packages), stateful call sequences (each call-based test is a fresh process).
"""

from __future__ import annotations

import json
import marshal
import os
import secrets
import threading
from pathlib import Path
from typing import Any

from assay.sandbox import ExecResult, Limits, SandboxPool, SandboxUnavailable
from assay.types import Task, Verdict
from assay.verifiers.base import BaseVerifier
from assay.verifiers.code import harness
from assay.verifiers.code.compare import Comparison
from assay.verifiers.code.extract import extract_program
from assay.verifiers.code.gold import CallGold, CheckGold, Gold, GoldError, StdioGold, parse_gold
from assay.verifiers.code.report import TestResult, judge_report

HARNESS_SOURCE = Path(harness.__file__).read_text(encoding="utf-8")
# The fast path sends the harness compiled once here (the sandbox runs this same interpreter):
# compiling its source in every run cost ~5 ms a problem, a third of the harness's own overhead.
HARNESS_CODE = marshal.dumps(compile(HARNESS_SOURCE, "harness.py", "exec"))
BOOTSTRAP = "import marshal\nwith open('harness.code', 'rb') as f:\n    exec(marshal.loads(f.read()))\n"
REWARDS = ("all_pass", "pass_fraction")
_DISK_MB = 256  # fixed per pool: each test's input and output files live in its /tmp


class CodeVerifier(BaseVerifier):
    """See the module docstring. All arguments have defaults: ``assay.verifiers.get("code")``."""

    name = "code"
    version = "1.0.0"

    def __init__(
        self,
        compare: str = "whitespace",
        abs_tol: float = 1e-6,
        rel_tol: float = 1e-6,
        reward: str = "all_pass",
        test_timeout_s: float = 4.0,
        total_timeout_s: float = 60.0,
        memory_mb: int = 512,
        output_bytes: int = 1 << 18,
        compile_timeout_s: float = 20.0,
        workers: int | None = None,
        feedback_chars: int = 300,
    ) -> None:
        if reward not in REWARDS:
            raise ValueError(f"reward must be one of {REWARDS}, got {reward!r}")
        for label, value in (("test_timeout_s", test_timeout_s), ("total_timeout_s", total_timeout_s),
                             ("compile_timeout_s", compile_timeout_s)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 3600:
                raise ValueError(f"{label} must be a number of seconds in (0, 3600], got {value!r}")
        if test_timeout_s > total_timeout_s:
            raise ValueError(f"test_timeout_s ({test_timeout_s}) must not exceed total_timeout_s ({total_timeout_s})")
        if not isinstance(memory_mb, int) or memory_mb < 32:
            raise ValueError(f"memory_mb must be an int >= 32, got {memory_mb!r}")
        if not isinstance(output_bytes, int) or not 1 << 10 <= output_bytes <= 1 << 28:
            raise ValueError(f"output_bytes must be an int in [1 KiB, 256 MiB], got {output_bytes!r}")
        self.comparison = Comparison(compare, abs_tol, rel_tol)
        self.reward = reward
        self.test_timeout_s = float(test_timeout_s)
        self.total_timeout_s = float(total_timeout_s)
        self.compile_timeout_s = float(compile_timeout_s)
        self.memory_mb = memory_mb
        self.output_bytes = output_bytes
        self.workers = workers or os.cpu_count() or 1
        self.feedback_chars = feedback_chars
        self._pool: SandboxPool | None = None
        self._pool_lock = threading.Lock()

    @property
    def pool(self) -> SandboxPool:
        with self._pool_lock:
            if self._pool is None:
                self._pool = SandboxPool(self.workers, self._limits(1))
            return self._pool

    def _limits(self, n_tests: int) -> Limits:
        # The whole run: the harness, one test process at a time (two in check mode) and its
        # report, which carries every test's stdout (JSON-escaped: up to 6 bytes per byte).
        slack = 5.0 + self.compile_timeout_s
        return Limits(wall_s=self.total_timeout_s + slack, cpu_s=self.total_timeout_s + slack,
                      memory_mb=2 * self.memory_mb + 256, pids=64,
                      output_bytes=min(1 << 34, 6 * self.output_bytes * n_tests + (1 << 20)), disk_mb=_DISK_MB)

    # -- the Verifier protocol --------------------------------------------------------------
    def gold_response(self, task: Task) -> str:
        solution = (task.meta or {}).get("solution")
        if not isinstance(solution, str) or not solution.strip():
            raise ValueError(f"task {task.id} has no reference solution (meta['solution']) "
                             "to build a gold response from")
        fence = {"c": "c", "cpp": "cpp"}.get(str((task.answer or {}).get("language", "python")), "python")
        return f"```{fence}\n{solution.rstrip()}\n```"

    def _verify(self, task: Task, response: str) -> Verdict:
        try:
            gold = parse_gold(task.answer)
        except GoldError as e:
            return Verdict.failure(f"malformed gold: {e}")
        program = extract_program(response)
        language = gold.language
        if isinstance(gold, StdioGold) and program.language is not None:
            language = program.language  # a C++ answer to a stdin/stdout problem is judged as C++
        details: dict[str, Any] = {"language": language, "fenced": program.fenced, "mode": gold.mode}
        if not program.source.strip():
            return self._verdict([], 0, details, "No program found: the response (or its last code block) is empty.")
        try:
            result, nonce = self._run(gold, program.source, language)
        except SandboxUnavailable as e:
            return Verdict.failure(f"sandbox unavailable: {e}", **details)
        report = _read_report(result, nonce)
        if isinstance(report, str):  # no trustworthy report: the program broke the harness
            details["sandbox"] = {"exit_code": result.exit_code, "timed_out": result.timed_out,
                                  "memory_exceeded": result.memory_exceeded}
            return self._verdict([], _count(gold), details, f"The tests did not complete: {report}.")
        if "harness_error" in report:
            return Verdict.failure("the code harness failed", harness_error=report["harness_error"], **details)
        if "compile_error" in report:
            details["compile_error"] = report["compile_error"]
            message = _clip(report["compile_error"], self.feedback_chars * 2)
            return self._verdict([], _count(gold), details, f"The program does not compile:\n{message}")
        results = judge_report(gold, report, self.comparison, self.feedback_chars)
        details["tests"] = [{"status": r.status, "time_s": r.time_s} for r in results]
        details["wall_s"] = report.get("wall_s")
        first = next((r for r in results if r.status != "passed"), None)
        if first is None:
            feedback = f"All tests passed ({len(results)} of {len(results)})."
        else:
            feedback = first.feedback
            if len(results) < _count(gold):
                feedback += (f"\n(The global time limit of {self.total_timeout_s:g} s was reached "
                             f"after {len(results)} tests.)")
        return self._verdict(results, _count(gold), details, feedback)

    def _run(self, gold: Gold, source: str, language: str) -> tuple[ExecResult, str]:
        tests: list[Any]
        job: dict[str, Any] = {"mode": gold.mode, "lang": language, "source": source,
                               "test_timeout_s": self.test_timeout_s, "total_timeout_s": self.total_timeout_s,
                               "compile_timeout_s": self.compile_timeout_s, "memory_mb": self.memory_mb,
                               "output_bytes": self.output_bytes}
        if isinstance(gold, StdioGold):
            tests = list(gold.inputs)
        elif isinstance(gold, CallGold):
            tests = [harness.encode(list(args)) for args in gold.inputs]
            job["fn_name"] = gold.fn_name
        else:
            tests = [gold.test]
            job.update(entry_point=gold.entry_point, prelude=gold.prelude, harness_source=HARNESS_SOURCE)
        job["tests"] = tests
        nonce = secrets.token_hex(16)
        data = json.dumps(job).encode()
        stdin = harness.HDR.pack(len(data)) + data + nonce.encode()
        limits = self._limits(len(tests))
        # The harness runs in a fork of the pool's warm agent (fast). That fork holds this request's
        # stdin, nonce included, in memory; see harness.py for why that is safe in every mode.
        return self.pool.run_python(BOOTSTRAP, stdin=stdin, files={"harness.code": HARNESS_CODE}, limits=limits), nonce

    def _verdict(self, results: list[TestResult], total: int, details: dict, feedback: str) -> Verdict:
        passed = sum(r.status == "passed" for r in results)
        all_pass = float(total > 0 and passed == total)
        components = {"pass_fraction": passed / total if total else 0.0, "all_pass": all_pass}
        return Verdict(reward=components[self.reward], passed=bool(all_pass), components=components,
                       feedback=feedback, details=details)

    # A verifier travels to worker processes (Ray actors, env pickling); its pool does not.
    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_pool"], state["_pool_lock"] = None, None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._pool_lock = threading.Lock()

    def close(self) -> None:
        """Stop the pooled sandboxes now (they also stop with the process)."""
        with self._pool_lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None


def _count(gold: Gold) -> int:
    return 1 if isinstance(gold, CheckGold) else len(gold.inputs)


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


def _read_report(result: ExecResult, nonce: str) -> dict | str:
    """The harness's report, or why there is none (a string)."""
    head, _, body = result.stdout.partition(b"\n")
    if head.strip() != nonce.encode():
        if result.timed_out:
            return "the run exceeded the global time limit"
        if result.memory_exceeded:
            return "the run exceeded the memory limit"
        return f"the harness did not report back (exit code {result.exit_code}); the program killed or disturbed it"
    if result.output_truncated:
        return "the program's output exceeded the report size limit"
    try:
        report = json.loads(body)
    except (ValueError, RecursionError):
        return "the harness report was unreadable"
    return report if isinstance(report, dict) else "the harness report was unreadable"
