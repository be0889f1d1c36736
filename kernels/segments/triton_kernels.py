"""Triton kernels for the segment ops: group advantages, PRM aggregation, per-step process returns.

What and why. Each op works on ragged segments given by ``offsets [S+1]``. A program owns a tile
of ``SEGS`` consecutive segments, one per row of a ``[SEGS, BLOCK]`` tile, and walks them
``BLOCK`` elements at a time until its longest segment is done. With ``SEGS = 1`` that is the
textbook "one program per segment"; packing rows matters for the common RLVR shape of millions of
groups of 8-16 samples, where one tiny program per group would leave the GPU latency-bound
(about 64 bytes in flight per program). The host picks ``BLOCK`` from the mean segment length
(no device sync) and ``SEGS`` so a tile holds about ``TILE`` elements; segments longer than
``BLOCK`` loop, short ones are masked.

Group ids are handled on the host (``layout.segments_from_ids``): a stable argsort makes the
groups contiguous, and the kernel gathers ``x[perm[i]]`` and scatters ``out[perm[i]]`` itself, so
no sorted copy of the rewards or of the output is ever materialised. Already-sorted ids skip the
sort.

Memory traffic per element (float32 rewards, G elements per segment; offsets are int64):

- ``group_advantages``: DRAM reads x once (4 B) and writes out once (4 B), plus 16/G B of offsets;
  passes 2 and 3 re-read the same 4 KiB tile, which stays in L1/L2. With unsorted ids add the
  perm (8 B read) and the sort. The vectorized torch version (index_add mean, gather, subtract,
  square, index_add, sqrt, gather, divide, ...) is about ten kernels, ~60 B/element.
- ``prm_aggregate``: reads x once (4 B), writes 4/G B. torch eager per op: 4-12 B plus the
  index tensor (8 B/element for ``repeat_interleave`` segment ids).
- ``process_returns``: reads x once and writes once (8 B; ``softmin`` reads x twice: 12 B).
  torch has no segmented reverse scan; a Python loop over segments is one launch per segment.

None of these ops has a backward: rewards are data.
"""

from __future__ import annotations

import math

import torch
import triton
import triton.language as tl

from assay.kernels.segments.layout import ADVANTAGE_MODES, AGGREGATE_OPS, RETURN_MODES, segments_from_ids

TILE = 1024  # elements per program tile: SEGS * BLOCK


@triton.jit
def _min_combine(a, b):
    return tl.minimum(a, b)


@triton.jit
def _mul_combine(a, b):
    return a * b


@triton.jit
def _affine_combine(a1, b1, a2, b2):
    # Compose x -> a1*x + b1, then x -> a2*x + b2 (in scan order): x -> a1*a2*x + (a2*b1 + b2).
    return a1 * a2, a2 * b1 + b2


@triton.jit
def _advantages_kernel(
    x_ptr,  # rewards [N], any float dtype, read as float32
    perm_ptr,  # int64 [N]: element i of the sorted order is x[perm[i]]; unused unless HAS_PERM
    offsets_ptr,  # int64 [S+1]: group s is sorted positions offsets[s]:offsets[s+1]
    out_ptr,  # float32 [N] advantages, written at the same positions as x
    num_segments,  # S
    eps,  # GRPO's std floor: A = d / (std + eps)
    MODE: tl.constexpr,  # 0 grpo, 1 dr_grpo, 2 rloo
    HAS_PERM: tl.constexpr,  # gather/scatter through perm_ptr (unsorted group ids)
    SEGS: tl.constexpr,  # segments per program (rows of the tile)
    BLOCK: tl.constexpr,  # elements per row per step
):
    rows = tl.program_id(0) * SEGS + tl.arange(0, SEGS)
    row_ok = rows < num_segments
    start = tl.load(offsets_ptr + rows, mask=row_ok, other=0)
    end = tl.load(offsets_ptr + rows + 1, mask=row_ok, other=0)
    n = end - start
    longest = tl.max(n, 0)
    cols = tl.arange(0, BLOCK)

    # Shift by each group's first reward ("shifted data" variance): all-equal groups give d == 0
    # exactly, and 1e6 + noise keeps its digits in float32.
    first = start
    if HAS_PERM:
        first = tl.load(perm_ptr + start, mask=n > 0, other=0)
    shift = tl.load(x_ptr + first, mask=n > 0, other=0.0).to(tl.float32)

    # Pass 1: mean of the shifted rewards.
    total = tl.zeros([SEGS], dtype=tl.float32)
    for b in range(0, longest, BLOCK):
        idx = start[:, None] + b + cols[None, :]
        m = idx < end[:, None]
        pos = idx
        if HAS_PERM:
            pos = tl.load(perm_ptr + idx, mask=m, other=0)
        v = tl.load(x_ptr + pos, mask=m, other=0.0).to(tl.float32)
        total += tl.sum(tl.where(m, v - shift[:, None], 0.0), 1)
    nf = n.to(tl.float32)
    mean = total / tl.maximum(nf, 1.0)

    # Pass 2 (GRPO only): unbiased variance of the deviations, two-pass so nothing cancels.
    denom = tl.full([SEGS], 1.0, dtype=tl.float32)
    if MODE == 0:
        sq = tl.zeros([SEGS], dtype=tl.float32)
        for b in range(0, longest, BLOCK):
            idx = start[:, None] + b + cols[None, :]
            m = idx < end[:, None]
            pos = idx
            if HAS_PERM:
                pos = tl.load(perm_ptr + idx, mask=m, other=0)
            v = tl.load(x_ptr + pos, mask=m, other=0.0).to(tl.float32)
            d = tl.where(m, (v - shift[:, None]) - mean[:, None], 0.0)
            sq += tl.sum(d * d, 1)
        denom = tl.sqrt(sq / tl.maximum(nf - 1.0, 1.0)) + eps
        denom = tl.where(denom > 0, denom, 1.0)  # eps == 0 with zero spread: d is 0 anyway
    factor = tl.full([SEGS], 1.0, dtype=tl.float32)
    if MODE == 2:
        factor = nf / tl.maximum(nf - 1.0, 1.0)  # RLOO: n/(n-1) * (r - mean)

    # Pass 3: write d / denom (GRPO), d (Dr.GRPO) or d * n/(n-1) (RLOO). Singletons have d == 0.
    for b in range(0, longest, BLOCK):
        idx = start[:, None] + b + cols[None, :]
        m = idx < end[:, None]
        pos = idx
        if HAS_PERM:
            pos = tl.load(perm_ptr + idx, mask=m, other=0)
        v = tl.load(x_ptr + pos, mask=m, other=0.0).to(tl.float32)
        d = (v - shift[:, None]) - mean[:, None]
        if MODE == 0:
            d = d / denom[:, None]
        if MODE == 2:
            d = d * factor[:, None]
        tl.store(out_ptr + pos, d, mask=m)


@triton.jit
def _aggregate_kernel(
    x_ptr,  # step rewards [N], any float dtype, read as float32
    offsets_ptr,  # int64 [S+1]: segment s is x[offsets[s]:offsets[s+1]]
    out_ptr,  # float32 [S], one score per segment
    num_segments,  # S
    empty,  # value of an empty segment for min / mean / last
    OP: tl.constexpr,  # 0 min, 1 mean, 2 prod, 3 last, 4 sum
    SEGS: tl.constexpr,  # segments per program
    BLOCK: tl.constexpr,  # elements per row per step
):
    rows = tl.program_id(0) * SEGS + tl.arange(0, SEGS)
    row_ok = rows < num_segments
    start = tl.load(offsets_ptr + rows, mask=row_ok, other=0)
    end = tl.load(offsets_ptr + rows + 1, mask=row_ok, other=0)
    n = end - start
    cols = tl.arange(0, BLOCK)
    if OP == 3:  # last: one load per segment, no loop
        result = tl.load(x_ptr + end - 1, mask=row_ok & (n > 0), other=0.0).to(tl.float32)
    else:
        acc = tl.zeros([SEGS], dtype=tl.float32)  # sum / mean, or sum of logs for prod
        low = tl.full([SEGS], float("inf"), dtype=tl.float32)  # min
        direct = tl.full([SEGS], 1.0, dtype=tl.float32)  # prod, direct form
        nonpos = tl.zeros([SEGS], dtype=tl.int32)  # prod: steps <= 0 (log space unsafe)
        for b in range(0, tl.max(n, 0), BLOCK):
            idx = start[:, None] + b + cols[None, :]
            m = idx < end[:, None]
            v = tl.load(x_ptr + idx, mask=m, other=0.0).to(tl.float32)
            if OP == 0:
                low = tl.minimum(low, tl.min(tl.where(m, v, float("inf")), 1))
            if OP == 1 or OP == 4:
                acc += tl.sum(tl.where(m, v, 0.0), 1)
            if OP == 2:
                nonpos += tl.sum((m & (v <= 0)).to(tl.int32), 1)
                acc += tl.sum(tl.where(m & (v > 0), tl.log(tl.where(v > 0, v, 1.0)), 0.0), 1)
                direct *= tl.reduce(tl.where(m, v, 1.0), 1, _mul_combine)
        if OP == 0:
            result = low
        if OP == 1:
            result = acc / tl.maximum(n.to(tl.float32), 1.0)
        if OP == 2:
            result = tl.where(nonpos == 0, tl.exp(acc), direct)  # empty: exp(0) == 1
        if OP == 4:
            result = acc
    if OP == 0 or OP == 1 or OP == 3:
        result = tl.where(n > 0, result, empty)
    tl.store(out_ptr + rows, result, mask=row_ok)


@triton.jit
def _returns_kernel(
    x_ptr,  # step rewards [N], any float dtype, read as float32
    offsets_ptr,  # int64 [S+1]: segment s is x[offsets[s]:offsets[s+1]]
    out_ptr,  # float32 [N] per-step returns
    num_segments,  # S
    gamma,  # discount for MODE 2: G_t = r_t + gamma * G_{t+1}
    temperature,  # softmin temperature T for MODE 3: w = softmax(-r / T)
    MODE: tl.constexpr,  # 0 sum, 1 min, 2 discounted, 3 softmin
    SEGS: tl.constexpr,  # segments per program
    BLOCK: tl.constexpr,  # elements per row per step
):
    rows = tl.program_id(0) * SEGS + tl.arange(0, SEGS)
    row_ok = rows < num_segments
    start = tl.load(offsets_ptr + rows, mask=row_ok, other=0)
    end = tl.load(offsets_ptr + rows + 1, mask=row_ok, other=0)
    n = end - start
    longest = tl.max(n, 0)
    cols = tl.arange(0, BLOCK)

    if MODE == 3:  # online softmin normaliser: low = min r, z = sum exp((low - r) / T)
        low = tl.full([SEGS], float("inf"), dtype=tl.float32)
        z = tl.zeros([SEGS], dtype=tl.float32)
        for b in range(0, longest, BLOCK):
            idx = start[:, None] + b + cols[None, :]
            m = idx < end[:, None]
            v = tl.load(x_ptr + idx, mask=m, other=0.0).to(tl.float32)
            new_low = tl.minimum(low, tl.min(tl.where(m, v, float("inf")), 1))
            safe_low = tl.where(new_low < float("inf"), new_low, 0.0)
            old_low = tl.where(low < float("inf"), low, safe_low)  # z is 0 while low is inf
            z = z * tl.exp((safe_low - old_low) / temperature)
            z += tl.sum(tl.where(m, tl.exp((safe_low[:, None] - tl.where(m, v, safe_low[:, None])) / temperature), 0.0), 1)
            low = new_low
        z = tl.where(z > 0, z, 1.0)
        safe_low = tl.where(low < float("inf"), low, 0.0)  # rows with no steps: never stored

    # Reverse scan: load each row back to front (j = 0 is the segment's last step), scan forward,
    # and carry the running return from one block to the next. Padding is the scan's identity.
    if MODE == 1:
        carry = tl.full([SEGS], float("inf"), dtype=tl.float32)
    else:
        carry = tl.zeros([SEGS], dtype=tl.float32)
    for b in range(0, longest, BLOCK):
        j = b + cols
        m = j[None, :] < n[:, None]
        idx = end[:, None] - 1 - j[None, :]
        v = tl.load(x_ptr + idx, mask=m, other=0.0).to(tl.float32)
        if MODE == 0:
            g = tl.cumsum(tl.where(m, v, 0.0), 1) + carry[:, None]
        if MODE == 1:
            g = tl.minimum(tl.associative_scan(tl.where(m, v, float("inf")), 1, _min_combine), carry[:, None])
        if MODE == 2:
            a, c = tl.associative_scan((tl.where(m, gamma, 1.0), tl.where(m, v, 0.0)), 1, _affine_combine)
            g = c + a * carry[:, None]
        if MODE == 3:
            w = tl.exp((safe_low[:, None] - tl.where(m, v, safe_low[:, None])) / temperature) / z[:, None]
            g = tl.cumsum(tl.where(m, w * v, 0.0), 1) + carry[:, None]
        tl.store(out_ptr + idx, g, mask=m)
        carry = tl.sum(tl.where(cols[None, :] == BLOCK - 1, g, 0.0), 1)  # identity padding: last column


def _tile(n_elements: int, n_segments: int, block: int | None, segs: int | None,
          warps: int | None = None) -> tuple[int, int, int]:
    """``(SEGS, BLOCK, num_warps)`` from the mean segment length: no device sync. Any of the three
    may be given instead (bench/profile_segments.py sweeps them)."""
    if block is None:
        mean_len = math.ceil(n_elements / max(n_segments, 1))
        block = min(max(triton.next_power_of_2(max(mean_len, 1)), 4), TILE)
    if segs is None:
        segs = max(1, min(TILE // block, triton.next_power_of_2(max(n_segments, 1))))
    return segs, block, warps or (4 if segs * block >= 512 else 1)


def group_advantages_triton(rewards, group_ids, offsets, mode, eps, *, block=None, segs=None, warps=None):
    x = rewards.detach().contiguous()
    perm = None
    if offsets is None:
        perm, offsets = segments_from_ids(group_ids)
    out = torch.empty(x.shape, dtype=torch.float32, device=x.device)
    n_seg = offsets.numel() - 1
    if x.numel() == 0 or n_seg == 0:
        return out
    SEGS, BLOCK, warps = _tile(x.numel(), n_seg, block, segs, warps)
    _advantages_kernel[(triton.cdiv(n_seg, SEGS),)](
        x, perm if perm is not None else offsets, offsets, out, n_seg, float(eps),
        MODE=ADVANTAGE_MODES.index(mode), HAS_PERM=perm is not None, SEGS=SEGS, BLOCK=BLOCK, num_warps=warps)
    return out


def prm_aggregate_triton(step_rewards, offsets, op, empty, *, block=None, segs=None, warps=None):
    x = step_rewards.detach().contiguous()
    n_seg = offsets.numel() - 1
    out = torch.empty(n_seg, dtype=torch.float32, device=x.device)
    if n_seg == 0:
        return out
    SEGS, BLOCK, warps = _tile(x.numel(), n_seg, block, segs, warps)
    _aggregate_kernel[(triton.cdiv(n_seg, SEGS),)](
        x, offsets, out, n_seg, float(empty), OP=AGGREGATE_OPS.index(op), SEGS=SEGS, BLOCK=BLOCK, num_warps=warps)
    return out


def process_returns_triton(step_rewards, offsets, mode, gamma, temperature, *, block=None, segs=None, warps=None):
    x = step_rewards.detach().contiguous()
    n_seg = offsets.numel() - 1
    out = torch.empty(x.shape, dtype=torch.float32, device=x.device)
    if x.numel() == 0 or n_seg == 0:
        return out
    SEGS, BLOCK, warps = _tile(x.numel(), n_seg, block, segs, warps)
    _returns_kernel[(triton.cdiv(n_seg, SEGS),)](
        x, offsets, out, n_seg, float(gamma), float(temperature),
        MODE=RETURN_MODES.index(mode), SEGS=SEGS, BLOCK=BLOCK, num_warps=warps)
    return out
