"""Grade a patch against an SWE instance in a fresh sandbox session (never the agent's own).

The host writes the driver, the report plugin and the patches into the session, moves them out
of /work (so nothing of the grading lies in the tree pytest collects), and runs the driver once
(``grade_driver.py`` says what it does). The driver's answer is the line that starts with a nonce
only the host and the driver know.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from assay.sandbox import Limits
from assay.verifiers.swe.instance import SWEInstance
from assay.verifiers.swe.results import Outcome, judge
from assay.verifiers.swe.workspace import PYLIB, Runtime, open_workspace

HERE = Path(__file__).resolve().parent
STAGE = ".assay_grade"  # written here by the host, then moved to GRADE_DIR before anything runs
GRADE_DIR = "/tmp/assay_grade"
LOG_BYTES = 8000
# A patch may not touch git's own files: hooks or config there would run code outside the tests.
_GIT_PATH = re.compile(r"^(?:diff --git |--- |\+\+\+ |rename (?:from|to) |copy (?:from|to) )(?:\S*/)?\.git(?:/|\s|$)", re.M)


@dataclass(frozen=True)
class Graded:
    outcome: Outcome
    log: str
    setup_s: float
    grade_s: float
    error: str | None = None  # the grader could not judge (sandbox failure, no answer)
    answer: dict | None = None


def grade(instance: SWEInstance, model_patch: str, runtime: Runtime = Runtime(), timeout_s: float = 300.0) -> Graded:
    """Apply ``model_patch``, then the test patch, run FAIL_TO_PASS + PASS_TO_PASS, judge."""
    graded = run_tests(instance, model_patch, runtime, timeout_s, tuple(dict.fromkeys(instance.FAIL_TO_PASS + instance.PASS_TO_PASS)))
    if graded.answer is None:
        return graded
    outcome = judge(graded.answer, instance.FAIL_TO_PASS, instance.PASS_TO_PASS)
    return Graded(outcome, graded.log, graded.setup_s, graded.grade_s, answer=graded.answer)


def run_tests(instance: SWEInstance, model_patch: str, runtime: Runtime, timeout_s: float,
              tests: tuple[str, ...]) -> Graded:
    """One driver run (``tests=()`` runs the whole suite); ``Graded.answer`` is the driver's answer
    (None when there is none), ``outcome`` is left unjudged."""
    if _GIT_PATH.search(model_patch):
        return Graded(Outcome(False, problem="the patch touches .git (refused)"), "", 0.0, 0.0,
                      answer={"applied": None, "apply_error": "the patch touches .git (refused)"})
    opened = open_workspace(instance, runtime)
    start = time.monotonic()
    try:
        s = opened.session
        nonce = secrets.token_hex(16)
        s.write_file(f"{STAGE}/grade_driver.py", (HERE / "grade_driver.py").read_bytes())
        s.write_file(f"{STAGE}/assay_swe_report.py", (HERE / "report_plugin.py").read_bytes())
        s.write_file(f"{STAGE}/model.patch", _with_newline(model_patch))
        s.write_file(f"{STAGE}/test.patch", _with_newline(instance.test_patch))
        r = s.run(["mv", f"/work/{STAGE}", GRADE_DIR])
        if r.exit_code != 0:
            return Graded(Outcome(False), "", opened.setup_s, 0.0, error=f"staging the grader failed: {r.text('stderr')}")
        job = {"nonce": nonce, "base_commit": instance.base_commit, "grade_dir": GRADE_DIR,
               "model_patch": bool(model_patch.strip()), "test_patch": bool(instance.test_patch.strip()),
               "tests": list(tests), "python_path": [_abs(p) for p in instance.python_path],
               "pylib": PYLIB, "timeout_s": timeout_s, "log_bytes": LOG_BYTES}
        limits = Limits(**{**vars(runtime.limits), "wall_s": timeout_s + 30, "cpu_s": timeout_s + 30})
        r = s.run(["python3", "-S", f"{GRADE_DIR}/grade_driver.py"], stdin=json.dumps(job).encode(), limits=limits)
        answer = _answer(r.text(), nonce)
        if answer is None:
            why = "timed out" if r.timed_out else f"exit {r.exit_code}: {r.text('stderr')[-300:]}"
            return Graded(Outcome(False, problem="the grader got no answer from its driver"), "", opened.setup_s,
                          time.monotonic() - start, error=f"grading driver gave no answer ({why})")
        return Graded(Outcome(False), answer.get("log", ""), opened.setup_s, time.monotonic() - start, answer=answer)
    finally:
        opened.session.close()


def _abs(entry: str) -> str:
    return "/work" if entry in (".", "") else f"/work/{entry.strip('/')}"


def _answer(stdout: str, nonce: str) -> dict | None:
    for line in reversed(stdout.splitlines()):
        if line.startswith(nonce + " "):
            try:
                value = json.loads(line[len(nonce) + 1:])
            except ValueError:
                return None
            return value if isinstance(value, dict) else None
    return None


def _with_newline(patch: str) -> str:
    return patch if not patch or patch.endswith("\n") else patch + "\n"
