"""FSDP2 data parallelism for the policy (``fsdp=true``): weights, gradients and AdamW state are
sharded over the ranks, one FSDP unit per decoder block plus a root for the rest.

Why a wrapper is the root: FSDP2 gathers a module's parameters in hooks around that module's
``forward``. The trainer never calls the Hugging Face model's own forward (log-probs go through
``base_model`` and the fused ``assay.kernels.token_logprobs``, so no ``[tokens, vocab]`` logits
exist), so the root is :class:`ShardedPolicy`, whose forward *is* ``response_logprobs``: the
embeddings, the final norm and the LM head are gathered for it, each decoder block for its own.

Gradients are summed over ranks, not averaged: every rank's loss is already normalised by the
global batch's counts (``assay.trainer.update``), so the sum is the full batch's gradient, as in
the all-reduce path. Sum-only reductions also keep gloo (CPU) working, which has no PREMUL_SUM.

Sampling does not go through the shards. Generation is many one-token forwards, and through FSDP
each would all-gather every block once per token. Each rank samples instead with a full copy of
the weights (``generation_copy``), refreshed from the shards after every update, the way a
colocated inference engine keeps weights of its own. So a rank holds the whole model once, and a
shard of the gradients and of the optimiser state.
"""

from __future__ import annotations

import copy

import torch
import torch.distributed as dist
from torch import nn

from assay.trainer.policy import response_logprobs


class ShardedPolicy(nn.Module):
    """The FSDP root around a causal LM; calling it gives ``response_logprobs(model, ...)``."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, batch, temperature: float = 1.0, with_entropy: bool = False, precision: str = "fp32"):
        return response_logprobs(self.model, batch, temperature, with_entropy, precision)


def decoder_blocks(model: nn.Module) -> list[nn.Module]:
    """The model's repeated blocks: the classes transformers lists in ``_no_split_modules``."""
    from assay.config import ConfigError

    names = set(getattr(model, "_no_split_modules", None) or ())
    blocks = [m for m in model.modules() if type(m).__name__ in names]
    if not blocks:
        raise ConfigError(f"fsdp=true shards the policy per decoder block, but {type(model).__name__} names no block "
                          "class (_no_split_modules); set fsdp=false")
    return blocks


def shard_policy(model: nn.Module, trainable: bool = True, precision: str = "fp32") -> ShardedPolicy:
    """Shard ``model`` in place over the process group; returns the root to call and optimise.

    ``trainable=False`` (a KL reference) reshards the root after each forward too: no backward
    follows that would reuse the gathered weights. ``precision="bf16"``: the shards stay fp32 (the
    master weights AdamW steps) but are gathered as bf16, half the all-gather traffic and memory of
    fp32, and gradients are reduced in fp32 (FSDP's ``MixedPrecisionPolicy``)."""
    from torch.distributed.fsdp import FSDPModule, MixedPrecisionPolicy, fully_shard

    from assay.config import ConfigError

    if not (dist.is_available() and dist.is_initialized()):
        raise ConfigError("fsdp=true needs a process group: run under torchrun (or through `assay train`, which "
                          "starts a one-process group itself)")
    mixed = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32) if precision == "bf16" \
        else MixedPrecisionPolicy()
    root = ShardedPolicy(model)
    for block in decoder_blocks(model):
        fully_shard(block, mp_policy=mixed)
    fully_shard(root, reshard_after_forward=None if trainable else True, mp_policy=mixed)
    for module in root.modules():
        if isinstance(module, FSDPModule):
            module.set_gradient_divide_factor(1.0)
            module.set_force_sum_reduction_for_comms(True)
    return root


def full_weights(model: nn.Module) -> dict[str, torch.Tensor]:
    """``model``'s state dict with every shard gathered, on every rank (a collective: all ranks
    call it at the same point)."""
    from torch.distributed.tensor import DTensor

    return {name: value.full_tensor() if isinstance(value, DTensor) else value
            for name, value in model.state_dict().items()}


def generation_copy(model: nn.Module) -> nn.Module:
    """A full, unsharded copy to sample with; take it before :func:`shard_policy`."""
    return copy.deepcopy(model).requires_grad_(False)


def refresh(copy_model: nn.Module, sharded_model: nn.Module) -> None:
    """Load the sharded model's current weights into its generation copy (collective)."""
    with torch.no_grad():
        copy_model.load_state_dict(full_weights(sharded_model))


def optimizer_state(root: ShardedPolicy, optimizer: torch.optim.Optimizer) -> dict:
    """The optimiser's full state (keyed by parameter name) on rank 0, ``{}`` elsewhere; a
    collective. A full state loads under any number of ranks."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

    return get_optimizer_state_dict(root, optimizer, options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def load_optimizer_state(root: ShardedPolicy, optimizer: torch.optim.Optimizer, state: dict) -> None:
    """Shard a full optimiser state (from :func:`optimizer_state`) onto this rank's parameters."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

    set_optimizer_state_dict(root, optimizer, state, options=StateDictOptions(full_state_dict=True))


def is_sharded(model: nn.Module) -> bool:
    return isinstance(model, ShardedPolicy)
