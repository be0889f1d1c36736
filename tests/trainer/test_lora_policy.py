"""GRPO with LoRA adapters (lora_rank): only the adapters train, checkpoints stay plain Hugging
Face models whose weights moved by a low-rank update on the targeted layers only, and a resume
is exact (the adapters are in the trainer state; the base comes back from the starting model)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import assay
from assay.config import ConfigError
from assay.trainer.config import GRPOConfig
from assay.trainer.grpo import GRPOTrainer
from assay.trainer.tiny import save_tiny

assay.register("test-length-v0", "tests.trainer.echo_env:LengthEnv", override=True)


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return save_tiny(tmp_path_factory.mktemp("m") / "tiny", hidden_size=32, layers=1, heads=2)


def config(model, run_dir, **kw) -> GRPOConfig:
    # rewards differ within every group from the first step (share of digits): the adapters move at once
    base = dict(model=str(model), run_dir=str(run_dir), env_id="assay/test-length-v0", env_kwargs={}, steps=4,
                prompts_per_step=2, group_size=4, max_new_tokens=6, eval_size=2, eval_every=100, save_every=2,
                lr=1e-2, seed=3, lora_rank=4, kl_coef=0.1)
    return GRPOConfig(**{**base, **kw})


def checkpoint(run_dir: Path, step: int) -> dict[str, torch.Tensor]:
    return load_file(run_dir / "checkpoints" / f"step_{step:06d}" / "model.safetensors")


def test_only_the_adapters_train_and_checkpoints_are_plain_models(model, tmp_path):
    trainer = GRPOTrainer(config(model, tmp_path), progress=False)
    assert {n.split(".")[-2] for n, p in trainer.policy.named_parameters() if p.requires_grad} == {"default"}
    trainer.train()
    base, saved = load_file(model / "model.safetensors"), checkpoint(tmp_path, 4)
    assert saved.keys() == base.keys()  # no adapter keys: a standard directory under the base's names
    moved = [k for k in base if not torch.equal(base[k], saved[k])]
    assert moved and all(k.endswith("proj.weight") for k in moved)  # embeddings, norms: as they were
    assert all(torch.linalg.matrix_rank(saved[k] - base[k]).item() <= 4 for k in moved)


def test_a_resume_is_exact(model, tmp_path):
    GRPOTrainer(config(model, tmp_path / "straight"), progress=False).train()
    GRPOTrainer(config(model, tmp_path / "resumed", steps=2), progress=False).train()
    GRPOTrainer(config(model, tmp_path / "resumed"), resume=True, progress=False).train()
    a, b = checkpoint(tmp_path / "straight", 4), checkpoint(tmp_path / "resumed", 4)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], checkpoint(tmp_path / "straight", 2)[k]) for k in a)  # steps 3-4 did move it


def test_bad_lora_settings_say_the_fix():
    with pytest.raises(ConfigError, match="lora_rank and lora_alpha must be >= 0"):
        GRPOConfig(lora_rank=-1)
    with pytest.raises(ConfigError, match="lora_targets is empty"):
        GRPOConfig(lora_rank=4, lora_targets=",")


def test_lora_targets_the_model_lacks_are_named_with_the_ones_it_has(model):
    from transformers import AutoModelForCausalLM

    from assay.trainer.lora import add_lora

    model = AutoModelForCausalLM.from_pretrained(model)
    with pytest.raises(ConfigError, match=r"names qproj, which LlamaForCausalLM has no linear layer called; its linear "
                                          r"layers are: down_proj, gate_proj, k_proj, o_proj, q_proj, up_proj, v_proj"):
        add_lora(model, rank=2, targets="qproj,v_proj")
    add_lora(model, rank=2, targets="self_attn.q_proj,v_proj")  # names and dotted suffixes, as peft matches them



def test_the_kl_reference_is_the_policy_with_its_adapters_off(model, tmp_path):
    """No second copy of the weights: the reference reads the live model with the adapters switched
    off, which gives the starting model's log-probs however far the adapters have moved, and leaves
    them on afterwards."""
    from assay.trainer.lora import AdaptersOff
    from assay.trainer.policy import load_policy, response_logprobs
    from tests.trainer.test_invariants import fixed_batch

    trainer = GRPOTrainer(config(model, tmp_path, steps=2), progress=False)
    trainer.train()
    ref = trainer.ref_policy
    assert isinstance(ref, AdaptersOff) and not any(isinstance(v, torch.Tensor) for v in vars(ref).values())
    batch = fixed_batch()
    start = load_policy(str(model), tmp_path)[0].eval()
    with torch.no_grad():
        expected = response_logprobs(start, batch)[0]
        before = response_logprobs(trainer.policy, batch)[0]
        torch.testing.assert_close(response_logprobs(ref, batch)[0], expected, rtol=0, atol=1e-6)
        after = response_logprobs(trainer.policy, batch)[0]
    assert torch.equal(before, after) and (before - expected).abs().max() > 1e-4  # the adapters moved, and are back on
