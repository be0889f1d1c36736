"""``assay train-rm`` killed after a checkpoint and rerun with ``--resume`` ends exactly where an
uninterrupted run ends: the same saved weights and value head (bit for bit) and the same
metrics.jsonl, each step once. Also the errors that keep two runs from mixing in one ``out``."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from assay.cli.main import main
from assay.trainer import rm_data
from assay.trainer.reward_model import RMConfig, train_reward_model
from assay.trainer.rm_data import StepExample
from assay.trainer.run_state import RunDir
from assay.types import Task

# Rows every STEPS // 10 = 12 steps and a checkpoint every 10: the killer can strike after checkpoint
# 10 and row 12, with ~100 steps (seconds) left, so the run cannot finish between two polls.
STEPS, SAVE_EVERY = 120, 10


@pytest.fixture
def one_thread():
    """Every run of a test on one thread, here and in its subprocess: the same kernels in each, so
    the same bits, and much faster for a model this small on a busy machine. Yields the
    subprocess's environment."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield {**os.environ, "OMP_NUM_THREADS": "1"}
    torch.set_num_threads(before)


def train_rm(data: Path, held: Path, out: Path, *extra: str) -> list[str]:
    return ["train-rm", "--kind", "orm", "--no-progress", f"data={data}", f"eval_data={held}", f"out={out}",
            f"steps={STEPS}", f"save_every={SAVE_EVERY}", "tiny_hidden=32", "batch_size=4", "lr=3e-3", "lora_rank=4",
            "ema=0.9", "seed=2", *extra]


def without_time(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "elapsed_s"} for r in rows]


def assert_same_weights(a: Path, b: Path) -> None:
    for name in ("model.safetensors", "value_head.safetensors"):
        x, y = load_file(a / name), load_file(b / name)
        assert x.keys() == y.keys(), name
        for k in x:
            assert torch.equal(x[k], y[k]), f"{name}: {k} differs after resume"


def kill_after_a_checkpoint(cmd: list[str], out: Path, env: dict, log: Path) -> int:
    """Runs ``cmd`` and SIGKILLs it once a checkpoint exists and a metric row newer than that
    checkpoint was logged (the resume must drop that row and log it again); returns the
    checkpoint's step."""
    run = RunDir(out)
    with log.open("w") as stderr:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    deadline = time.monotonic() + 300
    try:
        for _ in range(100_000):  # a few polls per step; the deadline ends it first on a slow machine
            latest = run.latest()
            saved = int(latest.name.removeprefix("step_")) if latest is not None else None
            if saved is not None and saved < STEPS - SAVE_EVERY and any(r["step"] > saved for r in run.rows()):
                os.kill(proc.pid, signal.SIGKILL)
                break
            if proc.poll() is not None:
                pytest.fail(f"the run ended (rc {proc.returncode}) before it could be killed:\n{log.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"no checkpoint followed by a metric row within 300 s:\n{log.read_text()[-2000:]}")
            time.sleep(0.005)
        else:
            pytest.fail("gave up polling before a checkpoint")
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    return saved


def test_sigkilled_lora_ema_orm_resumes_to_the_uninterrupted_run(tmp_path, one_thread, capsys, monkeypatch):
    """ORM with LoRA adapters and an EMA: kill the CLI mid-run, resume it with --resume; the merged
    weights, the head, and every metric row but the wall time equal those of a run never killed."""
    data = rm_data.write_jsonl(rm_data.preference_rows(rm_data.arithmetic_preferences(24, seed=0)), tmp_path / "p.jsonl")
    held = rm_data.write_jsonl(rm_data.preference_rows(rm_data.arithmetic_preferences(8, seed=1, held_out=True)),
                               tmp_path / "held.jsonl")
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    assert main(train_rm(data, held, straight)) == 0

    cmd = [sys.executable, "-m", "assay.cli.main", *train_rm(data, held, killed)]
    saved = kill_after_a_checkpoint(cmd, killed, one_thread, tmp_path / "killed.log")
    assert not (killed / "model.safetensors").exists()  # killed before the end: no trained model yet

    optimizer_steps = []
    real_step = torch.optim.AdamW.step

    def counted(self, *a, **k):
        optimizer_steps.append(1)
        return real_step(self, *a, **k)

    monkeypatch.setattr(torch.optim.AdamW, "step", counted)
    capsys.readouterr()
    assert main(train_rm(data, held, killed, "--resume")) == 0
    assert f"rm resumed from step {saved}" in capsys.readouterr().out
    assert len(optimizer_steps) == STEPS - saved  # it continued; it did not start over

    rows = RunDir(killed).rows()
    assert [r["step"] for r in rows] == list(range(0, STEPS + 1, STEPS // 10))  # each step exactly once
    assert without_time(rows) == without_time(RunDir(straight).rows())
    assert_same_weights(straight, killed)


def test_prm_without_lora_resumes_from_what_a_kill_leaves(tmp_path, one_thread):
    """PRM, every weight trained (the checkpoint holds the whole model): ``out`` as a kill after
    checkpoint 8 leaves it (no later checkpoint, later rows and half a row in metrics.jsonl) resumes
    to the uninterrupted run's weights and rows; the returned history is the whole run's."""
    examples = [StepExample(Task(f"t{i}", f"{i} + {i} ="), (f"Step 1: {2 * i}\n", "Step 2: x\n" if i % 2 else "\\boxed{0}"),
                            (1.0, float(i % 2 == 0))) for i in range(10)]
    cfg = RMConfig(kind="prm", data="(given)", out=str(tmp_path / "straight"), steps=20, save_every=4, tiny_hidden=32,
                   batch_size=3, lr=3e-3, seed=1)
    straight, history = train_reward_model(cfg, examples, examples[:4], log=lambda _: None, progress=False)

    killed = tmp_path / "killed"
    shutil.copytree(straight / "checkpoints" / "step_000008", killed / "checkpoints" / "step_000008")
    (killed / "checkpoints" / "latest").write_text("step_000008")
    logged = [line for line in (straight / "metrics.jsonl").read_text().splitlines() if json.loads(line)["step"] <= 12]
    (killed / "metrics.jsonl").write_text("\n".join(logged) + '\n{"step": 14, "lo')  # rows up to 12, then one cut short

    out, resumed = train_reward_model(dataclasses.replace(cfg, out=str(killed)), examples, examples[:4],
                                      log=lambda _: None, progress=False, resume=True)
    assert without_time(resumed) == without_time(history)
    assert without_time(RunDir(killed).rows()) == without_time(RunDir(straight).rows())
    assert [r["step"] for r in RunDir(killed).rows()] == list(range(0, 21, 2))
    assert_same_weights(straight, out)


def test_runs_in_one_out_do_not_mix(tmp_path, capsys, one_thread):
    """--resume with nothing to resume starts at step 0 and says so; a fresh run over a run's
    checkpoints and a resume with other settings are each one line saying the fix (exit 2), before
    any training."""
    data = rm_data.write_jsonl(rm_data.preference_rows(rm_data.arithmetic_preferences(8, seed=0)), tmp_path / "p.jsonl")
    out = tmp_path / "rm"
    settings = [f"data={data}", f"out={out}", "steps=4", "tiny_hidden=16", "batch_size=2", "save_every=2", "keep_checkpoints=1"]
    fresh, resume = ["train-rm", "--kind", "orm", "--no-progress", *settings], ["train-rm", "--resume", "--kind", "orm", *settings]
    assert main(resume) == 0
    assert "nothing to resume in" in capsys.readouterr().out
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["latest", "step_000004"]  # keep_checkpoints=1
    assert main(fresh) == 2
    err = capsys.readouterr().err
    assert "holds an earlier run (checkpoint step_000004): pass --resume" in err and "another out" in err
    assert main(resume + ["lr=0.5"]) == 2
    assert "with other settings (lr 0.001 -> 0.5)" in capsys.readouterr().err
    (out / "value_head.safetensors").unlink()
    assert main(resume + ["save_every=1"]) == 0  # nothing left to train: the model is written again
    assert (out / "value_head.safetensors").exists()


def test_a_rerun_without_checkpoints_replaces_the_earlier_rows(tmp_path, one_thread):
    """save_every=0 leaves nothing to resume: running the command again starts over, and
    metrics.jsonl holds the new run's rows once, not both runs'."""
    data = rm_data.write_jsonl(rm_data.preference_rows(rm_data.arithmetic_preferences(8, seed=0)), tmp_path / "p.jsonl")
    cmd = ["train-rm", "--kind", "orm", "--no-progress", f"data={data}", f"eval_data={data}", f"out={tmp_path / 'rm'}",
           "steps=2", "tiny_hidden=16", "batch_size=2"]
    assert main(cmd) == 0 and main(cmd) == 0
    assert [r["step"] for r in RunDir(tmp_path / "rm").rows()] == [0, 1, 2]
