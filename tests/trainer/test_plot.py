"""`assay plot RUN_DIR` writes a real PNG from metrics.jsonl and fails clearly on an empty dir."""

from __future__ import annotations

import subprocess
import sys

import pytest

from assay.errors import AssayError
from assay.trainer.plot import plot_run
from assay.trainer.run_state import RunDir


def test_plot_writes_a_png(tmp_path):
    run = RunDir(tmp_path)
    run.log({"step": 0, "eval_accuracy": 0.1})
    for s in range(1, 6):
        run.log({"step": s, "reward": s / 5, "accuracy": s / 6, "entropy": 2 - s / 10, "kl": 0.01 * s, "tokens_per_s": 100.0})
    run.log({"step": 5, "eval_accuracy": 0.7})
    out = plot_run(tmp_path)
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_plot_draws_a_reward_model_run_with_its_categories(tmp_path):
    run = RunDir(tmp_path)
    for s in range(0, 30, 10):
        run.log({"step": s, "loss": 1 / (s + 1), "pairwise_accuracy": 0.5 + s / 100, "acc/far": 0.6, "acc/near": 0.4})
    out = plot_run(tmp_path)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_says_which_metrics_it_knows(tmp_path):
    RunDir(tmp_path).log({"step": 1, "something_else": 1.0})
    with pytest.raises(AssayError, match="has none of the metrics assay plots"):
        plot_run(tmp_path)


def test_plot_cli_error_on_a_dir_without_metrics(tmp_path):
    with pytest.raises(AssayError, match="no metrics"):
        plot_run(tmp_path)
    out = subprocess.run([sys.executable, "-m", "assay.cli.main", "plot", str(tmp_path)], capture_output=True, text=True)
    assert out.returncode == 2 and out.stderr.startswith("assay: error: no metrics")
