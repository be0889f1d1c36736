"""Mixed precision for the policy: ``precision=bf16`` runs forward passes in bfloat16 under
``torch.autocast`` while the weights, gradients and AdamW state stay fp32 (the master copy).

Why autocast and not bf16 weights: a bf16 weight cannot take an update smaller than its rounding
step (1/256 of its size), so small learning rates stall; fp32 master weights are the usual fix.
The LM head is the exception to autocast: the final norm hands back fp32 (RMSNorm upcasts and
multiplies by an fp32 weight), so ``response_logprobs`` casts the hidden states and the head to
bf16 itself before ``assay.kernels.token_logprobs``, which then runs its chunk GEMMs in bf16 and
its softmax statistics in fp32 as for any bf16 input.
"""

from __future__ import annotations

import contextlib

import torch

PRECISIONS = ("fp32", "bf16")


def compute_dtype(precision: str) -> torch.dtype | None:
    """The dtype forward passes compute in, or None for the weights' own (fp32)."""
    return torch.bfloat16 if precision == "bf16" else None


def autocast(device: torch.device | str, precision: str):
    """A context running forward passes at ``precision`` on ``device`` (nothing for fp32)."""
    dtype = compute_dtype(precision)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=dtype)
