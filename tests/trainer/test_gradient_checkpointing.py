"""gradient_checkpointing=true: the update recomputes each decoder block in the backward pass
instead of keeping its activations. It changes memory, not the step."""

from __future__ import annotations

import copy

import pytest
import torch
from safetensors.torch import load_file

from assay.config import ConfigError
from assay.trainer.config import GRPOConfig
from assay.trainer.grpo import GRPOTrainer
from assay.trainer.policy import enable_gradient_checkpointing, response_logprobs
from assay.trainer.tiny import build_model, save_tiny
from tests.trainer.test_invariants import VOCAB, fixed_batch, step

CONFIG = GRPOConfig(micro_batch_size=4, max_grad_norm=1.0)


def policy(layers: int = 2):
    """The tiny model in eval mode, as the trainer holds its policy (``from_pretrained`` leaves it so;
    dropout must not make the trainer's log-probs differ from the sampler's). transformers' own
    switch checkpoints only in training mode, so these tests see assay's checkpointing alone."""
    return build_model(VOCAB, hidden_size=32, layers=layers, heads=2, seed=0).eval()


def test_a_checkpointed_update_takes_the_same_step():
    plain, checkpointed = policy(), policy()
    assert enable_gradient_checkpointing(checkpointed) == 2  # the tiny model's two decoder blocks
    expected, metrics = step(plain, fixed_batch(), CONFIG)
    got, checkpointed_metrics = step(checkpointed, fixed_batch(), CONFIG)
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
    assert checkpointed_metrics["loss"] == pytest.approx(metrics["loss"], rel=1e-6)
    assert max((a - b).abs().max().item() for a, b in zip(expected, policy().parameters())) > 1e-3  # it stepped


def saved_bytes(m) -> int:
    """Bytes of the tensors autograd keeps for the backward pass of one log-prob forward."""
    total = 0

    def pack(t):
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        logp, _ = response_logprobs(m, fixed_batch())
    logp.sum().backward()
    return total


def test_checkpointed_blocks_keep_no_activations_for_the_backward():
    """Eight blocks: without checkpointing each keeps its activations; with it they are recomputed,
    and what autograd still keeps (embeddings, final norm, the LM head's inputs) is a small part."""
    plain = policy(layers=8)
    checkpointed = copy.deepcopy(plain)
    enable_gradient_checkpointing(checkpointed)
    assert saved_bytes(checkpointed) < 0.25 * saved_bytes(plain)


def test_the_wrapper_lives_only_inside_the_forward():
    """Copies of the policy (the KL reference, async snapshots) never carry it, and a forward
    without gradients (sampling, old log-probs) is not checkpointed at all."""
    m = policy()
    enable_gradient_checkpointing(m)
    blocks = list(m.model.layers)
    response_logprobs(m, fixed_batch())
    assert all("forward" not in b.__dict__ for b in blocks)
    with torch.no_grad():
        logp, _ = response_logprobs(m, fixed_batch())
    assert logp.grad_fn is None
    copy.deepcopy(m)


def test_a_model_without_support_is_refused_with_the_fix():
    m = policy()
    m.supports_gradient_checkpointing = False  # as for model classes transformers cannot checkpoint
    with pytest.raises(ConfigError, match="set gradient_checkpointing=false"):
        enable_gradient_checkpointing(m)


@pytest.mark.parametrize("lora_rank", [0, 4], ids=["full", "lora"])
def test_the_trainer_with_checkpointing_trains_to_the_same_weights(tmp_path, lora_rank):
    """With LoRA too: frozen blocks are recomputed, and the adapters inside them get their gradients."""
    tiny = save_tiny(tmp_path / "tiny", hidden_size=32, layers=2, heads=2)
    weights = {}
    for on in (False, True):
        cfg = GRPOConfig(model=str(tiny), run_dir=str(tmp_path / str(on)), steps=2, save_every=2, eval_every=2, eval_size=2,
                         prompts_per_step=2, group_size=4, max_new_tokens=6, env_kwargs={"difficulty": 1}, seed=5,
                         kl_coef=0.05, gradient_checkpointing=on, lora_rank=lora_rank, **({"lr": 1e-2} if lora_rank else {}))
        trainer = GRPOTrainer(cfg, progress=False)
        trainer.train()
        trainer.close()
        weights[on] = load_file(tmp_path / str(on) / "checkpoints" / "step_000002" / "model.safetensors")
    start = load_file(tiny / "model.safetensors")
    for name, value in weights[False].items():
        torch.testing.assert_close(weights[True][name], value, rtol=1e-5, atol=1e-6, msg=name)
    assert max((weights[True][k] - start[k]).abs().max().item() for k in start) > 1e-4  # it trained
