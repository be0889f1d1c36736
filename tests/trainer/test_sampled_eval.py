"""eval_samples > 1: each held-out task is sampled k times at eval_temperature, eval_accuracy is
the mean over samples and rows add eval_pass@j (Chen et al.), against hand-computed values from
a scripted generator; `assay eval RUN` reproduces a sampled run's logged figures."""

from __future__ import annotations

import json
import re

import pytest

import assay
from assay.cli.main import main
from assay.trainer.config import GRPOConfig
from assay.trainer.evaluation import eval_sampling_seed
from assay.trainer.grpo import GRPOTrainer
from assay.trainer.tiny import build_tokenizer, save_tiny
from tests.trainer.test_evaluation import PatternGenerator

assay.register("test-length-v0", "tests.trainer.echo_env:LengthEnv", override=True)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return save_tiny(tmp_path_factory.mktemp("sampled") / "tiny", hidden_size=32, layers=1, heads=2)


def test_pass_at_j_of_a_sampled_evaluation(tiny, tmp_path):
    cfg = GRPOConfig(model=str(tiny), run_dir=str(tmp_path / "run"), env_id="assay/test-length-v0", env_kwargs={},
                     steps=1, eval_size=3, eval_samples=4, eval_temperature=0.7, prompts_per_step=2, group_size=2,
                     max_new_tokens=4)
    trainer = GRPOTrainer(cfg, progress=False)
    try:
        # 4 episodes per task, grouped by task: 4 of 4, 1 of 4 and 0 of 4 pass
        trainer.generator = PatternGenerator(build_tokenizer(), [True] * 4 + [False, True, False, False] + [False] * 4)
        row = trainer.evaluate()
        params = trainer._eval_sampling()
    finally:
        trainer.close()
    assert row["eval_accuracy"] == pytest.approx(5 / 12)
    assert row["eval_pass@2"] == pytest.approx((1 + 0.5 + 0) / 3)  # pass@2 = 1 - C(4-c, 2) / C(4, 2) per task
    assert row["eval_pass@4"] == pytest.approx(2 / 3)
    assert (params.temperature, params.seed) == (0.7, eval_sampling_seed(cfg.seed))


def test_assay_eval_reproduces_a_sampled_evaluation(tiny, tmp_path, capsys):
    """The run's own settings and sampling seed: the same episodes, so the same figures. LengthEnv
    with one token passes on a digit, which the untrained model samples now and then: the figures
    are not all zero, so agreeing means something."""
    run_dir = tmp_path / "run"
    cfg = GRPOConfig(model=str(tiny), run_dir=str(run_dir), env_id="assay/test-length-v0", env_kwargs={}, steps=1,
                     save_every=1, eval_size=16, eval_samples=2, prompts_per_step=2, group_size=2, max_new_tokens=1,
                     seed=3)
    trainer = GRPOTrainer(cfg, progress=False)
    trainer.train()
    trainer.close()
    logged = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    last = [r for r in logged if "eval_accuracy" in r][-1]
    assert 0 < last["eval_accuracy"] < last["eval_pass@2"]
    assert main(["eval", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "temperature 1" in out and re.search(r"samples per task\s*│\s*2\b", out)
    shown = {m.group(1): float(m.group(2)) for m in re.finditer(r"(accuracy|pass@2)\s*│\s*([0-9.]+)", out)}
    assert shown["accuracy"] == pytest.approx(last["eval_accuracy"], abs=5e-5)
    assert shown["pass@2"] == pytest.approx(last["eval_pass@2"], abs=5e-5)
