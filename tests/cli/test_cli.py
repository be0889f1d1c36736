"""The `assay` command as a user runs it: a real subprocess, real output, real exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from assay import Provenance, Task, Trajectory, Turn, Verdict
from assay.serialization import iter_jsonl, write_jsonl

ASSAY = [sys.executable, "-m", "assay.cli.main"]


def run(*args: str, stdin: str = "", timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*ASSAY, *args], input=stdin, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("command", [[], ["envs"], ["try"], ["verify"], ["rescore"], ["demo"]])
def test_help_works_everywhere(command):
    out = run(*command, "--help")
    assert out.returncode == 0, out.stderr
    assert "usage: assay" in out.stdout


@pytest.mark.parametrize("args,fragment", [
    (["try", "assay/mathh-v0"], "Did you mean 'assay/math-v0'"),
    (["verify", "maht", "--gold", "1", "--response", "1"], "Did you mean 'math'"),
    (["rescore", "/nonexistent/file.jsonl"], "no such file"),
    (["try", "assay/math-v0", "--arg", "difficulty"], "KEY=VALUE"),
])
def test_user_errors_are_one_clear_line(args, fragment):
    out = run(*args)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    assert lines[0].startswith("assay: error:") and fragment in lines[0]


def test_envs_lists_builtins():
    out = run("envs", "--plain")
    assert out.returncode == 0
    assert {"assay/math-v0", "assay/arithmetic-v0", "assay/modchain-v0"} <= set(out.stdout.split())


def test_verify_prints_the_verdict():
    out = run("verify", "math", "--gold", r"\frac{1}{2}", "--response", r"so \boxed{0.5}", "--json")
    assert out.returncode == 0, out.stderr
    verdict = json.loads(out.stdout)
    assert verdict["passed"] is True and verdict["components"]["correctness"] == 1.0
    wrong = run("verify", "math", "--gold", "7", "--response", r"\boxed{8}", "--check")
    assert wrong.returncode == 1 and "FAILED" in wrong.stdout and "8" in wrong.stdout


def test_verify_reads_response_from_stdin():
    out = run("verify", "math", "--gold", "42", "--json", stdin="The answer is 42.")
    assert json.loads(out.stdout)["passed"] is True


def test_try_non_interactive_and_save(tmp_path):
    save = tmp_path / "episodes.jsonl"
    out = run("try", "assay/arithmetic-v0", "--seed", "0", "--response", r"\boxed{0}", "--save", str(save), "--show-gold")
    assert out.returncode == 0, out.stderr
    assert "task arith" in out.stdout and "reward" in out.stdout and "gold:" in out.stdout
    (row,) = [Trajectory.from_dict(obj) for _, obj in iter_jsonl(save)]
    assert row.provenance.env_id == "assay/arithmetic-v0" and row.provenance.seed == 0
    assert row.response == r"\boxed{0}" and row.task is not None


def test_try_plays_a_plain_gymnasium_env_by_module_and_id():
    """A user's env that states no task and no verdict, named as Gymnasium names one: module:id."""
    out = run("try", "tests.trainer.echo_env_registered:plain-reverse-v0", "--seed", "1", "--response", "nope", "--show-gold")
    assert out.returncode == 0, out.stderr
    assert "Reverse the word" in out.stdout and "FAILED" in out.stdout and "reward = 0" in out.stdout
    assert "judged by the environment's reward" in out.stdout and "states no gold answer" in out.stdout


def test_rescore_reports_changed_verdicts(tmp_path):
    """An old verifier wrongly passed 1/2006! for 1/2004! (math-verify rounds both to 0);
    rescoring flags it and writes the corrected reward."""
    stale = Verdict(1.0, True, {"correctness": 1.0})
    rows = [
        Trajectory(task_id="fp", turns=(Turn("assistant", r"\boxed{\frac{1}{2006!}}"),), reward=1.0, verdict=stale,
                   task=Task("fp", "?", answer=r"\frac{1}{2004!}", domain="math"),
                   provenance=Provenance(verifier="math", verifier_version="0.0.1")),
        Trajectory(task_id="ok", turns=(Turn("assistant", r"\boxed{4}"),), reward=1.0, verdict=stale,
                   task=Task("ok", "?", answer="4", domain="math"), provenance=Provenance(verifier="math")),
    ]
    src, dst = tmp_path / "old.jsonl", tmp_path / "new.jsonl"
    write_jsonl(src, rows)
    out = run("rescore", str(src), "--out", str(dst))
    assert out.returncode == 0, out.stderr
    assert "2 trajectories re-scored, 1 verdicts changed" in out.stdout
    assert "fp" in out.stdout
    new = {t.task_id: t for t in (Trajectory.from_dict(o) for _, o in iter_jsonl(dst))}
    assert new["fp"].reward == 0.0 and not new["fp"].verdict.passed
    assert new["ok"].reward == 1.0 and new["fp"].provenance.verifier_version != "0.0.1"


def test_rescore_rejects_rows_without_task(tmp_path):
    src = tmp_path / "x.jsonl"
    write_jsonl(src, [Trajectory(task_id="a")])
    out = run("rescore", str(src))
    assert out.returncode == 2 and "no stored task" in out.stderr


def test_demo_tour_prints_a_verdict_per_env():
    out = run("demo", "--tour", timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    for env_id in ("assay/math-v0", "assay/arithmetic-v0", "assay/modchain-v0"):
        assert env_id in out.stdout
    assert out.stdout.count("PASSED") >= 3 and out.stdout.count("FAILED") >= 3
