"""`assay pretrain-tiny` writes a standard Hugging Face directory that training loads as any model."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

from transformers import AutoModelForCausalLM, AutoTokenizer

from assay.config import field_docs
from assay.trainer.sft import SFTConfig


def test_every_field_has_a_docstring():
    docs = field_docs(SFTConfig)
    assert all(docs.get(f.name) for f in dataclasses.fields(SFTConfig))


def test_pretrain_tiny_cli_writes_a_loadable_model_and_lowers_the_loss(tmp_path):
    out = tmp_path / "sft"
    run = subprocess.run([sys.executable, "-m", "assay.cli.main", "pretrain-tiny", f"out={out}", "steps=25", "batch_size=8",
                          "env_kwargs={difficulty: 1}"], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    losses = [float(line.split("loss")[1].split()[0]) for line in run.stdout.splitlines() if line.startswith("sft step")]
    assert len(losses) == 1 and losses[0] < 2.5  # from ~4.8 (uniform over 119 tokens) at the start
    model = AutoModelForCausalLM.from_pretrained(out)
    tok = AutoTokenizer.from_pretrained(out)
    assert model.config.vocab_size == len(tok) and tok.chat_template


def test_bad_override_is_one_line():
    run = subprocess.run([sys.executable, "-m", "assay.cli.main", "pretrain-tiny", "steps=0"], capture_output=True, text=True)
    assert run.returncode == 2 and run.stderr.startswith("assay: error: steps and batch_size must be >= 1")


def test_a_stopped_run_resumes_to_the_weights_of_one_never_stopped(tmp_path, monkeypatch):
    """Stopped after step 7 (checkpoints every 3 steps), resumed: the same final weights, bit for bit,
    and metrics.jsonl with each step once (step 7 is logged again after the step-6 checkpoint)."""
    import json

    import pytest
    import torch
    from safetensors.torch import load_file

    from assay.trainer import sft

    settings = dict(steps=10, batch_size=4, env_kwargs={"difficulty": 1}, save_every=3, keep_checkpoints=2)
    straight = sft.pretrain_tiny(SFTConfig(out=str(tmp_path / "straight"), **settings), log=lambda _: None)

    real_step, steps = torch.optim.AdamW.step, []

    def stop_after_7(self, *a, **k):
        steps.append(1)
        if len(steps) == 8:
            raise KeyboardInterrupt  # the process dies here: nothing after step 7 is written
        return real_step(self, *a, **k)

    monkeypatch.setattr(torch.optim.AdamW, "step", stop_after_7)
    cfg = SFTConfig(out=str(tmp_path / "stopped"), **settings)
    with pytest.raises(KeyboardInterrupt):
        sft.pretrain_tiny(cfg, log=lambda _: None)
    monkeypatch.setattr(torch.optim.AdamW, "step", real_step)
    said = []
    resumed = sft.pretrain_tiny(cfg, log=said.append, resume=True)
    assert "sft resumed from step 6" in said
    a, b = load_file(straight / "model.safetensors"), load_file(resumed / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    rows = [json.loads(line) for line in (resumed / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(1, 11))
    straight_rows = [json.loads(line) for line in (straight / "metrics.jsonl").read_text().splitlines()]
    assert [r["loss"] for r in rows] == [r["loss"] for r in straight_rows]
    assert sorted(p.name for p in (resumed / "checkpoints").iterdir()) == ["latest", "step_000006", "step_000009"]


def test_an_env_without_gold_answers_is_refused_in_one_line(tmp_path):
    import pytest

    from assay.errors import AssayError
    from assay.trainer.sft import pretrain_tiny

    config = SFTConfig(out=str(tmp_path / "sft"), env_id="tests.trainer.echo_env_registered:plain-reverse-v0", env_kwargs={},
                       steps=1, batch_size=2)
    with pytest.raises(AssayError, match="pretrain-tiny learns from gold answers, and assay/plain-reverse-v0 states none"):
        pretrain_tiny(config, log=lambda *_: None)
