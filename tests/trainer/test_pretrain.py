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
