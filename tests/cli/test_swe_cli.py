"""`assay swe`: grading SWE-bench predictions from the command line, and its user errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from assay.envs.swe.tasks import shipped_instances
from assay.verifiers.swe.instance import Prediction, write_predictions
from tests.verifiers.swe.conftest import bwrap_runtime, swe_cache  # noqa: F401 (fixtures)

ASSAY = [sys.executable, "-m", "assay.cli.main"]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*ASSAY, *args], capture_output=True, text=True, timeout=300, env=dict(os.environ))


def test_grade_predictions(tmp_path, bwrap_runtime):
    inst = shipped_instances()[0]
    write_predictions(tmp_path / "preds.jsonl", [Prediction(inst.instance_id, inst.patch, "gold"),
                                                 Prediction(inst.instance_id, "", "empty")])
    out = run("swe", "grade", str(tmp_path / "preds.jsonl"))
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()[:2]]
    assert [r["resolved"] for r in rows] == [True, False] and [r["model_name_or_path"] for r in rows] == ["gold", "empty"]
    assert out.stdout.splitlines()[-1] == "resolved 1 of 2"


@pytest.mark.parametrize("args, fragment", [
    (["swe", "make-tasks", "/nonexistent/pkg-1.0.tar.gz", "-o", "/tmp/x.jsonl"], "no such file"),
    (["swe", "grade", "/nonexistent/preds.jsonl"], "no such predictions file"),
])
def test_user_errors_are_one_clear_line(args, fragment):
    out = run(*args)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("assay: error:") and fragment in lines[0], out.stderr
