"""CPU paths of the segment ops: numba loops, parallel over segments, accumulating in float64.

torch's vectorized forms were measured slower here (bench.py keeps them as "torch vectorized";
4M rewards in groups of 16 on this 2-core box, shared with other jobs: advantages 158 ms vectorized
vs 48 ms numba; PRM min 88 ms vs 217 ms for the index_add_/scatter_reduce_ path this replaced):

- ``group_advantages`` needs a reduction, a broadcast back, a second reduction and a second
  broadcast: about ten full passes with [N]-sized temporaries in torch. One loop per group reads
  its rewards three times while they sit in cache and writes once.
- ``prm_aggregate``: ``index_add_`` sums sequentially in float32 (its error grows with the segment
  length) and needs an [N] int64 segment-id tensor; the loop needs neither.
- ``process_returns`` is a *segmented reverse scan*. torch has ``cumsum`` / ``cummin`` over a whole
  dimension but no segmented form: a global reverse cumsum minus the value at each segment's end
  cancels catastrophically, a global cummin cannot be reset at segment boundaries, and
  ``G_t = r_t + gamma * G_{t+1}`` has no torch op at all.

The loops compile on first use (about a second each; cached on disk afterwards).
"""

from __future__ import annotations

import numba
import numpy as np
import torch

from assay.kernels.segments.layout import ADVANTAGE_MODES, AGGREGATE_OPS, RETURN_MODES, segments_from_ids

# Below this many elements the loops run on the calling thread. Entering numba's OpenMP parallel
# region costs microseconds when its workers hold a core, but on this shared 2-core box it often
# costs a flat ~8-16 ms: libgomp's spinning workers lose their core to other processes (the search
# benchmark called prm_aggregate on 10-segment batches and spent 20x its own work waiting; with
# OMP_WAIT_POLICY=PASSIVE it was 25 us). bench/results/segments_threads.md: serial at 65k
# elements costs at most ~0.4 ms, below the stall it avoids. One segment's code is shared.
PARALLEL_MIN_ELEMENTS = 1 << 16


def _loop(n: int, parallel, serial):
    return parallel if n >= PARALLEL_MIN_ELEMENTS else serial


@numba.njit(inline="always", cache=True, nogil=True)
def _advantages_segment(x, perm, has_perm, offsets, mode, eps, out, s):  # pragma: no cover - compiled
    start, end = offsets[s], offsets[s + 1]
    n = end - start
    if n == 0:
        return
    # Shift by the group's first reward: all-equal groups give exact zeros.
    shift = np.float64(x[perm[start] if has_perm else start])
    total = 0.0
    for i in range(start, end):
        total += np.float64(x[perm[i] if has_perm else i]) - shift
    mean = total / n
    denom, factor = 1.0, 1.0
    if mode == 0:  # grpo: unbiased std, second pass over the deviations
        sq = 0.0
        for i in range(start, end):
            d = (np.float64(x[perm[i] if has_perm else i]) - shift) - mean
            sq += d * d
        denom = np.sqrt(sq / max(n - 1, 1)) + eps
        if denom <= 0:  # eps == 0 with zero spread: every d is 0
            denom = 1.0
    elif mode == 2:  # rloo: n/(n-1) * (r - mean)
        factor = n / max(n - 1, 1)
    for i in range(start, end):
        p = perm[i] if has_perm else i
        out[p] = ((np.float64(x[p]) - shift) - mean) * factor / denom


@numba.njit(parallel=True, cache=True, nogil=True)
def _advantages_parallel(x, perm, has_perm, offsets, mode, eps, out):  # pragma: no cover - compiled
    for s in numba.prange(offsets.shape[0] - 1):
        _advantages_segment(x, perm, has_perm, offsets, mode, eps, out, s)


@numba.njit(cache=True, nogil=True)
def _advantages_serial(x, perm, has_perm, offsets, mode, eps, out):  # pragma: no cover - compiled
    for s in range(offsets.shape[0] - 1):
        _advantages_segment(x, perm, has_perm, offsets, mode, eps, out, s)


def group_advantages_cpu(rewards, group_ids, offsets, mode, eps):
    x = rewards.detach().to(torch.float32).contiguous()
    perm = None
    if offsets is None:
        perm, offsets = segments_from_ids(group_ids)
    out = torch.zeros_like(x)
    if x.numel():
        perm_np = perm.numpy() if perm is not None else np.empty(0, dtype=np.int64)
        loop = _loop(x.numel(), _advantages_parallel, _advantages_serial)
        loop(x.numpy(), perm_np, perm is not None, offsets.contiguous().numpy(), ADVANTAGE_MODES.index(mode),
             float(eps), out.numpy())
    return out


@numba.njit(inline="always", cache=True, nogil=True)
def _aggregate_segment(x, offsets, op, empty, out, s):  # pragma: no cover - compiled
    start, end = offsets[s], offsets[s + 1]
    if end <= start:
        out[s] = 0.0 if op == 4 else (1.0 if op == 2 else empty)
        return
    if op == 3:  # last
        out[s] = x[end - 1]
        return
    acc, low, direct, positive = 0.0, np.inf, 1.0, True
    for t in range(start, end):
        r = np.float64(x[t])
        if op == 0:
            low = min(low, r)
        elif op == 2:
            positive = positive and r > 0
            acc += np.log(r) if r > 0 else 0.0
            direct *= r
        else:
            acc += r
    if op == 0:
        out[s] = low
    elif op == 1:
        out[s] = acc / (end - start)
    elif op == 2:  # exp(sum log r) when every step is positive, the direct product otherwise
        out[s] = np.exp(acc) if positive else direct
    else:
        out[s] = acc


@numba.njit(parallel=True, cache=True, nogil=True)
def _aggregate_parallel(x, offsets, op, empty, out):  # pragma: no cover - compiled
    for s in numba.prange(offsets.shape[0] - 1):
        _aggregate_segment(x, offsets, op, empty, out, s)


@numba.njit(cache=True, nogil=True)
def _aggregate_serial(x, offsets, op, empty, out):  # pragma: no cover - compiled
    for s in range(offsets.shape[0] - 1):
        _aggregate_segment(x, offsets, op, empty, out, s)


def prm_aggregate_cpu(step_rewards, offsets, op, empty):
    x = step_rewards.detach().to(torch.float32).contiguous()
    out = torch.empty(offsets.numel() - 1, dtype=torch.float32)
    loop = _loop(x.numel(), _aggregate_parallel, _aggregate_serial)
    loop(x.numpy(), offsets.contiguous().numpy(), AGGREGATE_OPS.index(op), float(empty), out.numpy())
    return out


@numba.njit(inline="always", cache=True, nogil=True)
def _returns_segment(x, offsets, mode, gamma, temperature, out, s):  # pragma: no cover - compiled
    start, end = offsets[s], offsets[s + 1]
    if end <= start:
        return
    if mode == 3:  # softmin: softmax(-r/T) weights, shifted by the segment min for stability
        low = np.inf
        for t in range(start, end):
            low = min(low, np.float64(x[t]))
        z = 0.0
        for t in range(start, end):
            z += np.exp(-(np.float64(x[t]) - low) / temperature)
    acc = np.inf if mode == 1 else 0.0
    for t in range(end - 1, start - 1, -1):
        r = np.float64(x[t])
        if mode == 0:
            acc += r
        elif mode == 1:
            acc = min(acc, r)
        elif mode == 2:
            acc = r + gamma * acc
        else:
            acc += np.exp(-(r - low) / temperature) / z * r
        out[t] = acc


@numba.njit(parallel=True, cache=True, nogil=True)
def _returns_parallel(x, offsets, mode, gamma, temperature, out):  # pragma: no cover - compiled
    for s in numba.prange(offsets.shape[0] - 1):
        _returns_segment(x, offsets, mode, gamma, temperature, out, s)


@numba.njit(cache=True, nogil=True)
def _returns_serial(x, offsets, mode, gamma, temperature, out):  # pragma: no cover - compiled
    for s in range(offsets.shape[0] - 1):
        _returns_segment(x, offsets, mode, gamma, temperature, out, s)


def process_returns_cpu(step_rewards, offsets, mode, gamma, temperature):
    x = step_rewards.detach().to(torch.float32).contiguous()
    out = torch.empty_like(x)
    if x.numel():
        loop = _loop(x.numel(), _returns_parallel, _returns_serial)
        loop(x.numpy(), offsets.contiguous().numpy(), RETURN_MODES.index(mode), float(gamma), float(temperature),
             out.numpy())
    return out
