"""report_to: metric rows and samples mirrored to TensorBoard and to a real (offline) W&B run,
which a resumed run continues."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from assay.config import ConfigError
from assay.trainer.config import GRPOConfig
from assay.trainer.grpo import GRPOTrainer
from assay.trainer.loggers import parse_report_to
from assay.trainer.run_state import RunDir
from assay.trainer.tiny import save_tiny
from tests.trainer.wandb_log import history


def test_report_to_names_sinks_and_refuses_unknown_ones():
    assert parse_report_to("tensorboard, wandb") == ("tensorboard", "wandb")
    assert parse_report_to("none") == () == parse_report_to("")
    with pytest.raises(ConfigError, match="report_to names mlflow; choose from tensorboard, wandb"):
        GRPOConfig(report_to="tensorboard,mlflow")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return save_tiny(tmp_path_factory.mktemp("loggers") / "tiny", hidden_size=32, layers=1, heads=2)


def config(tiny, run_dir, **kw) -> GRPOConfig:
    base = dict(model=str(tiny), run_dir=str(run_dir), steps=2, save_every=1, eval_every=2, eval_size=2,
                prompts_per_step=2, group_size=2, max_new_tokens=4, env_kwargs={"difficulty": 1}, seed=3)
    return GRPOConfig(**{**base, **kw})


def train(cfg, resume=False) -> None:
    trainer = GRPOTrainer(cfg, resume=resume, progress=False)
    trainer.train()
    trainer.close()


def test_tensorboard_gets_every_scalar_and_the_samples(tiny, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    train(config(tiny, tmp_path / "run"))
    events = EventAccumulator(str(tmp_path / "run" / "tb"), size_guidance={"scalars": 0, "tensors": 0})
    events.Reload()
    rows = RunDir(tmp_path / "run").rows()
    trained = [r for r in rows if "entropy" in r]
    assert [e.step for e in events.Scalars("entropy")] == [r["step"] for r in trained] == [1, 2]
    assert [e.value for e in events.Scalars("entropy")] == pytest.approx([r["entropy"] for r in trained], rel=1e-6)
    assert [e.step for e in events.Scalars("eval_accuracy")] == [0, 2]
    assert {"samples/train/text_summary", "samples/eval/text_summary"} <= set(events.Tags()["tensors"])


def test_report_to_none_writes_no_events(tiny, tmp_path):
    train(config(tiny, tmp_path / "run", report_to="none"))
    assert not (tmp_path / "run" / "tb").exists() and RunDir(tmp_path / "run").rows()


def numeric(row: dict) -> dict:
    return {k: v for k, v in row.items() if k != "step" and isinstance(v, (int, float)) and not isinstance(v, bool)}


def train_cli(tiny, run_dir, *args: str) -> None:
    """`assay train` in a process of its own, as a resumed run is (a second W&B run in one process
    has lost its history records in full test runs: W&B's per-process service state)."""
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    cmd = [sys.executable, "-m", "assay.cli.main", "train", "--no-progress", f"model={tiny}", f"run_dir={run_dir}",
           "save_every=1", "eval_every=2", "eval_size=2", "prompts_per_step=2", "group_size=2", "max_new_tokens=4",
           "env_kwargs={difficulty: 1}", "seed=3", "report_to=wandb", *args]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]


def test_a_wandb_run_gets_every_row_and_a_resume_continues_it(tiny, tmp_path):
    """A real W&B run, offline: its history holds each metrics.jsonl row at its step (a step's
    training and evaluation rows as one), and --resume, in a new process, writes into the same W&B run."""
    run_dir = tmp_path / "run"
    train_cli(tiny, run_dir, "steps=1")
    run_id = (run_dir / "wandb_run_id").read_text()
    train_cli(tiny, run_dir, "steps=2", "--resume")
    assert (run_dir / "wandb_run_id").read_text() == run_id
    # one W&B run id, written by two processes; W&B names the second folder "...-<id>-1" when both
    # started within one second
    files = sorted((run_dir / "wandb").glob(f"offline-run-*-{run_id}*/run-{run_id}.wandb"), key=lambda f: f.stat().st_mtime)
    assert len(files) == 2, files
    per_file = [history(f) for f in files]
    logged = [row for rows in per_file for row in rows]
    assert [[row["_step"] for row in rows] for rows in per_file] == [[0, 1], [2]]
    expected: dict[int, dict] = {}
    for row in RunDir(run_dir).rows():
        expected.setdefault(row["step"], {}).update(numeric(row))
    assert sorted(expected) == [0, 1, 2]
    for row in logged:
        mine = {k: v for k, v in row.items() if not k.startswith("_") and not k.startswith("samples/")}
        assert mine == pytest.approx(expected[row["_step"]], rel=1e-6)
        assert any(k.startswith("samples/") for k in row)  # the samples, as W&B tables
