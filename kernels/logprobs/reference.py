"""The spec of ``token_logprobs``, in plain torch: the full ``[N, V]`` logits, held at once.

    logits  = (hidden @ weight.T)              matmul in the inputs' dtype, as the LM head runs
    z       = logits.float() / temperature     upcast, then divide (as vLLM does when sampling)
    logp[n] = log_softmax(z)[n, targets[n]]
    H[n]    = -sum_v p[n, v] * log p[n, v]

Rows whose target is ``ignore_index`` (or whose ``mask`` is False) give 0 for both, and no gradient.
Used by the tests as the truth and by the bench as the "naive" baseline; it costs ``N * V`` fp32
elements of logits plus as much again for each autograd intermediate.
"""

from __future__ import annotations

import torch


def accumulate_dtype(dtype: torch.dtype) -> torch.dtype:
    """fp32 for bf16/fp16/fp32 inputs; fp64 stays fp64 (so gradcheck can run in double)."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def token_logprobs_reference(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    targets: torch.Tensor,
    temperature: float = 1.0,
    return_entropy: bool = False,
    ignore_index: int = -100,
    mask: torch.Tensor | None = None,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Log-probabilities of ``targets`` (and the entropy) under ``softmax(hidden @ weight.T / T)``."""
    valid = targets != ignore_index
    if mask is not None:
        valid = valid & mask
    z = (hidden @ weight.T).to(accumulate_dtype(hidden.dtype)) / temperature
    logp_all = torch.log_softmax(z, dim=-1)
    safe_targets = torch.where(valid, targets, torch.zeros_like(targets))
    logp = logp_all.gather(-1, safe_targets.unsqueeze(-1)).squeeze(-1)
    logp = torch.where(valid, logp, torch.zeros_like(logp))
    if not return_entropy:
        return logp
    entropy = -(logp_all.exp() * logp_all).sum(-1)
    entropy = torch.where(valid, entropy, torch.zeros_like(entropy))
    return logp, entropy
