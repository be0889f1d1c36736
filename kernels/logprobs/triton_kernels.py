"""Triton kernels for the softmax half of ``token_logprobs``: one logits chunk at a time.

What and why
------------
``op.py`` walks the vocabulary in column chunks (and the rows in blocks when there are many) and
lets cuBLAS compute each chunk's logits ``hidden[rows] @ weight[v0:v1].T`` in the inputs' dtype.
These kernels do everything between the matmuls, one program per row of the chunk:

* ``_stats_kernel`` (forward): upcasts the chunk to fp32, divides by the temperature, and folds the
  chunk into three running per-row statistics kept over the whole vocabulary: the max ``m``, the
  sum ``s = sum exp(z - m)`` and, for the entropy, ``t = sum exp(z - m) * (z - m)``. The row's
  target logit is picked up by the chunk that holds it. After the last chunk
  ``lse = m + log s``, ``logp = z_target - lse`` and ``H = log s - t / s`` (``op.py``). Keeping
  ``t`` shifted by ``m`` (rather than summing ``p * z``) avoids cancellation when logits are large.
  ``s >= 1`` (the max contributes ``exp(0) = 1``) and ``t <= 0`` make ``logp <= 0`` and ``H >= 0``
  hold in floating point, not only in exact arithmetic.
* ``_grad_kernel`` (backward): recomputes ``p = exp(z - lse)`` from the recomputed chunk and
  writes ``d loss / d logits`` over the logits, in place, in the inputs' dtype:
  ``g_logp * (1[v = target] - p) - g_H * p * (log p + H)``, divided by the temperature. The two
  gradient matmuls then read that buffer.

Every tail block is masked against the chunk's real column count: lanes past it load ``-inf``
(forward) and store nothing (backward), so a vocabulary that is not a multiple of the block, or a
last chunk narrower than the others, never reads a neighbour's logits.

Memory traffic per logit element (bf16 inputs; GEMM operand reads of hidden/weight not counted)
---------------------------------------------------------------------------------------------
naive ``(h @ w.T).float().log_softmax(-1).gather(...)`` + autograd:
    forward : GEMM writes 2, ``.float()`` 2 + 4, log_softmax ~8 read + 4 write   = ~20 B
    backward: gather-backward zeros 4, log_softmax-backward ~12 read + 4 write,
              cast 4 + 2, two GEMMs read 2 + 2                                    = ~30 B
    -> ~50 B per logit, and several full ``[N, V]`` fp32 tensors resident at the peak.
this op:
    forward : GEMM writes 2, ``_stats_kernel`` reads 2                             =  4 B
    backward: GEMM writes 2 (recompute), ``_grad_kernel`` reads 2 + writes 2,
              two GEMMs read 2 + 2                                                 = 10 B
    -> ~14 B per logit, and one chunk resident. The price is the recompute GEMM: 8·N·D·V FLOPs
    instead of 6·N·D·V. Estimate (not measured) at N=8192, D=4096, V=151936 on an H100
    (~3.3 TB/s, ~700 dense bf16 TFLOP/s): elementwise traffic ~62 GB -> ~17 GB (~19 ms -> ~5 ms)
    against ~15 ms of extra GEMM, so time should be near naive's while memory drops by ~GBs.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

MAX_BLOCK_V = 4096  # columns per loop step: 8-16 fp32 values per thread at 8-16 warps


PRESERVES_CHUNK = True  # forward_chunk only reads the logits chunk, so op.py may keep it for the backward

@triton.jit
def _block_stats(z, valid):
    """Max, sum exp(z - max) and sum exp(z - max) * (z - max) of one block (>= 1 valid lane)."""
    m = tl.max(z, axis=0)
    shifted = tl.where(valid, z - m, 0.0)  # masked lanes hold -inf: keep them out of 0 * -inf
    e = tl.where(valid, tl.exp(shifted), 0.0)
    s = tl.sum(e, axis=0)
    t = tl.sum(e * shifted, axis=0)
    return m, s, t


@triton.jit
def _divide(x, temp, DIVIDE: tl.constexpr):
    """``x / temp`` correctly rounded, as torch divides (plain ``/`` may approximate fp32 on GPUs).

    ``DIVIDE`` is False for T = 1, where x / 1 == x exactly: the correctly rounded division is a
    multi-instruction sequence per element, which these memory-bound loops need not pay then.
    """
    if DIVIDE:
        if x.dtype == tl.float32:
            y = tl.div_rn(x, temp)
        else:
            y = x / temp  # fp64: IEEE division already
    else:
        y = x
    return y


@triton.jit
def _merge(m_a, s_a, t_a, m_b, s_b, t_b):
    """Combine two (max, sum, shifted-entropy-sum) triples; both maxima are finite."""
    m = tl.maximum(m_a, m_b)
    alpha = tl.exp(m_a - m)
    beta = tl.exp(m_b - m)
    s = alpha * s_a + beta * s_b
    t = alpha * (t_a + (m_a - m) * s_a) + beta * (t_b + (m_b - m) * s_b)
    return m, s, t


@triton.jit
def _stats_kernel(
    logits_ptr,  # [R, C] this chunk's logits hidden[rows] @ weight[v0:v0+C].T, inputs' dtype
    logits_stride,  # elements between consecutive rows of logits (C for the packed buffer)
    targets_ptr,  # [R] int64 target token ids of these rows (global ids, 0 <= id < V)
    col_offset,  # v0: the vocabulary id of the chunk's first column
    row_max_ptr,  # [R] running max of z over the chunks so far (read unless FIRST, then written)
    row_sum_ptr,  # [R] running sum of exp(z - max)
    row_ent_ptr,  # [R] running sum of exp(z - max) * (z - max); touched only WITH_ENTROPY
    target_z_ptr,  # [R] z at the target; written by the one chunk that holds the target
    n_cols,  # C: real columns in this chunk; lanes at or past it are masked
    temperature_ptr,  # [1] the temperature T in the accumulation dtype: z = logits / T (IEEE, as torch)
    FIRST: tl.constexpr,  # first vocabulary chunk: start from block 0 instead of the stored state
    WITH_ENTROPY: tl.constexpr,  # keep the entropy sum (skipped when only log-probs are wanted)
    DIVIDE: tl.constexpr,  # T != 1: divide the logits by T (T = 1 skips the division, exactly)
    BLOCK_V: tl.constexpr,  # columns per loop step (power of two)
):
    row = tl.program_id(0).to(tl.int64)  # int64: row * stride can pass 2**31 on large chunks
    base = logits_ptr + row * logits_stride
    acc_ty = row_sum_ptr.dtype.element_ty  # fp32 (fp64 only for fp64 inputs, e.g. gradcheck)
    cols = tl.arange(0, BLOCK_V)
    temp = tl.load(temperature_ptr)

    if FIRST:  # peel block 0 (always has a valid lane): no -inf state to merge into
        valid = cols < n_cols
        z = tl.load(base + cols, mask=valid, other=float("-inf")).to(acc_ty)
        z = _divide(z, temp, DIVIDE)
        m, s, t = _block_stats(z, valid)
    else:
        m = tl.load(row_max_ptr + row)
        s = tl.load(row_sum_ptr + row)
        t = tl.load(row_ent_ptr + row)  # without WITH_ENTROPY this aliases row_sum: unused
    start: tl.constexpr = BLOCK_V if FIRST else 0
    for block_start in range(start, n_cols, BLOCK_V):
        offs = block_start + cols
        valid = offs < n_cols
        z = tl.load(base + offs, mask=valid, other=float("-inf")).to(acc_ty)
        z = _divide(z, temp, DIVIDE)
        m_b, s_b, t_b = _block_stats(z, valid)
        m, s, t = _merge(m, s, t, m_b, s_b, t_b)
    tl.store(row_max_ptr + row, m)
    tl.store(row_sum_ptr + row, s)
    if WITH_ENTROPY:
        tl.store(row_ent_ptr + row, t)

    local = tl.load(targets_ptr + row) - col_offset
    here = (local >= 0) & (local < n_cols)
    safe = tl.where(here, local, 0)  # never form an out-of-chunk address, even masked
    z_t = tl.load(base + safe, mask=here, other=0.0).to(acc_ty)
    tl.store(target_z_ptr + row, _divide(z_t, temp, DIVIDE), mask=here)


@triton.jit
def _grad_kernel(
    logits_ptr,  # [R, C] recomputed logits in; d loss / d logits out (in place, inputs' dtype)
    logits_stride,  # elements between consecutive rows of logits
    targets_ptr,  # [R] int64 target token ids of these rows (global ids)
    col_offset,  # v0: the vocabulary id of the chunk's first column
    lse_ptr,  # [R] log-sum-exp of z over the whole vocabulary (from the forward)
    entropy_ptr,  # [R] entropy H of each row (from the forward); read only HAS_GRAD_ENT
    grad_logp_ptr,  # [R] upstream gradient of the log-probs; read only HAS_GRAD_LOGP
    grad_ent_ptr,  # [R] upstream gradient of the entropy; read only HAS_GRAD_ENT
    n_cols,  # C: real columns in this chunk; lanes at or past it are not stored
    temperature_ptr,  # [1] the temperature T in the accumulation dtype, as in the forward
    HAS_GRAD_LOGP: tl.constexpr,  # the log-probs receive a gradient
    HAS_GRAD_ENT: tl.constexpr,  # the entropy receives a gradient
    DIVIDE: tl.constexpr,  # T != 1, as in the forward
    BLOCK_V: tl.constexpr,  # columns per loop step (power of two)
):
    row = tl.program_id(0).to(tl.int64)
    base = logits_ptr + row * logits_stride
    acc_ty = lse_ptr.dtype.element_ty
    cols = tl.arange(0, BLOCK_V)
    temp = tl.load(temperature_ptr)
    lse = tl.load(lse_ptr + row)
    local = tl.load(targets_ptr + row) - col_offset
    if HAS_GRAD_LOGP:
        g_logp = tl.load(grad_logp_ptr + row)
    if HAS_GRAD_ENT:
        g_ent = tl.load(grad_ent_ptr + row)
        ent = tl.load(entropy_ptr + row)
    for block_start in range(0, n_cols, BLOCK_V):
        offs = block_start + cols
        valid = offs < n_cols
        z = _divide(tl.load(base + offs, mask=valid, other=0.0).to(acc_ty), temp, DIVIDE)
        logp = z - lse
        p = tl.exp(logp)
        g = tl.zeros((BLOCK_V,), acc_ty)
        if HAS_GRAD_LOGP:
            g += g_logp * (tl.where(offs == local, 1.0, 0.0).to(acc_ty) - p)
        if HAS_GRAD_ENT:
            g -= g_ent * p * (logp + ent)
        g = _divide(g, temp, DIVIDE)
        tl.store(base + offs, g.to(logits_ptr.dtype.element_ty), mask=valid)


def _launch_params(n_cols: int, block_v: int | None) -> tuple[int, int]:
    block = block_v or min(MAX_BLOCK_V, triton.next_power_of_2(max(n_cols, 1)))
    return block, max(1, min(16, block // 256))


def _as_tensor(temperature: float, like: torch.Tensor) -> torch.Tensor:
    # A pointer, not a scalar argument: scalars arrive as fp32 when compiled but as Python floats
    # under the interpreter, and fp64 inputs (gradcheck) need T in fp64.
    return torch.full((1,), temperature, dtype=like.dtype, device=like.device)


def forward_chunk(logits, targets, col_offset, row_max, row_sum, row_ent, target_z, *,
                  temperature: float, first: bool, with_entropy: bool, block_v: int | None = None) -> None:
    """Fold one ``[R, C]`` logits chunk into the per-row running statistics (all ``[R]``)."""
    rows, n_cols = logits.shape
    if rows == 0:
        return
    block, warps = _launch_params(n_cols, block_v)
    _stats_kernel[(rows,)](
        logits, logits.stride(0), targets, col_offset, row_max, row_sum,
        row_ent if with_entropy else row_sum, target_z, n_cols, _as_tensor(temperature, row_sum),
        FIRST=first, WITH_ENTROPY=with_entropy, DIVIDE=temperature != 1.0, BLOCK_V=block, num_warps=warps,
    )


def backward_chunk(logits, targets, col_offset, lse, entropy, grad_logp, grad_ent, *,
                   temperature: float, block_v: int | None = None) -> None:
    """Overwrite one recomputed ``[R, C]`` logits chunk with its gradient."""
    rows, n_cols = logits.shape
    if rows == 0:
        return
    block, warps = _launch_params(n_cols, block_v)
    _grad_kernel[(rows,)](
        logits, logits.stride(0), targets, col_offset, lse,
        entropy if entropy is not None else lse,
        grad_logp if grad_logp is not None else lse,
        grad_ent if grad_ent is not None else lse,
        n_cols, _as_tensor(temperature, lse),
        HAS_GRAD_LOGP=grad_logp is not None, HAS_GRAD_ENT=grad_ent is not None,
        DIVIDE=temperature != 1.0, BLOCK_V=block, num_warps=warps,
    )

