"""`assay demo` (the main job): warm start, GRPO, learning curves, and the last line's format.

The settings here are cut to seconds; whether the full defaults learn is bench/learn_arith.py's
question (a timed claim, so it lives in bench/, not in a test).
"""

from __future__ import annotations

import re
import subprocess
import sys

ASSAY = [sys.executable, "-m", "assay.cli.main"]
SMALL = ["--sft-steps", "20", "--steps", "2", "--eval-size", "8", "--eval-every", "1", "--budget", "120"]


def demo(run_dir, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([*ASSAY, "demo", "--run-dir", str(run_dir), *SMALL, *extra],
                          capture_output=True, text=True, timeout=600)


def test_demo_trains_and_ends_with_the_accuracy_line(tmp_path):
    out = demo(tmp_path / "demo")
    assert out.returncode == 0, out.stderr[-3000:]
    last = out.stdout.strip().splitlines()[-1]
    m = re.fullmatch(r"held-out accuracy: (\d\.\d\d) -> (\d\.\d\d)", last)
    assert m, last
    assert all(0.0 <= float(x) <= 1.0 for x in m.groups())
    grpo = tmp_path / "demo" / "grpo"
    assert (grpo / "learning_curves.png").stat().st_size > 1000
    assert (tmp_path / "demo" / "sft" / "config.json").exists()
    steps = [line for line in (grpo / "metrics.jsonl").read_text().splitlines() if '"rollout_s"' in line]
    assert len(steps) == 2


def test_demo_replaces_its_own_run_dir_but_never_a_users(tmp_path):
    assert demo(tmp_path / "demo").returncode == 0
    assert demo(tmp_path / "demo").returncode == 0  # its own output: replaced
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    out = demo(mine)
    assert out.returncode == 2 and "was not made by `assay demo`" in out.stderr
    assert (mine / "notes.txt").read_text() == "keep me"
