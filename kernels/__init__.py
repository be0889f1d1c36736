"""Numeric hot paths of the trainer and search: Triton kernels (CUDA), CPU paths, torch references.

- ``token_logprobs(hidden, weight, targets, temperature=1.0, return_entropy=False)``: log p(target)
  per token from final hidden states and the LM head, never holding ``[tokens, vocab]`` logits;
  differentiable.
- ``group_advantages(rewards, group_ids, mode="grpo" | "dr_grpo" | "rloo", eps=1e-6)``
- ``prm_aggregate(step_rewards, offsets, op="min" | "mean" | "prod" | "last" | "sum")``
- ``process_returns(step_rewards, offsets, mode="sum" | "min" | "discounted" | "softmin", gamma=1.0)``

Every op takes ``backend="auto" | "triton" | "cpu" | "reference"`` (see ``dispatch``). This
package imports only torch, triton, numba and assay core.
"""

from assay.kernels.logprobs import token_logprobs, token_logprobs_reference
from assay.kernels.segments import (
    group_advantages,
    group_advantages_reference,
    prm_aggregate,
    prm_aggregate_reference,
    process_returns,
    process_returns_reference,
)

__all__ = [
    "group_advantages",
    "group_advantages_reference",
    "prm_aggregate",
    "prm_aggregate_reference",
    "process_returns",
    "process_returns_reference",
    "token_logprobs",
    "token_logprobs_reference",
]
