"""The policy model: loading, and per-token log-probs of responses through ``assay.kernels``.

Log-probs come from the final hidden states and the LM head via
``assay.kernels.token_logprobs``, so the ``[tokens, vocab]`` logits are never materialised
(the trainer's memory peak at large vocabularies).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import torch

from assay.kernels import token_logprobs
from assay.trainer.batch import Batch
from assay.trainer.precision import autocast, compute_dtype


def load_policy(model: str, work_dir: str | Path, seed: int = 0, dtype: torch.dtype = torch.float32):
    """``(model, tokenizer)`` from a Hugging Face directory, or a fresh tiny model for ``"tiny"``."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from assay.errors import AssayError

    if model == "tiny":
        from assay.trainer.tiny import save_tiny

        path = Path(work_dir) / "tiny-init"
        if not (path / "config.json").exists():
            save_tiny(path, seed=seed)
        model = str(path)
    if not Path(model).exists():
        raise AssayError(f"model {model!r} is not a local directory; pass a Hugging Face model directory or 'tiny' "
                         "(run `assay pretrain-tiny` for a warm-started one)")
    if not (Path(model) / "config.json").is_file():
        raise AssayError(f"model {model!r} has no config.json, so it is not a Hugging Face model directory (a run "
                         "directory keeps its models under checkpoints/ and best/)")
    policy = AutoModelForCausalLM.from_pretrained(model, dtype=dtype)
    # Loaded weights can sit at unaligned addresses inside the checkpoint's buffer (24 mod 64 bytes
    # for the tiny model here); CPU kernels then take other SIMD paths and round differently from any
    # copy of the same weights, so a generator actor or an async snapshot would sample log-probs a few
    # ulps off the driver's. Fresh allocations make every copy compute alike (tied weights stay tied:
    # they are one Parameter).
    with torch.no_grad():
        for param in policy.parameters():
            param.data = param.data.clone()
    tokenizer = AutoTokenizer.from_pretrained(model)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return policy, tokenizer


def response_logprobs(model, batch: Batch, temperature: float = 1.0, with_entropy: bool = False,
                      precision: str = "fp32"):
    """``(logp, entropy)`` of every response token, each ``(B, T)`` fp32 (0 where masked out).

    Position ``prompt_len + j - 1`` predicts response token ``j``. Only positions whose loss mask is
    1 go through the LM head (environment tokens and padding cost no vocabulary matmul).
    ``precision="bf16"``: the trunk runs under autocast and the head in bf16 (``assay.trainer.precision``).
    """
    b, t = batch.response_ids.shape
    with autocast(batch.input_ids.device, precision), _recomputed_blocks(model):
        hidden = model.base_model(input_ids=batch.input_ids, attention_mask=batch.attention_mask,
                                  use_cache=False).last_hidden_state  # (B, L, D)
    dev = hidden.device
    rows = torch.arange(b, device=dev)[:, None].expand(b, t)
    cols = (batch.prompt_lens.to(dev)[:, None] - 1 + torch.arange(t, device=dev)[None, :]).clamp(max=hidden.shape[1] - 1)
    selected = batch.loss_mask > 0
    h = hidden[rows[selected], cols[selected]]  # (N, D) only the trained positions
    targets = batch.response_ids[selected]
    weight = model.get_output_embeddings().weight
    if (dtype := compute_dtype(precision)) is not None:  # differentiable casts: the fp32 weights get the gradient
        h, weight = h.to(dtype), weight.to(dtype)
    out = token_logprobs(h, weight, targets, temperature=temperature, return_entropy=with_entropy)
    logp_flat, ent_flat = out if with_entropy else (out, None)
    logp = torch.zeros((b, t), dtype=torch.float32, device=hidden.device)
    logp = logp.masked_scatter(selected, logp_flat) if logp_flat.numel() else logp
    entropy = None
    if with_entropy:
        entropy = torch.zeros((b, t), dtype=torch.float32, device=hidden.device)
        entropy = entropy.masked_scatter(selected, ent_flat) if ent_flat.numel() else entropy
    return logp, entropy


RECOMPUTE_FLAG = "assay_recomputes_blocks"  # set on a model by enable_gradient_checkpointing


def enable_gradient_checkpointing(model) -> int:
    """Recompute each decoder block's activations in the backward pass instead of keeping them
    (``response_logprobs`` then checkpoints every block while gradients are on); returns how many
    blocks. The blocks are the ones transformers itself would checkpoint.

    Why not transformers' own switch alone: it checkpoints only in training mode, and the policy
    stays in eval mode so that dropout never makes the trainer's log-probs differ from the
    sampler's. The switch marks the blocks; ``_recomputed_blocks`` checkpoints them in eval mode."""
    from assay.config import ConfigError

    try:
        if hasattr(model, "activation_checkpointing_enable"):  # its name from transformers 5.x on
            model.activation_checkpointing_enable({"use_reentrant": False})
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    except (ValueError, AttributeError) as e:
        raise ConfigError(f"gradient_checkpointing=true: {type(model).__name__} does not support it ({e}); "
                          "set gradient_checkpointing=false") from None
    blocks = _checkpointed_blocks(model)
    if not blocks:
        raise ConfigError(f"gradient_checkpointing=true: {type(model).__name__} has no decoder blocks transformers can "
                          "checkpoint; set gradient_checkpointing=false")
    setattr(model, RECOMPUTE_FLAG, True)  # so that forwards of other models look for no blocks at all
    return len(blocks)


def _checkpointed_blocks(model) -> list[torch.nn.Module]:
    """The decoder blocks transformers' switch marked (the model classes carry a flag of the same
    name, which is not a block)."""
    from transformers.modeling_layers import GradientCheckpointingLayer

    return [m for m in model.modules() if isinstance(m, GradientCheckpointingLayer) and m.gradient_checkpointing]


@contextlib.contextmanager
def _recomputed_blocks(model):
    """While gradients are on, each marked block's forward runs under non-reentrant
    ``torch.utils.checkpoint``. The wrapper replaces ``forward``, not ``__call__``, so module hooks
    (FSDP2's gathers) stay outside the checkpoint, as in transformers; it lives on the instance only
    inside this block, so copies of the model (the KL reference, snapshots) never carry it."""
    blocks = _checkpointed_blocks(model) if torch.is_grad_enabled() and getattr(model, RECOMPUTE_FLAG, False) else []
    for block in blocks:
        block.forward = _checkpointed(block.forward)
    try:
        yield
    finally:
        for block in blocks:
            del block.forward  # the class's forward again


def _checkpointed(forward):
    from torch.utils.checkpoint import checkpoint

    def run(*args, **kwargs):
        return checkpoint(forward, *args, use_reentrant=False, **kwargs)

    return run
