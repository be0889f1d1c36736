"""Each grader defense, attacked (on bwrap; the grading script is the same on Docker).

The task: inflection's ``ordinal`` with a flipped membership test. Each attack is a patch a
model could submit; none may resolve the task. Where an attack could only work together with a
correct fix, the fix is included, so a failure to resolve is the defense's doing.
"""

from __future__ import annotations

import json

from assay.verifiers.swe.grader import grade
from assay.verifiers.swe.results import judge
from tests.verifiers.swe.patches import ORDINAL, fix_ordinal, make_patch, task

MODULE = "inflection/__init__.py"
TESTS = "test_inflection.py"


def test_the_honest_fix_resolves(bwrap_runtime):
    inst = task(ORDINAL)
    g = grade(inst, make_patch(inst, {MODULE: fix_ordinal}), bwrap_runtime)
    assert g.outcome.resolved, g.outcome.problem


# -- a skipped or not-run test counts as failed ----------------------------------------------

def test_skipped_tests_count_as_failed(bwrap_runtime):
    inst = task(ORDINAL)
    skip = lambda t: t.replace("def ordinal(number: int) -> str:\n",
                               "def ordinal(number: int) -> str:\n    import pytest; pytest.skip('later')\n")
    g = grade(inst, make_patch(inst, {MODULE: skip}), bwrap_runtime)
    assert not g.outcome.resolved
    assert {t.status for t in g.outcome.tests if t.kind == "FAIL_TO_PASS"} == {"skipped"}


def test_xfail_counts_as_failed(bwrap_runtime):
    inst = task(ORDINAL)
    xfail = lambda t: t.replace("def ordinal(number: int) -> str:\n",
                                "def ordinal(number: int) -> str:\n    import pytest; pytest.xfail('known')\n")
    g = grade(inst, make_patch(inst, {MODULE: xfail}), bwrap_runtime)
    assert not g.outcome.resolved
    assert {t.status for t in g.outcome.tests if t.kind == "FAIL_TO_PASS"} == {"skipped"}


def test_a_run_cut_short_counts_as_failed(bwrap_runtime):
    """The code exits the interpreter with status 0 once imported: no test runs, no report."""
    inst = task(ORDINAL)
    exit_early = lambda t: fix_ordinal(t) + "\nimport os as _os\n_os._exit(0)\n"
    g = grade(inst, make_patch(inst, {MODULE: exit_early}), bwrap_runtime)
    assert not g.outcome.resolved and "no report" in g.outcome.problem


def test_a_test_missing_from_the_report_counts_as_failed():
    answer = {"applied": "git apply", "exit_code": 0,
              "report": {"tests": {"t.py::a": "passed"}, "collect_errors": [], "exitstatus": 0}}
    outcome = judge(answer, ("t.py::a", "t.py::b"), ())
    assert not outcome.resolved and [t.status for t in outcome.tests] == ["passed", "missing"]


# -- a collection error fails the run -------------------------------------------------------

def test_collection_error_fails_the_run(bwrap_runtime):
    inst = task(ORDINAL)
    broken = lambda t: fix_ordinal(t) + "\ndef oops(:\n"
    g = grade(inst, make_patch(inst, {MODULE: broken}), bwrap_runtime)
    assert not g.outcome.resolved
    assert "collection error" in g.outcome.problem or "exit status 2" in g.outcome.problem


def test_collection_error_with_every_listed_test_passing_still_fails():
    answer = {"applied": "git apply", "exit_code": 0,
              "report": {"tests": {"t.py::a": "passed"}, "collect_errors": ["t2.py"], "exitstatus": 0}}
    assert not judge(answer, ("t.py::a",), ()).resolved


# -- edits to test files are reverted ---------------------------------------------------------

def test_edited_tests_are_reverted(bwrap_runtime):
    """The agent rewrites the failing test's assertion instead of fixing the code."""
    inst = task(ORDINAL)
    cheat = lambda t: t.replace("assert ordinalized == number + inflection.ordinal(number)", "assert True")
    patch = make_patch(inst, {TESTS: cheat})
    assert "assert True" in patch
    g = grade(inst, patch, bwrap_runtime)
    assert not g.outcome.resolved
    assert g.answer["reverted"] == [TESTS]


def test_deleted_tests_are_restored(bwrap_runtime):
    inst = task(ORDINAL)
    g = grade(inst, make_patch(inst, {TESTS: None}), bwrap_runtime)
    assert not g.outcome.resolved and TESTS in g.answer["reverted"]
    assert any(t.status == "failed" for t in g.outcome.tests)  # they ran, from the base version


# -- fake PASSED lines and report forgery through conftest or plugins --------------------------

FAKE_CONFTEST = '''
import pytest

def pytest_collection_modifyitems(items):
    for item in items:
        print(f"{item.nodeid} PASSED")

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    report.outcome = "passed"
    report.longrepr = None

def pytest_sessionfinish(session):
    session.testsfailed = 0
    session.exitstatus = 0
'''


def test_conftest_that_forges_results_is_removed(bwrap_runtime):
    inst = task(ORDINAL)
    g = grade(inst, make_patch(inst, {"conftest.py": FAKE_CONFTEST}), bwrap_runtime)
    assert not g.outcome.resolved
    assert "conftest.py" in g.answer["reverted"]


def test_plugin_in_library_code_printing_passed_lines_cannot_pass(bwrap_runtime):
    """Library code (which is not reverted) prints pytest-style PASSED lines and a fake summary."""
    inst = task(ORDINAL)
    ids = json.dumps(list(inst.FAIL_TO_PASS))
    printer = lambda t: t + (f"\nfor _id in {ids}:\n    print(_id, 'PASSED')\n"
                             "print('=== 600 passed in 0.1s ===')\n")
    g = grade(inst, make_patch(inst, {MODULE: printer}), bwrap_runtime)
    assert not g.outcome.resolved
    assert any(t.status == "failed" for t in g.outcome.tests if t.kind == "FAIL_TO_PASS")


def test_pytest_config_that_adds_options_is_reverted(bwrap_runtime):
    """setup.cfg telling pytest to deselect the failing tests is reverted (and addopts is cleared)."""
    inst = task(ORDINAL)
    cfg = "[tool:pytest]\naddopts = -k 'not ordinal'\npython_functions = nothing_*\n"
    g = grade(inst, make_patch(inst, {"setup.cfg": lambda t: t + "\n" + cfg}), bwrap_runtime)
    assert not g.outcome.resolved and "setup.cfg" in g.answer["reverted"]


def test_report_contradicting_the_exit_status_is_not_believed():
    forged = {"tests": {"t.py::a": "passed"}, "collect_errors": [], "exitstatus": 0}
    assert not judge({"applied": "git apply", "exit_code": 1, "report": forged}, ("t.py::a",), ()).resolved
    assert not judge({"applied": "git apply", "exit_code": 0, "report": {**forged, "exitstatus": 1}}, ("t.py::a",), ()).resolved
    assert judge({"applied": "git apply", "exit_code": 0, "report": forged}, ("t.py::a",), ()).resolved


def test_patch_touching_git_internals_is_refused(bwrap_runtime):
    inst = task(ORDINAL)
    hook = ("diff --git a/.git/hooks/post-checkout b/.git/hooks/post-checkout\nnew file mode 100755\n"
            "--- /dev/null\n+++ b/.git/hooks/post-checkout\n@@ -0,0 +1 @@\n+#!/bin/sh\n")
    g = grade(inst, make_patch(inst, {MODULE: fix_ordinal}) + hook, bwrap_runtime)
    assert not g.outcome.resolved and ".git" in g.outcome.problem


# -- parametrized ids are matched exactly -----------------------------------------------------

def test_parametrized_ids_match_exactly():
    report = {"tests": {"t.py::test_x[1-2]": "passed", "t.py::test_x[1-20]": "failed"}, "collect_errors": [],
              "exitstatus": 1}
    answer = {"applied": "git apply", "exit_code": 1, "report": report}
    got = {t.test_id: t.status for t in judge(answer, ("t.py::test_x[1-2]", "t.py::test_x[1-20]", "t.py::test_x[1"), ()).tests}
    assert got == {"t.py::test_x[1-2]": "passed", "t.py::test_x[1-20]": "failed", "t.py::test_x[1": "missing"}


def test_parametrized_ids_run_exactly_in_the_sandbox(bwrap_runtime):
    """Only the listed ids run: a fix that breaks one parametrized case is caught by its exact id."""
    inst = task(ORDINAL)
    assert any("[" in t for t in inst.FAIL_TO_PASS)
    g = grade(inst, inst.patch, bwrap_runtime)
    assert set(g.answer["report"]["tests"]) == set(inst.FAIL_TO_PASS) | set(inst.PASS_TO_PASS)
    one = inst.FAIL_TO_PASS[0]  # e.g. test_ordinal[-1--1st]: number -1
    number = one.split("[", 1)[1].split("-")[1]
    partial = lambda t: fix_ordinal(t).replace("    number = abs(int(number))\n",
                                               f"    if int(number) == -{number}:\n        return 'xx'\n"
                                               "    number = abs(int(number))\n")
    g = grade(inst, make_patch(inst, {MODULE: partial}), bwrap_runtime)
    bad = [t.test_id for t in g.outcome.tests if not t.passed]
    assert not g.outcome.resolved and one in bad


# -- shadowing the test runner ------------------------------------------------------------------

FAKE_PYTEST = '''
import json, os, sys
tests = [a for a in sys.argv[1:] if "::" in a]
with open(os.environ.get("ASSAY_SWE_REPORT", "/tmp/x"), "w") as f:
    json.dump({"tests": {t: "passed" for t in tests}, "collect_errors": [], "exitstatus": 0}, f)
print("%d passed" % len(tests))
sys.exit(0)
'''


def test_a_module_named_pytest_in_the_repo_does_not_replace_pytest(bwrap_runtime):
    """`python -m pytest` would import /work/pytest.py first (the cwd leads sys.path): the
    grader runs pytest with -P and its own runtime ahead of the repository on the path."""
    inst = task(ORDINAL)
    for name in ("pytest.py", "_pytest/__init__.py", "pluggy.py"):
        g = grade(inst, make_patch(inst, {name: FAKE_PYTEST}), bwrap_runtime)
        assert not g.outcome.resolved, name
        assert any(t.status == "failed" for t in g.outcome.tests), (name, g.outcome.problem)


def test_library_code_cannot_find_the_report_through_the_environment(bwrap_runtime):
    """The plugin takes the report path out of os.environ before the code under test imports."""
    inst = task(ORDINAL)
    ids = json.dumps(list(inst.FAIL_TO_PASS + inst.PASS_TO_PASS))
    forge = lambda t: t + (
        "\nimport json as _j, os as _o, atexit as _a\n"
        "def _forge():\n"
        "    path = _o.environ.get('ASSAY_SWE_REPORT')\n"
        "    if path:\n"
        f"        _j.dump({{'tests': {{i: 'passed' for i in {ids}}}, 'collect_errors': [], 'exitstatus': 0}}, open(path, 'w'))\n"
        "    _o._exit(0)\n"
        "_a.register(_forge)\n")
    g = grade(inst, make_patch(inst, {MODULE: forge}), bwrap_runtime)
    assert not g.outcome.resolved
