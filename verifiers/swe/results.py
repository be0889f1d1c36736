"""From the driver's answer to a verdict: per-test status and the resolved decision (pure functions).

SWE-bench's rule: resolved when every FAIL_TO_PASS test passes and every PASS_TO_PASS test still
passes. The defenses, each tested in tests/verifiers/swe/test_defenses.py:

- a test that is missing from the report (did not run, was deselected, its id does not match
  exactly: parametrized ids are compared character for character) or was skipped/xfailed counts
  as failed;
- any collection error, or pytest exit status 2-5 (interrupted, internal error, usage error, no
  tests), fails the whole run;
- pytest's exit status is cross-checked: a report that says every test passed with a non-zero
  status (or the reverse) is not believed, and the run fails;
- results come only from the report plugin's file, never from printed output;
- (in ``grade_driver.py``) test files, conftest.py and pytest configuration are reverted, plugin
  autoloading is off, ``addopts`` is cleared, and pytest's own runtime comes before the repository
  on ``sys.path`` (a ``pytest.py`` in the repository cannot stand in for pytest).

Not covered: code under test runs inside the pytest process, so a submission written to attack
the grader on purpose (find the report path, write a forged report, then ``os._exit(0)`` so the
exit status agrees) can pass. Closing that needs the outcomes recorded outside the process under
test (e.g. a tracer in a parent process), which this grader does not do.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class TestStatus:
    test_id: str
    kind: str  # "FAIL_TO_PASS" or "PASS_TO_PASS"
    status: str  # passed, failed, error, skipped, missing
    passed: bool


@dataclass(frozen=True)
class Outcome:
    resolved: bool
    tests: tuple[TestStatus, ...] = ()
    problem: str = ""  # why the run as a whole failed ("" when it ran normally)
    details: dict = field(default_factory=dict)

    def fraction(self, kind: str) -> float:
        mine = [t for t in self.tests if t.kind == kind]
        return sum(t.passed for t in mine) / len(mine) if mine else 1.0


def judge(answer: dict, fail_to_pass: tuple[str, ...], pass_to_pass: tuple[str, ...]) -> Outcome:
    """The outcome of one grading run from the driver's answer (a dict it printed)."""
    if answer.get("applied") is None and answer.get("apply_error") is not None:
        return Outcome(False, problem=f"the patch does not apply:\n{answer['apply_error']}")
    if answer.get("test_patch_applied") is None and answer.get("test_patch_error") is not None:
        return Outcome(False, problem=f"the test patch does not apply after the changes:\n{answer['test_patch_error']}")
    if answer.get("timed_out"):
        return Outcome(False, problem="the tests timed out")
    report, code = answer.get("report"), answer.get("exit_code")
    if not isinstance(report, dict) or not isinstance(report.get("tests"), dict):
        return Outcome(False, problem=f"pytest wrote no report (exit status {code})")
    results = report["tests"]
    tests = tuple(TestStatus(t, kind, s := str(results.get(t, "missing")), s == "passed")
                  for kind, ids in (("FAIL_TO_PASS", fail_to_pass), ("PASS_TO_PASS", pass_to_pass)) for t in ids)
    all_passed = all(t.passed for t in tests)
    problem = ""
    if report.get("collect_errors"):
        problem = "collection errors in " + ", ".join(map(str, report["collect_errors"][:5]))
    elif code in (2, 3, 4, 5):
        problem = f"pytest exit status {code} (interrupted, internal error, usage error or no tests)"
    elif code != report.get("exitstatus"):
        problem = f"pytest exited {code} but its report says {report.get('exitstatus')}: report not believed"
    elif all_passed and code != 0:
        problem = f"every listed test passed but pytest exited {code}: report not believed"
    elif code == 0 and not all_passed and any(t.status in ("failed", "error") for t in tests):
        problem = "pytest exited 0 but its report lists failures: report not believed"
    return Outcome(all_passed and not problem, tests, problem)


def feedback(outcome: Outcome, log: str = "", max_chars: int = 3000) -> str:
    """What the agent (or a guided retry) is told: failing test ids and the tail of pytest's output."""
    if outcome.resolved:
        return "resolved: every FAIL_TO_PASS test passes and every PASS_TO_PASS test still passes"
    lines = []
    if outcome.problem:
        lines.append(outcome.problem)
    bad = [t for t in outcome.tests if not t.passed]
    if bad:
        lines.append(f"{len(bad)} of {len(outcome.tests)} tests do not pass:")
        lines += [f"  {t.test_id} ({t.kind}): {t.status}" for t in bad[:20]]
        if len(bad) > 20:
            lines.append(f"  ... and {len(bad) - 20} more")
    if log.strip():
        lines.append("pytest output (tail):\n" + log[-max_chars:])
    return "\n".join(lines)
