"""``token_logprobs``: log p(target) (and the entropy) per token, never holding ``[N, V]`` logits.

How it is chunked, and why
--------------------------
The vocabulary is walked in column chunks ``weight[v0:v1]``; the rows are split into blocks only
when even a narrow column chunk of all rows would exceed the budget. Each chunk's logits come
from one matmul in the inputs' dtype (cuBLAS / oneDNN, the same rounding as the LM head in
training and in vLLM), and a backend (``triton_kernels`` on CUDA, ``cpu`` otherwise) folds the
chunk, upcast to fp32, into per-row running statistics (online log-sum-exp, target logit,
entropy sum). Chunking over V rather than over rows (Liger's choice) because of the backward:

* each vocabulary slab's weight gradient ``grad_logits[:, v0:v1].T @ hidden`` is finished
  before the next slab starts: written once by one matmul when all rows fit one block (the usual
  case), else summed over the row blocks in a ``[C, D]`` fp32 slab. Either way there is no
  ``[V, D]`` fp32 accumulator (2.5 GB at V=151936, D=4096) and no repeated bf16 rounding of a
  running sum, which a row-chunked loop needs one or the other of;
* what accumulates across chunks is the hidden gradient, ``[N, D]`` in fp32, which is small
  (128 MiB at N=8192, D=4096).

Backward recomputes each chunk's logits (nothing ``[N, V]`` is saved: only ``lse`` and ``H`` per
row), lets the backend overwrite them with ``d loss / d logits`` in place, and runs the two
gradient matmuls on that buffer. FLOPs: 2·N·D·V forward + 2·N·D·V recompute + 4·N·D·V gradients.

Keeping logits (CUDA): the recompute is a quarter of the FLOPs, so while memory allows the forward
keeps its first chunks' logits for the backward instead (``keep_logits_bytes``, default
``CUDA_KEEP_BYTES`` = 512 MiB on GPUs, 0 on CPUs). Those chunks' GEMMs write into buffers of their
own, which the backward takes in order and frees one by one; the rest are recomputed. At N=8192,
V=151936 that is 2 of 10 chunks, about 5% of the op's FLOPs, for 512 MiB held from the forward to
the backward (workspace still under 1 GiB). Only backends whose forward leaves the chunk intact
(``PRESERVES_CHUNK``: the Triton one) can keep; the CPU one folds the softmax into the buffer in place.

Rows whose target is ``ignore_index`` or whose ``mask`` is False are dropped before any matmul
(``index_select``) and their zeros scattered back, so padding and prompt tokens cost nothing.

Budget: a chunk holds at most ``chunk_size`` logits (rows × columns; ``MIN_CHUNK_COLS`` columns
at least). The default keeps its fp32 size at ``CUDA_CHUNK_BYTES`` (512 MiB; the bf16 buffer itself
is half that, 16384 columns at N=8192) on GPUs and ``CPU_CHUNK_BYTES`` (8 MiB) on CPUs. On a CPU the chunk must stay in
the last-level cache: on the 2-core EPYC dev box (L3 32 MiB) ``exp`` over a 32 MiB chunk cost
~3x per element what it costs over 4 MiB, while the chunk matmuls ran at the full-GEMM rate
(~100 GFLOP per CPU-second) from 512x2048 up. Measured there with
``python -m assay.kernels.logprobs.bench`` (N=4096, D=512, V=32000, fp32, fwd+bwd, load avg ~4):
3.08 s and 116 MiB peak extra vs naive 2.76 s and 1524 MiB (1.12x the time, 1/13 the memory).
The many small parallel regions make this path sensitive to a busy machine (1.5-4x naive at
load avg 7-8, where naive's few large ops suffer less).
"""

from __future__ import annotations

import types

import torch
from torch.autograd.function import once_differentiable

from assay.kernels import dispatch
from assay.kernels.logprobs import cpu as cpu_backend
from assay.kernels.logprobs.reference import accumulate_dtype, token_logprobs_reference

# 512 MiB: at N=8192 on an H100 (bf16) a 256 MiB budget gave 19 chunks and 66 ms fwd+bwd; fewer,
# wider chunks halve the per-chunk fp32 grad_hidden read-modify-write (bench/profile_logprobs.py
# times 128/256/512/1024 MiB side by side).
CUDA_CHUNK_BYTES = 512 * 2**20
CPU_CHUNK_BYTES = 8 * 2**20
CUDA_KEEP_BYTES = 512 * 2**20  # forward logits kept for the backward (see "Keeping logits" above)
MIN_CHUNK_COLS = 2048  # narrower column chunks than this make skinny, slow matmuls: split rows instead

SUPPORTED_DTYPES = (torch.bfloat16, torch.float16, torch.float32, torch.float64)


def default_chunk_size(device: torch.device) -> int:
    """Logits per chunk (rows × columns) so that the chunk's fp32 copy fits the device's budget."""
    return (CUDA_CHUNK_BYTES if device.type == "cuda" else CPU_CHUNK_BYTES) // 4


def default_keep_bytes(device: torch.device) -> int:
    """Bytes of forward logits kept for the backward instead of recomputed there."""
    return CUDA_KEEP_BYTES if device.type == "cuda" else 0


def chunk_geometry(n_rows: int, vocab: int, chunk_size: int) -> tuple[int, int]:
    """``(rows, columns)`` of one chunk: all rows and as many columns as fit, else row blocks."""
    if n_rows * vocab <= chunk_size:
        return n_rows, vocab
    cols = chunk_size // n_rows
    if cols >= MIN_CHUNK_COLS:
        return n_rows, cols - cols % 256  # aligned slabs; still >= MIN_CHUNK_COLS
    cols = min(vocab, MIN_CHUNK_COLS)
    return max(1, chunk_size // cols), cols


def chunk_sizes(n_rows: int, vocab: int, chunk_size: int) -> list[int]:
    """Logits in each chunk, in the order the forward and the backward walk them."""
    rows, cols = chunk_geometry(n_rows, vocab, chunk_size)
    return [(min(n_rows, r0 + rows) - r0) * (min(vocab, v0 + cols) - v0)
            for v0 in range(0, vocab, cols) for r0 in range(0, n_rows, rows)]


def kept_chunks(n_rows: int, vocab: int, chunk_size: int, keep_bytes: int, element_size: int) -> int:
    """How many leading chunks the forward keeps: as many as fit in ``keep_bytes`` together."""
    total, count = 0, 0
    for size in chunk_sizes(n_rows, vocab, chunk_size) if keep_bytes > 0 else ():
        total += size * element_size
        if total > keep_bytes:
            break
        count += 1
    return count


def _backend(name: str) -> types.ModuleType:
    if name == "triton":
        from assay.kernels.logprobs import triton_kernels  # imports triton: only when asked for

        return triton_kernels
    return cpu_backend


def chunk_logits(hidden: torch.Tensor, weight: torch.Tensor, buffer: torch.Tensor) -> torch.Tensor:
    """``hidden @ weight.T`` into the front of ``buffer``: the only matmul that makes logits."""
    out = buffer[: hidden.shape[0] * weight.shape[0]].view(hidden.shape[0], weight.shape[0])
    return torch.mm(hidden, weight.T, out=out)


def forward_chunks(hidden, weight, targets, *, temperature, with_entropy, backend, chunk_size, block_v=None,
                   keep=None, keep_bytes=0):
    """Per-row ``(logp, lse, entropy)`` of valid rows only, before the final clamp.

    ``entropy`` is None unless ``with_entropy``. ``hidden``/``targets`` are already compacted.
    ``keep``: a list that receives the leading chunks' logits, in chunk order, while their total
    stays within ``keep_bytes`` (for :func:`backward_chunks`); the backend must preserve them.
    """
    n, vocab = hidden.shape[0], weight.shape[0]
    acc = accumulate_dtype(hidden.dtype)
    stats = torch.empty(4 if with_entropy else 3, n, dtype=acc, device=hidden.device)
    row_max, row_sum, target_z = stats[0], stats[1], stats[2]
    row_ent = stats[3] if with_entropy else None
    if n:
        rows, cols = chunk_geometry(n, vocab, chunk_size)
        buffer, index = None, 0
        n_keep = kept_chunks(n, vocab, chunk_size, keep_bytes, hidden.element_size()) if keep is not None else 0
        for v0 in range(0, vocab, cols):
            w = weight[v0 : v0 + cols]
            for r0 in range(0, n, rows):
                r1 = min(n, r0 + rows)
                if index < n_keep:  # a buffer of its own, handed to the backward
                    out = torch.empty((r1 - r0) * w.shape[0], dtype=hidden.dtype, device=hidden.device)
                    logits = chunk_logits(hidden[r0:r1], w, out)
                    keep.append(logits)
                else:
                    if buffer is None:
                        buffer = torch.empty(rows * cols, dtype=hidden.dtype, device=hidden.device)
                    logits = chunk_logits(hidden[r0:r1], w, buffer)
                index += 1
                backend.forward_chunk(
                    logits, targets[r0:r1], v0, row_max[r0:r1], row_sum[r0:r1],
                    row_ent[r0:r1] if with_entropy else None, target_z[r0:r1],
                    temperature=temperature, first=v0 == 0, with_entropy=with_entropy, block_v=block_v,
                )
        del buffer
    log_sum = row_sum.log()
    lse = row_max + log_sum
    logp = target_z - lse
    entropy = log_sum - row_ent / row_sum if with_entropy else None
    return logp, lse, entropy


def backward_chunks(hidden, weight, targets, lse, entropy, grad_logp, grad_ent, *, temperature, backend,
                    chunk_size, need_hidden, need_weight, block_v=None, kept=None):
    """``(grad_hidden, grad_weight)`` for compacted rows; either is None when not needed.

    ``kept``: the leading chunks' logits from :func:`forward_chunks`, taken out of the list (and so
    freed) as they are used and overwritten; the other chunks are recomputed."""
    n, d = hidden.shape
    vocab = weight.shape[0]
    acc = accumulate_dtype(hidden.dtype)
    grad_h = torch.zeros(n, d, dtype=acc, device=hidden.device) if need_hidden else None
    if n == 0:
        return grad_h, torch.zeros_like(weight) if need_weight else None
    rows, cols = chunk_geometry(n, vocab, chunk_size)
    row_blocks = range(0, n, rows)
    # A vocabulary slab's weight gradient sums over row blocks: in fp32 unless the weight is.
    slab_acc = None
    if need_weight and len(row_blocks) > 1 and weight.dtype != acc:
        slab_acc = torch.empty(cols, d, dtype=acc, device=hidden.device)
    grad_w = None
    if need_weight:  # every slab is written whole unless it is summed in place (addmm_) over row blocks
        in_place = len(row_blocks) > 1 and slab_acc is None
        grad_w = torch.zeros_like(weight) if in_place else torch.empty_like(weight)
    kept = kept if kept is not None else []
    buffer = None  # allocated at the first recomputed chunk, once kept ones have been freed
    for v0 in range(0, vocab, cols):
        w = weight[v0 : v0 + cols]
        c = w.shape[0]
        for r0 in row_blocks:
            r1 = min(n, r0 + rows)
            h = hidden[r0:r1]
            if kept:
                logits = kept.pop(0)
            else:
                if buffer is None:
                    buffer = torch.empty(rows * cols, dtype=hidden.dtype, device=hidden.device)
                logits = chunk_logits(h, w, buffer)
            backend.backward_chunk(
                logits, targets[r0:r1], v0, lse[r0:r1], None if entropy is None else entropy[r0:r1],
                None if grad_logp is None else grad_logp[r0:r1], None if grad_ent is None else grad_ent[r0:r1],
                temperature=temperature, block_v=block_v,
            )
            if need_hidden:
                accumulate_mm(grad_h[r0:r1], logits, w)
            if need_weight:
                if len(row_blocks) == 1:
                    torch.mm(logits.T, h, out=grad_w[v0 : v0 + c])
                elif slab_acc is None:
                    grad_w[v0 : v0 + c].addmm_(logits.T, h)
                elif r0 == 0:
                    slab_acc[:c].copy_(torch.mm(logits.T, h))
                else:
                    slab_acc[:c].add_(torch.mm(logits.T, h))
        if slab_acc is not None:
            grad_w[v0 : v0 + c].copy_(slab_acc[:c])
    return grad_h, grad_w


_FP32_OUT_GEMM = {"cuda": True}  # cleared on the first failure: torch without addmm(out_dtype=)


def accumulate_mm(acc: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> None:
    """``acc += a @ b`` with ``acc`` fp32 and ``a``/``b`` perhaps half precision.

    On CUDA one cuBLAS GEMM reads and writes the fp32 accumulator directly (``out_dtype``), so no
    half-precision partial product is rounded and then re-read: at N=8192, D=4096 that is 64 MiB
    written and read back per vocabulary chunk, and one rounding to bf16 per chunk, saved.
    """
    if acc.dtype == a.dtype:
        acc.addmm_(a, b)
        return
    if acc.is_cuda and _FP32_OUT_GEMM["cuda"]:
        try:
            torch.addmm(acc, a, b, out_dtype=acc.dtype, out=acc)
            return
        except (RuntimeError, TypeError):
            _FP32_OUT_GEMM["cuda"] = False
    acc.add_(torch.mm(a, b))


class TokenLogprobsFunction(torch.autograd.Function):
    """Autograd over the chunk loops. Saves the inputs and two ``[N_valid]`` vectors, no logits."""

    @staticmethod
    def forward(ctx, hidden, weight, targets, valid_idx, temperature, with_entropy, backend_name, chunk_size,
                keep_bytes):
        backend = _backend(backend_name)
        h = hidden if valid_idx is None else hidden.index_select(0, valid_idx)
        t = targets if valid_idx is None else targets.index_select(0, valid_idx)
        # kept logits only help a backward that will come, and only where the backend leaves them intact
        wants_grad = ctx.needs_input_grad[0] or ctx.needs_input_grad[1]
        ctx.kept = [] if wants_grad and getattr(backend, "PRESERVES_CHUNK", False) else None
        logp_v, lse, ent_v = forward_chunks(h, weight, t, temperature=temperature, with_entropy=with_entropy,
                                            backend=backend, chunk_size=chunk_size, keep=ctx.kept, keep_bytes=keep_bytes)
        # Guards only: s >= 1 and t <= 0 already make logp <= 0 and H >= 0 in floating point.
        logp_v.clamp_(max=0.0)
        if with_entropy:
            ent_v.clamp_(min=0.0)
        ctx.save_for_backward(hidden, weight, targets, valid_idx, lse, ent_v)
        ctx.temperature, ctx.backend, ctx.chunk_size = temperature, backend_name, chunk_size
        ctx.set_materialize_grads(False)
        logp = _scatter(logp_v, valid_idx, hidden.shape[0])
        if not with_entropy:
            return logp
        return logp, _scatter(ent_v, valid_idx, hidden.shape[0])

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_logp, grad_ent=None):
        hidden, weight, targets, valid_idx, lse, ent_v = ctx.saved_tensors
        need_hidden, need_weight = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        if (grad_logp is None and grad_ent is None) or not (need_hidden or need_weight):
            return None, None, None, None, None, None, None, None, None
        h = hidden if valid_idx is None else hidden.index_select(0, valid_idx)
        t = targets if valid_idx is None else targets.index_select(0, valid_idx)
        grad_h, grad_w = backward_chunks(
            h, weight, t, lse, ent_v, _gather(grad_logp, valid_idx, lse.dtype), _gather(grad_ent, valid_idx, lse.dtype),
            temperature=ctx.temperature, backend=_backend(ctx.backend), chunk_size=ctx.chunk_size,
            need_hidden=need_hidden, need_weight=need_weight,
            kept=ctx.kept,  # emptied as used: a second backward (retain_graph) recomputes every chunk
        )
        if grad_h is not None:
            if valid_idx is None:
                grad_h = grad_h.to(hidden.dtype)
            else:
                grad_h = torch.zeros_like(hidden).index_copy_(0, valid_idx, grad_h.to(hidden.dtype))
        return grad_h, grad_w, None, None, None, None, None, None, None


def _scatter(values: torch.Tensor, valid_idx: torch.Tensor | None, n: int) -> torch.Tensor:
    if valid_idx is None:
        return values
    return values.new_zeros(n).index_copy_(0, valid_idx, values)


def _gather(grad: torch.Tensor | None, valid_idx: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
    if grad is None:
        return None
    grad = grad if valid_idx is None else grad.index_select(0, valid_idx)
    return grad.to(dtype).contiguous()  # an upstream sum() hands in a stride-0 expanded tensor


def _validate(hidden, weight, targets, temperature, mask, chunk_size, keep_logits_bytes=None) -> None:
    if hidden.dim() < 1 or weight.dim() != 2:
        raise ValueError(f"hidden must be [N, D] (or [..., D]) and weight [V, D]; got hidden "
                         f"{tuple(hidden.shape)}, weight {tuple(weight.shape)}")
    if hidden.shape[-1] != weight.shape[1]:
        raise ValueError(f"hidden's last dim ({hidden.shape[-1]}) must equal weight's D ({weight.shape[1]})")
    if weight.shape[0] == 0:
        raise ValueError("weight has an empty vocabulary (V = 0)")
    if hidden.dtype not in SUPPORTED_DTYPES or weight.dtype != hidden.dtype:
        raise TypeError(f"hidden and weight must share one dtype of {SUPPORTED_DTYPES}; "
                        f"got {hidden.dtype} and {weight.dtype}")
    if targets.shape != hidden.shape[:-1]:
        raise ValueError(f"targets must have shape {tuple(hidden.shape[:-1])} (hidden without its last dim); "
                         f"got {tuple(targets.shape)}")
    if targets.dtype not in (torch.int64, torch.int32):
        raise TypeError(f"targets must be int64 token ids, got {targets.dtype}")
    if mask is not None and (mask.dtype != torch.bool or mask.shape != targets.shape):
        raise ValueError(f"mask must be a bool tensor of shape {tuple(targets.shape)}; "
                         f"got {mask.dtype} {tuple(mask.shape)}")
    if len({hidden.device, weight.device, targets.device} | ({mask.device} if mask is not None else set())) > 1:
        raise ValueError("hidden, weight, targets (and mask) must be on one device")
    if not (isinstance(temperature, (int, float)) and 0 < temperature < float("inf")):
        raise ValueError(f"temperature must be a positive finite number, got {temperature!r}")
    if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size < 1):
        raise ValueError(f"chunk_size must be a positive int (logits per chunk) or None, got {chunk_size!r}")
    if keep_logits_bytes is not None and (not isinstance(keep_logits_bytes, int) or keep_logits_bytes < 0):
        raise ValueError(f"keep_logits_bytes must be an int >= 0 (bytes) or None, got {keep_logits_bytes!r}")


def token_logprobs(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    targets: torch.Tensor,
    temperature: float = 1.0,
    return_entropy: bool = False,
    ignore_index: int = -100,
    mask: torch.Tensor | None = None,
    backend: str = "auto",
    chunk_size: int | None = None,
    keep_logits_bytes: int | None = None,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Log p(target) under ``softmax(hidden @ weight.T / temperature)``, per token; differentiable.

    hidden ``[N, D]`` (or ``[..., D]``) and weight ``[V, D]`` in bf16/fp16/fp32 (fp64 works too,
    for gradcheck); targets ``[N]`` int64. Returns fp32 ``logprobs [N]`` (fp64 for fp64 inputs)
    and, with ``return_entropy``, ``(logprobs, entropy)``. Rows with ``targets == ignore_index`` or
    ``mask == False`` give 0 and no gradient, and are skipped before any matmul; their targets are
    not range-checked. ``backend``: ``"auto" | "triton" | "cpu" | "reference"``
    (``assay.kernels.dispatch``). ``chunk_size``: logits (rows × columns) per chunk; default from
    the device's memory budget (``default_chunk_size``). ``keep_logits_bytes``: forward logits kept
    for the backward rather than recomputed (default ``default_keep_bytes``: 512 MiB on CUDA, 0 on
    CPU); it changes speed and memory, never the values.
    """
    _validate(hidden, weight, targets, temperature, mask, chunk_size, keep_logits_bytes)
    which = dispatch.resolve(backend, hidden, weight, targets)
    temperature = float(temperature)
    if which == "reference":
        return token_logprobs_reference(hidden, weight, targets.long(), temperature, return_entropy,
                                        ignore_index, mask)
    lead = targets.shape
    h = hidden.reshape(-1, hidden.shape[-1]).contiguous()
    t = targets.reshape(-1).long().contiguous()
    w = weight.contiguous()
    vocab = w.shape[0]
    valid = t != ignore_index
    if mask is not None:
        valid &= mask.reshape(-1)
    bad = valid & ((t < 0) | (t >= vocab))
    n_bad, n_valid = torch.stack([bad.sum(), valid.sum()]).tolist()  # one host sync for both
    if n_bad:
        raise ValueError(f"{n_bad} target(s) outside [0, {vocab}) and not ignore_index={ignore_index}, "
                         f"e.g. {t[bad][0].item()}; mask them or set them to ignore_index")
    valid_idx = None if n_valid == t.numel() else valid.nonzero().squeeze(1)
    keep = default_keep_bytes(h.device) if keep_logits_bytes is None else keep_logits_bytes
    if not (torch.is_grad_enabled() and (h.requires_grad or w.requires_grad)):
        keep = 0  # no backward will come (e.g. under no_grad): keeping would only raise the peak
    out = TokenLogprobsFunction.apply(h, w, t, valid_idx, temperature, bool(return_entropy), which,
                                      chunk_size or default_chunk_size(h.device), keep)
    if return_entropy:
        return out[0].view(lead), out[1].view(lead)
    return out.view(lead)
