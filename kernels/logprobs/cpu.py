"""The softmax half of ``token_logprobs`` in torch ops, one logits chunk at a time (CPU path).

The same two steps as ``triton_kernels.py`` with the same signatures, so ``op.py`` runs one chunk
loop for both backends and the memory property is the loop's: at most one ``[R, C]`` chunk of
logits lives at once, plus, for bf16/fp16 inputs or when the entropy is wanted, one fp32 scratch
of the same size. Everything is
done in place on the chunk where torch allows, because on a CPU the elementwise passes over the
chunk, not the FLOPs, are what a chunk costs beyond its matmuls; a chunk small enough to stay in
the last-level cache makes those passes cheap (see ``op.CPU_CHUNK_BYTES``).
"""

from __future__ import annotations

import torch

from assay.kernels.logprobs.reference import accumulate_dtype

PRESERVES_CHUNK = False  # forward_chunk folds the softmax into the chunk in place: op.py cannot keep it


def _scaled(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """``logits.float() / T`` as a scratch tensor (in place when the chunk is already fp32/fp64)."""
    acc = accumulate_dtype(logits.dtype)
    z = logits if logits.dtype == acc else logits.to(acc)
    return z.div_(temperature) if temperature != 1.0 else z


def forward_chunk(logits, targets, col_offset, row_max, row_sum, row_ent, target_z, *,
                  temperature: float, first: bool, with_entropy: bool, block_v: int | None = None) -> None:
    """Fold one ``[R, C]`` logits chunk into the per-row running statistics (all ``[R]``).

    Overwrites ``logits`` (a scratch buffer owned by the caller).
    """
    rows, n_cols = logits.shape
    if rows == 0:
        return
    z = _scaled(logits, temperature)
    local = targets - col_offset
    here = (local >= 0) & (local < n_cols)
    z_t = z.gather(1, local.clamp(0, n_cols - 1).unsqueeze(1)).squeeze(1)
    target_z.copy_(torch.where(here, z_t, target_z))

    m_b = z.amax(dim=1)
    z.sub_(m_b.unsqueeze(1))  # z - max <= 0
    if with_entropy:
        e = torch.exp(z)
        s_b, t_b = e.sum(dim=1), e.mul_(z).sum(dim=1)
    else:  # in place: no scratch at all
        s_b, t_b = z.exp_().sum(dim=1), None
    if first:
        row_max.copy_(m_b)
        row_sum.copy_(s_b)
        if with_entropy:
            row_ent.copy_(t_b)
        return
    m = torch.maximum(row_max, m_b)
    alpha, beta = torch.exp(row_max - m), torch.exp(m_b - m)
    if with_entropy:
        row_ent.copy_(alpha * (row_ent + (row_max - m) * row_sum) + beta * (t_b + (m_b - m) * s_b))
    row_sum.copy_(alpha * row_sum + beta * s_b)
    row_max.copy_(m)


def backward_chunk(logits, targets, col_offset, lse, entropy, grad_logp, grad_ent, *,
                   temperature: float, block_v: int | None = None) -> None:
    """Overwrite one recomputed ``[R, C]`` logits chunk with ``d loss / d logits``.

    ``g_logp * (1[v = target] - p) - g_H * p * (log p + H)``, divided by the temperature.
    """
    rows, n_cols = logits.shape
    if rows == 0:
        return
    z = _scaled(logits, temperature)
    z.sub_(lse.unsqueeze(1))  # log p
    # 1/T folded into the per-row coefficients: one pass fewer over the chunk.
    g_logp = None if grad_logp is None else grad_logp / temperature
    if grad_ent is None:
        g = z.exp_().mul_(-g_logp.unsqueeze(1))
    else:
        p = torch.exp(z)
        g = z.add_(entropy.unsqueeze(1)).mul_(p).mul_(-(grad_ent / temperature).unsqueeze(1))
        if g_logp is not None:
            g.sub_(p.mul_(g_logp.unsqueeze(1)))
    if g_logp is not None:
        local = targets - col_offset
        here = ((local >= 0) & (local < n_cols)).nonzero().squeeze(1)
        g.index_put_((here, local[here]), g_logp[here], accumulate=True)
    if g.data_ptr() != logits.data_ptr():
        logits.copy_(g)
