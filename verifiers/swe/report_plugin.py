"""pytest plugin loaded by the SWE grader (``-p assay_swe_report``); runs inside the sandbox.

It writes every test's outcome, keyed by its exact node id (parametrized ids included), and every
collection error to the JSON file named by ``ASSAY_SWE_REPORT``. Results come from here, never
from pytest's printed output, so text a conftest or the code under test prints ("test_x PASSED")
means nothing. A junit-xml report would also do, but it spells node ids as dotted class names,
which loses the exact id matching the grader needs.

Outcome per test: "passed" only when setup, call and teardown all passed; "skipped" (xfail
included), "failed" or "error" otherwise.
"""

import json
import os

_results = {}
_collect_errors = []
# Taken out of the environment when pytest loads this plugin, before any conftest or code under
# test is imported, so that code cannot find the report through os.environ. (It could still dig
# the path out of /proc/self/environ or this module: code running inside pytest can always
# tamper with pytest. The exit-status cross-check and the reverted test files are what stop the
# cheap attacks; results.py lists them.)
_PATH = os.environ.pop("ASSAY_SWE_REPORT", None)


def pytest_runtest_logreport(report):
    worst = _results.get(report.nodeid, "passed")
    if report.failed:
        outcome = "failed" if report.when == "call" else "error"
    elif report.skipped:
        outcome = "skipped"
    else:
        outcome = "passed"
    rank = {"passed": 0, "skipped": 1, "failed": 2, "error": 3}
    _results[report.nodeid] = outcome if rank[outcome] > rank[worst] else worst


def pytest_collectreport(report):
    if report.failed:
        _collect_errors.append(report.nodeid or "<session>")


def pytest_sessionfinish(session, exitstatus):
    if _PATH:
        with open(_PATH, "w") as f:
            json.dump({"tests": _results, "collect_errors": _collect_errors, "exitstatus": int(exitstatus)}, f)
