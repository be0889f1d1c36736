"""The README's promises hold: its "register your own environment" snippet runs as written, fits
in 20 lines of code, and the quick start names exactly the two make targets."""

from __future__ import annotations

import ast
import re
import shlex
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()


def register_snippet() -> str:
    match = re.search(r"```python\n(# my_envs\.py\n.*?)```", README, re.S)
    assert match, "README lost its my_envs.py snippet"
    return match.group(1)


def test_register_snippet_is_at_most_20_code_lines():
    code = [l for l in register_snippet().splitlines() if l.strip() and not l.strip().startswith(("#", '"""'))]
    assert len(code) <= 20, f"{len(code)} lines"


def test_register_snippet_works_in_a_fresh_process(tmp_path):
    (tmp_path / "my_envs.py").write_text(register_snippet())
    script = (
        "import pickle, assay, gymnasium, my_envs\n"
        "env = gymnasium.make('assay/reverse-v0', disable_env_checker=True)\n"
        "obs, _ = env.reset(seed=1)\n"
        "word = obs.split()[-1]\n"
        "assert env.step(word[::-1])[1] == 1.0\n"
        "assert 'assay/reverse-v0' in assay.list_envs()\n"
        "pickle.loads(pickle.dumps(assay.spec('reverse-v0')))\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_the_registered_env_trains_from_the_shell(tmp_path):
    """The README's command for its own env: the `assay` console script, run from the folder that
    holds my_envs.py, imports it for the `my_envs:reverse-v0` id and trains and evaluates on it."""
    command = re.search(r"`(assay train env_id=my_envs:reverse-v0 [^`]*)`", README)
    assert command, "README lost the command that trains on its env"
    (tmp_path / "my_envs.py").write_text(register_snippet())
    assay_script = Path(sys.executable).parent / "assay"
    argv = [str(assay_script), *shlex.split(command.group(1))[1:], "--no-progress", "model=tiny", "steps=2", "eval_size=2",
            "prompts_per_step=2", "group_size=2", "max_new_tokens=4", f"run_dir={tmp_path / 'run'}"]
    out = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "held-out accuracy:" in out.stdout
    assert "Writing model shards" not in out.stderr + out.stdout  # transformers' bars stay out of assay's output
    lines = out.stdout.splitlines()
    assert lines[0].startswith("grpo on my_envs:reverse-v0: tiny, 2 prompts x 2 samples per step, steps 0 -> 2"), lines[0]
    assert sum("held-out accuracy 0." in line for line in lines) == 2  # each evaluation as it ends: steps 0 and 2
    assert f"checkpoints in {tmp_path / 'run'} (the latest: checkpoints/step_000002)" in out.stdout
    bad = subprocess.run([str(assay_script), "train", "env_id=no_such_module:x-v0"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode == 2 and "cannot import 'no_such_module'" in bad.stderr, bad.stderr


def test_quick_start_is_the_two_make_commands():
    block = re.search(r"## Quick start\n\n```bash\n(.*?)```", README, re.S).group(1)
    commands = [l.split("#")[0].strip() for l in block.splitlines() if l.split("#")[0].strip()]
    assert commands == ["make demo", "make test"]
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^demo:", makefile, re.M) and re.search(r"^test:", makefile, re.M)


def test_python_usage_snippet_runs():
    match = re.search(r"## Use it from Python\n\n```python\n(.*?)```", README, re.S)
    assert match, "README lost its Python usage snippet"
    code = match.group(1).replace("v.verify(", "verdict = v.verify(", 1) + "\nassert verdict.passed is False, verdict\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr


def test_search_snippet_runs_and_beam_search_beats_best_of_n():
    match = re.search(r"## Search at equal compute\n\n```python\n(.*?)```", README, re.S)
    assert match, "README lost its search snippet"
    out = subprocess.run([sys.executable, "-c", match.group(1)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    accuracy = dict(line.split() for line in out.stdout.splitlines())
    assert float(accuracy["beam"]) > float(accuracy["best_of_n"])


def test_the_train_from_python_snippet_runs(tmp_path):
    """As written, but one step in a temporary run directory (the README's 20 steps take minutes)."""
    match = re.search(r"## Train from Python\n\n```python\n(.*?)```", README, re.S)
    assert match, "README lost its Train from Python snippet"
    code = match.group(1)
    assert "steps=20" in code and 'run_dir="runs/py-grpo"' in code
    code = code.replace("steps=20", "steps=1, eval_size=2, prompts_per_step=2, group_size=2, max_new_tokens=4")
    code = code.replace('run_dir="runs/py-grpo"', f"run_dir={str(tmp_path / 'run')!r}")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    accuracies = ast.literal_eval(out.stdout.strip().splitlines()[-1])
    assert len(accuracies) == 2 and all(0 <= a <= 1 for a in accuracies)  # before and after the one step
