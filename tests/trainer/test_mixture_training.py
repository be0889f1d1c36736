"""Training on an environment mixture (assay/mix-v0): batches mix the members, and the metrics
break accuracy down by member, in training and in evaluation."""

from __future__ import annotations

import pytest

from assay.trainer.config import GRPOConfig
from assay.trainer.grpo import GRPOTrainer
from assay.trainer.run_state import RunDir
from assay.trainer.tiny import save_tiny

MEMBERS = {"envs": [{"id": "assay/arithmetic-v0", "name": "arith", "weight": 3, "kwargs": {"difficulty": 1}},
                    {"id": "assay/modchain-v0", "name": "chain", "kwargs": {"difficulty": 1}}]}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("mix")
    tiny = save_tiny(root / "tiny", hidden_size=32, layers=1, heads=2)
    cfg = GRPOConfig(model=str(tiny), run_dir=str(root / "run"), env_id="assay/mix-v0", env_kwargs=MEMBERS, steps=2,
                     save_every=2, eval_every=2, eval_size=12, prompts_per_step=6, group_size=2, max_new_tokens=4,
                     seed=1, log_samples=12)
    trainer = GRPOTrainer(cfg, progress=False)
    trainer.train()
    trainer.close()
    return RunDir(root / "run")


def test_evaluation_reports_each_members_accuracy_and_they_add_up(run):
    evals = [r for r in run.rows() if "eval_accuracy" in r]
    samples = [s for s in run.sample_rows() if s["split"] == "eval" and s["step"] == evals[-1]["step"]]
    assert len(samples) == 12  # every held-out episode, each tagged with its member
    counts = {m: sum(s["task_id"].startswith(m + ":") for s in samples) for m in ("arith", "chain")}
    assert counts["arith"] + counts["chain"] == 12 and min(counts.values()) >= 1
    for row in evals:
        assert {k for k in row if k.startswith("eval_accuracy/")} == {"eval_accuracy/arith", "eval_accuracy/chain"}
        passed = {m: sum(s["passed"] for s in run.sample_rows()
                         if s["split"] == "eval" and s["step"] == row["step"] and s["task_id"].startswith(m + ":"))
                  for m in counts}
        for m, n in counts.items():
            assert row[f"eval_accuracy/{m}"] == pytest.approx(passed[m] / n)
        assert row["eval_accuracy"] == pytest.approx(sum(passed.values()) / 12)


def test_training_rows_break_accuracy_down_by_the_members_in_the_batch(run):
    for row in (r for r in run.rows() if "reward" in r):
        samples = [s for s in run.sample_rows() if s["split"] == "train" and s["step"] == row["step"]]
        members = {s["task_id"].split(":")[0] for s in samples}
        assert {k.split("/")[1] for k in row if k.startswith("accuracy/")} == members
        for m in members:
            mine = [s["passed"] for s in samples if s["task_id"].startswith(m + ":")]
            assert row[f"accuracy/{m}"] == pytest.approx(sum(mine) / len(mine))
