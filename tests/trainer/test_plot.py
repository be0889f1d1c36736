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


def test_a_run_without_a_kl_term_gets_no_kl_panel(tmp_path):
    from assay.trainer.plot import curves

    without, with_kl = RunDir(tmp_path / "a"), RunDir(tmp_path / "b")
    for s in range(1, 4):
        without.log({"step": s, "reward": s / 4, "kl": 0.0})
        with_kl.log({"step": s, "reward": s / 4, "kl": 0.0 if s == 1 else 0.02})
    assert set(curves([tmp_path / "a"])) == {"reward"}
    assert set(curves([tmp_path / "b"])) == {"reward", "kl"}
    assert set(curves([tmp_path / "a", tmp_path / "b"])) == {"reward", "kl"}  # one run has a KL term: drawn for both


def test_plot_draws_a_reward_model_run_with_its_categories(tmp_path):
    run = RunDir(tmp_path)
    for s in range(0, 30, 10):
        run.log({"step": s, "loss": 1 / (s + 1), "pairwise_accuracy": 0.5 + s / 100, "acc/far": 0.6, "acc/near": 0.4})
    out = plot_run(tmp_path)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_mixture_run_gets_a_line_per_member_in_its_accuracy_panels(tmp_path):
    from assay.trainer.plot import curves

    run = RunDir(tmp_path)
    for s in (0, 5):
        run.log({"step": s, "eval_accuracy": 0.5, "eval_accuracy/arith": 0.6, "eval_accuracy/chain": 0.4})
    run.log({"step": 1, "reward": 0.5, "accuracy": 0.5, "accuracy/arith": 1.0, "accuracy/chain": 0.0})
    drawn = curves([tmp_path])
    assert [label for label, _, _ in drawn["eval_accuracy"]] == ["all", "arith", "chain"]
    assert [values for _, _, values in drawn["eval_accuracy"]] == [[0.5, 0.5], [0.6, 0.6], [0.4, 0.4]]
    assert [label for label, _, _ in drawn["accuracy"]] == ["all", "arith", "chain"]
    assert [label for label, _, _ in drawn["reward"]] == ["all"]


def test_plot_says_which_metrics_it_knows(tmp_path):
    RunDir(tmp_path).log({"step": 1, "something_else": 1.0})
    with pytest.raises(AssayError, match="has none of the metrics assay plots"):
        plot_run(tmp_path)


def test_plot_cli_error_on_a_dir_without_metrics(tmp_path):
    with pytest.raises(AssayError, match="no metrics"):
        plot_run(tmp_path)
    out = subprocess.run([sys.executable, "-m", "assay.cli.main", "plot", str(tmp_path)], capture_output=True, text=True)
    assert out.returncode == 2 and out.stderr.startswith("assay: error: no metrics")


def test_several_runs_share_each_panel_one_line_per_run(tmp_path):
    from assay.trainer.plot import curves, plot_runs

    for name, scale in (("a", 1.0), ("b", 2.0)):
        run = RunDir(tmp_path / name)
        for s in range(1, 4):
            run.log({"step": s, "reward": scale * s})
    RunDir(tmp_path / "b").log({"step": 3, "eval_accuracy": 0.5})
    data = curves([tmp_path / "a", tmp_path / "b"])
    assert data["reward"] == [("a", [1, 2, 3], [1.0, 2.0, 3.0]), ("b", [1, 2, 3], [2.0, 4.0, 6.0])]
    assert data["eval_accuracy"] == [("b", [3], [0.5])]  # a panel any run has
    out = plot_runs([tmp_path / "a", tmp_path / "b"], tmp_path / "ab.png", smooth=2)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (tmp_path / "x").mkdir()
    RunDir(tmp_path / "x" / "a").log({"step": 1, "reward": 0.0})
    assert [label for label, _, _ in curves([tmp_path / "a", tmp_path / "x" / "a"])["reward"]] == \
        [str(tmp_path / "a"), str(tmp_path / "x" / "a")]  # same folder names: the paths tell them apart
    with pytest.raises(AssayError, match="--smooth must be >= 1"):
        plot_runs([tmp_path / "a"], smooth=0)


def test_moving_mean_is_a_trailing_mean():
    from assay.trainer.plot import moving_mean

    assert moving_mean([1.0, 3.0, 5.0, 7.0], 2) == [1.0, 2.0, 4.0, 6.0]
    assert moving_mean([4.0, 2.0], 5) == [4.0, 3.0]
