"""Step scores -> one score per trajectory, batched through ``assay.kernels``.

``last`` (search-and-learn's default), ``min``, ``prod``, ``mean`` and ``sum`` are
``kernels.prm_aggregate``; ``softmin`` is PURE's soft minimum ``sum_t softmax(-r/T)_t * r_t``,
which is the first element of ``kernels.process_returns(mode="softmin")`` of each segment.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from assay.kernels import prm_aggregate, process_returns

AGGREGATIONS = ("last", "min", "prod", "mean", "sum", "softmin")


def check_aggregation(op: str) -> str:
    if op not in AGGREGATIONS:
        raise ValueError(f"unknown step aggregation {op!r}; choose one of {', '.join(AGGREGATIONS)}")
    return op


def aggregate(step_scores: Sequence[Sequence[float]], op: str = "last", temperature: float = 0.1) -> list[float]:
    """One score per trajectory. An empty trajectory scores 0 (``prod``: 1, the empty product)."""
    check_aggregation(op)
    if not step_scores:
        return []
    lengths = torch.tensor([len(s) for s in step_scores], dtype=torch.int64)
    offsets = torch.zeros(len(step_scores) + 1, dtype=torch.int64)
    torch.cumsum(lengths, 0, out=offsets[1:])
    flat = torch.tensor([x for s in step_scores for x in s], dtype=torch.float32)
    if op != "softmin":
        return prm_aggregate(flat, offsets, op).tolist()
    returns = process_returns(flat, offsets, "softmin", temperature=temperature)
    firsts = offsets[:-1].clamp(max=max(flat.numel() - 1, 0))
    return [0.0 if n == 0 else float(returns[i]) for i, n in zip(firsts.tolist(), lengths.tolist())]
