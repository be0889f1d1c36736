"""Segment ops over ragged groups: group advantages (GRPO / Dr.GRPO / RLOO), PRM step-score
aggregation, and per-step process returns (sum, PURE's min and softmin, discounted).

Each op has a plain-torch reference (``reference.py``, the spec), Triton kernels
(``triton_kernels.py``), a CPU path (``cpu.py``) and a dispatcher (``ops.py``). Not differentiable:
rewards are data.
"""

from assay.kernels.segments.ops import group_advantages, prm_aggregate, process_returns
from assay.kernels.segments.reference import (
    group_advantages_reference,
    prm_aggregate_reference,
    process_returns_reference,
)

__all__ = [
    "group_advantages",
    "group_advantages_reference",
    "prm_aggregate",
    "prm_aggregate_reference",
    "process_returns",
    "process_returns_reference",
]
