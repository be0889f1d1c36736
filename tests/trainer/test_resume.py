"""A run killed with SIGKILL and restarted with --resume continues from its last checkpoint: no
metric row duplicated or lost, and the same final weights as a run that was never killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from assay.errors import AssayError
from assay.trainer.config import GRPOConfig
from assay.trainer.grpo import GRPOTrainer
from assay.trainer.run_state import RunDir
from assay.trainer.tiny import save_tiny

# Enough steps that the run cannot finish between two polls of the killer, however fast the machine.
STEPS = 40


def train_cmd(model: Path, run_dir: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "assay.cli.main", "train", "--no-progress", *extra,
            f"model={model}", f"run_dir={run_dir}", f"steps={STEPS}", "save_every=4", "eval_every=10", "eval_size=4",
            "prompts_per_step=2", "group_size=2", "max_new_tokens=4", "env_kwargs={difficulty: 1}", "seed=3"]


def rows(run_dir: Path) -> list[dict]:
    path = run_dir / "metrics.jsonl"
    return [json.loads(l) for l in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return save_tiny(tmp_path_factory.mktemp("m") / "tiny", hidden_size=32, layers=1, heads=2)


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    latest = (run_dir / "checkpoints" / "latest").read_text().strip()
    return load_file(run_dir / "checkpoints" / latest / "model.safetensors")


def test_sigkill_then_resume_matches_an_uninterrupted_run(model, tmp_path):
    straight = tmp_path / "straight"
    subprocess.run(train_cmd(model, straight), check=True, capture_output=True, timeout=600)

    killed = tmp_path / "killed"
    kill_after_a_checkpoint(train_cmd(model, killed), killed)
    out = subprocess.run(train_cmd(model, killed, "--resume"), capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "held-out accuracy:" in out.stdout

    train_steps = [r["step"] for r in rows(killed) if "eval_accuracy" not in r]
    eval_steps = [r["step"] for r in rows(killed) if "eval_accuracy" in r]
    assert train_steps == list(range(1, STEPS + 1)), train_steps
    assert eval_steps == list(range(0, STEPS + 1, 10)), eval_steps
    a, b = weights(straight), weights(killed)
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=f"{k} differs after resume")
    assert [r["reward"] for r in rows(straight) if "reward" in r] == [r["reward"] for r in rows(killed) if "reward" in r]
    # what the policy wrote: each step's samples once, the text of the run never stopped
    assert RunDir(killed).sample_rows() == RunDir(straight).sample_rows() != []


def kill_after_a_checkpoint(cmd: list[str], run_dir: Path) -> None:
    """Start the run and SIGKILL it once a checkpoint exists and a metric row newer than it was
    logged: those rows must be dropped on resume and written again, exactly once."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline:
            latest = run_dir / "checkpoints" / "latest"
            saved = int(latest.read_text().strip().split("_")[1]) if latest.exists() else None
            if saved is not None and saved < STEPS - 4 and any(r.get("step", 0) > saved for r in rows(run_dir)):
                break
            if proc.poll() is not None:
                pytest.fail("the run finished before it could be killed")
            time.sleep(0.02)
        else:
            pytest.fail("the run never got past its first checkpoint")
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


def test_a_killed_async_run_resumes_without_skipping_the_batches_in_flight(model, tmp_path):
    """With max_staleness=2 the rollout thread has drawn up to two batches beyond the step a
    checkpoint saves. The resumed run must draw those tasks again: every step trains the batch at
    the data position an uninterrupted run reaches (without dynamic sampling, prompts_per_step
    tasks a step), none skipped, none twice. Which policy version samples them is left to timing,
    so the weights are not compared."""
    run_dir = tmp_path / "async"
    cmd = train_cmd(model, run_dir) + ["max_staleness=2", "tis_cap=2"]
    kill_after_a_checkpoint(cmd, run_dir)
    out = subprocess.run(cmd + ["--resume"], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    train_rows = [r for r in rows(run_dir) if "eval_accuracy" not in r]
    assert [r["step"] for r in train_rows] == list(range(1, STEPS + 1))
    start = 3 * 1_000_003  # seed=3: the run's first data position
    assert [r["data_position"] for r in train_rows] == [start + 2 * step for step in range(1, STEPS + 1)]
    assert max(r["staleness"] for r in train_rows) >= 1  # the run did sample ahead


def test_resume_without_checkpoint_starts_fresh(model, tmp_path):
    out = subprocess.run(train_cmd(model, tmp_path / "fresh", "--resume") + ["steps=1", "eval_every=1"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "no checkpoint" in out.stdout


def small_config(model: Path, run_dir: Path, **kw) -> GRPOConfig:
    base = dict(model=str(model), run_dir=str(run_dir), steps=1, save_every=1, eval_every=1, eval_size=2,
                prompts_per_step=2, group_size=2, max_new_tokens=4, env_kwargs={"difficulty": 1}, seed=3)
    return GRPOConfig(**{**base, **kw})


def test_a_fresh_run_refuses_a_run_dir_that_holds_a_run(model, tmp_path):
    GRPOTrainer(small_config(model, tmp_path), progress=False).train()
    with pytest.raises(AssayError, match="holds an earlier run \\(checkpoint step_000001\\): pass --resume"):
        GRPOTrainer(small_config(model, tmp_path), progress=False)
    assert [r["step"] for r in rows(tmp_path)] == [0, 1, 1]  # untouched: train row and evaluations


def test_resume_may_extend_the_run_but_not_change_its_settings(model, tmp_path):
    GRPOTrainer(small_config(model, tmp_path), progress=False).train()
    with pytest.raises(AssayError, match=r"with other settings \(temperature 1.0 -> 0.7\)") as e:
        GRPOTrainer(small_config(model, tmp_path, temperature=0.7), resume=True, progress=False)
    assert f"from its weights: model={tmp_path / 'checkpoints' / 'step_000001'}" in str(e.value)
    GRPOTrainer(small_config(model, tmp_path, steps=2, keep_checkpoints=1), resume=True, progress=False).train()
    assert [r["step"] for r in rows(tmp_path) if "eval_accuracy" not in r] == [1, 2]
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["latest", "step_000002"]


def test_resume_may_lower_the_learning_rate(model, tmp_path):
    """How a run that diverged is rescued: back to its last checkpoint with a smaller step. The new
    lr is the schedule's peak from the resumed step on."""
    GRPOTrainer(small_config(model, tmp_path, steps=2, lr=2e-4), progress=False).train()
    GRPOTrainer(small_config(model, tmp_path, steps=3, lr=5e-5, max_grad_norm=0.5), resume=True, progress=False).train()
    lrs = {r["step"]: r["lr"] for r in rows(tmp_path) if "lr" in r}
    assert lrs == {1: 2e-4, 2: 2e-4, 3: 5e-5}
    saved = torch.load(tmp_path / "checkpoints" / "step_000003" / "trainer_state.pt", weights_only=False)
    assert saved["config"]["lr"] == 5e-5  # a later --resume compares against the settings now in force



def test_keep_best_keeps_the_policy_of_the_best_evaluation(model, tmp_path):
    """run_dir/best holds the weights of the earliest best evaluation after step 0: the same tensors
    as that step's checkpoint."""
    GRPOTrainer(small_config(model, tmp_path, steps=4, keep_best=True, eval_size=4, lr=1e-2), progress=False).train()
    scores = [(r["step"], r["eval_accuracy"]) for r in rows(tmp_path) if "eval_accuracy" in r and r["step"] > 0]
    top = max(v for _, v in scores)
    step = next(s for s, v in scores if v == top)
    assert json.loads((tmp_path / "best" / "best.json").read_text()) == {"step": step, "metric": "eval_accuracy", "value": top}
    best = load_file(tmp_path / "best" / "model.safetensors")
    at_step = load_file(tmp_path / "checkpoints" / f"step_{step:06d}" / "model.safetensors")
    assert best.keys() == at_step.keys() and all(torch.equal(best[k], at_step[k]) for k in best)
    assert (tmp_path / "best" / "tokenizer_config.json").exists()


def test_a_resumed_run_keeps_the_initial_policy_as_its_kl_reference(model, tmp_path):
    """With kl_coef > 0 the reference is the policy the run started from. A run resumed at step 2
    ends with the weights of one run straight to step 4 (its reference must not be the step-2
    checkpoint it resumed from)."""
    import assay

    assay.register("test-length-v0", "tests.trainer.echo_env:LengthEnv", override=True)
    # rewards that differ within every group from the first step: the policy moves at once
    kw = dict(kl_coef=0.5, lr=1e-2, save_every=2, eval_every=100, env_id="assay/test-length-v0", env_kwargs={},
              group_size=4, max_new_tokens=6)
    GRPOTrainer(small_config(model, tmp_path / "straight", steps=4, **kw), progress=False).train()
    GRPOTrainer(small_config(model, tmp_path / "resumed", steps=2, **kw), progress=False).train()
    GRPOTrainer(small_config(model, tmp_path / "resumed", steps=4, **kw), resume=True, progress=False).train()
    a, b = weights(tmp_path / "straight"), weights(tmp_path / "resumed")
    assert all(torch.equal(a[k], b[k]) for k in a)
    kl = [r["kl"] for r in rows(tmp_path / "resumed") if "kl" in r]
    assert kl == [r["kl"] for r in rows(tmp_path / "straight") if "kl" in r] and kl[2] != 0  # step 3: after the resume
