"""`torchrun --nproc_per_node 2 ... assay train` trains data-parallel on CPU (gloo): the run ends,
rank 0 alone writes each metric row once, and evaluation counts both ranks' share."""

from __future__ import annotations

import json
import subprocess
import sys

from assay.trainer.tiny import save_tiny


def test_torchrun_two_processes_on_cpu(tmp_path):
    model = save_tiny(tmp_path / "tiny", hidden_size=32, layers=1, heads=2)
    run_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "assay.cli.main", "train", "--no-progress", f"model={model}", f"run_dir={run_dir}",
           "steps=3", "prompts_per_step=4", "group_size=2", "max_new_tokens=4", "eval_every=3", "eval_size=6",
           "save_every=3", "env_kwargs={difficulty: 1}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.count("held-out accuracy:") == 1  # printed by rank 0 only
    rows = [json.loads(l) for l in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "reward" in r] == [1, 2, 3]
    assert [r["step"] for r in rows if "eval_accuracy" in r] == [0, 3]
    assert all(r["groups"] == 2 for r in rows if "groups" in r)  # 4 prompts over 2 ranks
    assert (run_dir / "checkpoints" / "latest").read_text().strip() == "step_000003"


def test_prompts_must_split_evenly_across_ranks(tmp_path):
    model = save_tiny(tmp_path / "tiny", hidden_size=32, layers=1, heads=2)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "assay.cli.main", "train", "--no-progress", f"model={model}",
           f"run_dir={tmp_path / 'r'}", "steps=1", "prompts_per_step=3"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert out.returncode != 0 and "must be a multiple of the number of processes" in out.stderr
