"""precision=bf16: forward passes in bfloat16 under autocast, fp32 master weights and gradients."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from assay.config import ConfigError
from assay.protocols import SamplingParams
from assay.trainer.config import GRPOConfig
from assay.trainer.generators.hf import HFGenerator
from assay.trainer.grpo import GRPOTrainer
from assay.trainer.policy import response_logprobs
from assay.trainer.tiny import build_tokenizer, save_tiny
from tests.trainer.test_invariants import fixed_batch, model


def test_bf16_logprobs_are_fp32_ones_to_bf16_accuracy_and_train_fp32_weights():
    policy = model()
    batch = fixed_batch()
    exact, _ = response_logprobs(policy, batch, 0.7)
    logp, entropy = response_logprobs(policy, batch, 0.7, with_entropy=True, precision="bf16")
    assert logp.dtype == torch.float32 and entropy.dtype == torch.float32
    mask = batch.loss_mask > 0
    diff = (logp - exact)[mask].abs()
    # bf16 keeps 8 bits: logits of size ~5 round by ~0.02; the log-probs move by as much, not more
    assert 0 < diff.max() < 0.1
    (logp * batch.loss_mask).sum().backward()
    grads = [p.grad for p in policy.parameters()]
    assert all(p.dtype == torch.float32 for p in policy.parameters()) and all(g.dtype == torch.float32 for g in grads)
    reference = model()
    (response_logprobs(reference, batch, 0.7)[0] * batch.loss_mask).sum().backward()
    flat = torch.cat([g.flatten() for g in grads])
    ref = torch.cat([p.grad.flatten() for p in reference.parameters()])
    assert torch.nn.functional.cosine_similarity(flat, ref, dim=0) > 0.99


def test_bf16_sampling_records_the_log_probs_of_its_own_distribution():
    tok = build_tokenizer()
    policy = model()
    prompts = [tok.encode("Q: 1+2= A:"), tok.encode("x")]
    outs = HFGenerator(policy, tok, precision="bf16").generate(prompts, SamplingParams(max_new_tokens=8, temperature=1.0, seed=1))
    for p, out in zip(prompts, outs):
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            logits = policy(torch.tensor([p + list(out.token_ids)])).logits[0, len(p) - 1 : -1]
        ref = logits.float().log_softmax(-1).gather(-1, torch.tensor(out.token_ids)[:, None]).squeeze(-1)
        # the cached decode and a full forward round differently in bf16; both are the bf16 model
        torch.testing.assert_close(torch.tensor(out.logprobs), ref, atol=0.1, rtol=0)


def test_a_bf16_run_trains_and_keeps_fp32_checkpoints(tmp_path):
    path = save_tiny(tmp_path / "tiny", hidden_size=32, layers=1, heads=2)
    cfg = GRPOConfig(model=str(path), run_dir=str(tmp_path / "run"), steps=3, prompts_per_step=4, group_size=4,
                     max_new_tokens=6, overlong_buffer=5, eval_every=3, eval_size=4, save_every=3, lr=1e-3,
                     env_kwargs={"difficulty": 1}, precision="bf16")
    rows = [r for r in GRPOTrainer(cfg, progress=False).train() if "loss" in r]
    assert len(rows) == 3 and all(torch.isfinite(torch.tensor(r["loss"])) for r in rows)
    saved = load_file(tmp_path / "run" / "checkpoints" / "step_000003" / "model.safetensors")
    start = load_file(path / "model.safetensors")
    assert all(v.dtype == torch.float32 for v in saved.values())
    assert max((saved[k] - start[k]).abs().max().item() for k in start) > 1e-4


def test_precision_must_be_known():
    with pytest.raises(ConfigError, match="precision must be one of"):
        GRPOConfig(precision="fp16")
