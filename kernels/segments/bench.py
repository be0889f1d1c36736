"""Benchmark cases for the segment ops, for ``assay.kernels.benchutil``.

Implementations compared (GRPO advantages, PRM ``min`` aggregation by default):

- ``assay``: the dispatcher with ``backend="auto"`` (Triton on CUDA, the CPU path otherwise).
- ``eager``: what one writes first: a Python loop over the groups / segments.
- ``torch vectorized``: the scatter version (``index_add_`` / ``scatter_reduce_``), ids in [0, G).
- ``compiled``: ``torch.compile`` of the vectorized version.

``Work.bytes`` is the least traffic the op needs: its inputs read once and its output written
once (advantages: rewards + int64 ids read, float32 advantages written).

Targets: on GPU, 64M elements in groups of 16 should run at >= 80% of peak bandwidth, and 4k
groups of 8 should be >= 10x faster than eager. Run: see ``cases`` and ``benchutil.measure``.
"""

from __future__ import annotations

import torch

from assay.kernels.benchutil import Case, Work
from assay.kernels.segments.ops import group_advantages, prm_aggregate, process_returns

SETUP = "assay.kernels.segments.bench:setup"
EPS = 1e-6


def _advantages_eager(rewards, offsets_list, eps=EPS):
    out = torch.empty_like(rewards, dtype=torch.float32)
    for a, b in zip(offsets_list[:-1], offsets_list[1:]):
        g = rewards[a:b].float()
        out[a:b] = (g - g.mean()) / (g.std() + eps) if b - a > 1 else 0.0
    return out


def _advantages_vectorized(rewards, ids, num_groups: int, eps: float = EPS):
    r = rewards.float()
    n = torch.zeros(num_groups, device=r.device).index_add_(0, ids, torch.ones_like(r))
    mean = torch.zeros(num_groups, device=r.device).index_add_(0, ids, r) / n
    d = r - mean[ids]
    var = torch.zeros(num_groups, device=r.device).index_add_(0, ids, d * d) / (n - 1).clamp(min=1)
    return d / (var.sqrt() + eps)[ids]


def _aggregate_eager(x, offsets_list, op):
    fn = {"min": torch.min, "mean": torch.mean, "prod": torch.prod, "sum": torch.sum, "last": lambda s: s[-1]}[op]
    return torch.stack([fn(x[a:b]) for a, b in zip(offsets_list[:-1], offsets_list[1:])])


def _aggregate_vectorized(x, offsets, op):
    lengths = offsets[1:] - offsets[:-1]
    seg = torch.repeat_interleave(torch.arange(lengths.numel(), device=x.device), lengths, output_size=x.numel())
    reduce = {"min": "amin", "mean": "mean", "prod": "prod", "sum": "sum"}[op]
    return torch.zeros(lengths.numel(), device=x.device).scatter_reduce_(0, seg, x, reduce, include_self=False)


def _returns_eager(x, offsets_list, mode, gamma):
    out = torch.empty_like(x)
    for a, b in zip(offsets_list[:-1], offsets_list[1:]):
        seg = x[a:b].flip(0)
        if mode == "sum":
            out[a:b] = seg.cumsum(0).flip(0)
        elif mode == "min":
            out[a:b] = seg.cummin(0).values.flip(0)
        else:
            raise ValueError(f"eager process_returns covers sum and min, not {mode!r}")
    return out


def setup(device: str, op: str, impl: str, n_elements: int, group_size: int, mode: str = "grpo",
          agg: str = "min", returns: str = "min", seed: int = 0):
    """``(run, Work)`` for one op / implementation on ``n_elements`` split into groups of ``group_size``."""
    gen = torch.Generator().manual_seed(seed)
    num_groups = n_elements // group_size
    n = num_groups * group_size
    x = torch.rand(n, generator=gen).to(device)
    ids = (torch.arange(n) // group_size).to(device)
    offsets = (torch.arange(num_groups + 1) * group_size).to(device)
    offsets_list = offsets.tolist()
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)

    if op == "group_advantages":
        work = Work(bytes=n * (x.element_size() + ids.element_size() + 4))
        if impl == "assay (offsets)":  # the kernel alone: no ids to turn into offsets
            work = Work(bytes=n * (x.element_size() + 4) + offsets.numel() * offsets.element_size())
        fns = {
            "assay": lambda: group_advantages(x, ids, mode, EPS),
            "assay (offsets)": lambda: group_advantages(x, mode=mode, eps=EPS, offsets=offsets),
            "eager": lambda: _advantages_eager(x, offsets_list),
            "torch vectorized": lambda: _advantages_vectorized(x, ids, num_groups),
        }
        if impl == "compiled":
            compiled = torch.compile(_advantages_vectorized, dynamic=False)
            fns["compiled"] = lambda: compiled(x, ids, num_groups)
    elif op == "prm_aggregate":
        work = Work(bytes=n * x.element_size() + offsets.numel() * offsets.element_size() + num_groups * 4)
        fns = {
            "assay": lambda: prm_aggregate(x, offsets, agg),
            "eager": lambda: _aggregate_eager(x, offsets_list, agg),
            "torch vectorized": lambda: _aggregate_vectorized(x, offsets, agg),
        }
        if impl == "compiled":
            compiled = torch.compile(_aggregate_vectorized, dynamic=False)
            fns["compiled"] = lambda: compiled(x, offsets, agg)
    elif op == "process_returns":
        work = Work(bytes=n * x.element_size() * 2 + offsets.numel() * offsets.element_size())
        fns = {
            "assay": lambda: process_returns(x, offsets, returns),
            "eager": lambda: _returns_eager(x, offsets_list, returns, 1.0),
        }
    else:
        raise ValueError(f"op must be group_advantages, prm_aggregate or process_returns, got {op!r}")
    if impl not in fns:
        raise ValueError(f"impl for {op} must be one of {tuple(fns)}, got {impl!r}")
    fn = fns[impl]

    def run():
        fn()
        sync()

    return run, work


def cases(device: str = "cpu", quick: bool = False) -> list[Case]:
    """Large (bandwidth) and many-small-groups (launch/overhead) cases for the device."""
    gpu = device.startswith("cuda")
    big = (1 << 20 if quick else 1 << 22) if not gpu else (1 << 22 if quick else 1 << 26)
    small_groups = 4096
    out = []
    for op in ("group_advantages", "prm_aggregate"):
        # The Python loop over 2^22 groups is minutes per run: the large case is against bandwidth.
        impls = ("assay", "assay (offsets)") if op == "group_advantages" else ("assay",)
        for impl in (*impls, "torch vectorized", "compiled"):
            out.append(Case(op, impl, f"N={big} group=16", SETUP,
                            dict(op=op, impl=impl, n_elements=big, group_size=16)))
        for impl in ("assay", "eager", "torch vectorized", "compiled"):
            out.append(Case(op, impl, f"{small_groups} groups x 8", SETUP,
                            dict(op=op, impl=impl, n_elements=small_groups * 8, group_size=8)))
    return out


if __name__ == "__main__":
    import sys

    from assay.kernels.benchutil import measure, to_markdown

    dev = sys.argv[1] if len(sys.argv) > 1 else ("cuda" if torch.cuda.is_available() else "cpu")
    print(to_markdown([measure(c, dev) for c in cases(dev, quick="--quick" in sys.argv)]))
