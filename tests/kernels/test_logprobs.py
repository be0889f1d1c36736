"""token_logprobs: the Triton kernels (interpreted on CPU) and the CPU path against the reference.

Reference (``assay.kernels.logprobs.reference``), per row n with target t = targets[n]:

    z       = (hidden @ weight.T).float() / T
    logp[n] = z[n, t] - logsumexp(z[n])             0 when t == ignore_index or mask[n] is False
    H[n]    = -sum_v p[n, v] log p[n, v]
    d logp / d z_v = 1[v = t] - p_v,   d H / d z_v = -p_v (log p_v + H),   d z / d logits = 1 / T
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import pytest
import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")  # before triton is imported anywhere

from assay.kernels.benchutil import Case, measure  # noqa: E402
from assay.kernels.logprobs import op, token_logprobs, token_logprobs_reference  # noqa: E402
from assay.kernels.logprobs import cpu as cpu_backend  # noqa: E402
from assay.kernels.logprobs import triton_kernels  # noqa: E402

# One tolerance per dtype, for values and gradients alike.
# fp32/fp64: the op and the reference differ only in rounding: matmul blocking (chunks vs one
#   GEMM) and how d/dlogits is formed. Hidden gradients sum V = 32003 terms that cancel (softmax
#   gradients sum to 0); against an fp64 truth both sides err by up to ~1.2e-5 there (measured), so
#   3e-5. Real bugs (a missed 1/T, an unmasked tail, a wrong row) are off by >1e-2.
# bf16/fp16: both round their matmul outputs (logits, gradients) to the inputs' dtype, but at
#   different points (per chunk vs once), so single elements can differ by one ulp of that dtype:
#   2^-8 relative for bf16 (torch's own bf16 rtol is 1.6e-2), 2^-11 for fp16.
TOL = {
    torch.float64: dict(atol=1e-10, rtol=1e-10),
    torch.float32: dict(atol=3e-5, rtol=3e-5),
    torch.float16: dict(atol=2e-3, rtol=2e-3),
    torch.bfloat16: dict(atol=2e-2, rtol=1.6e-2),
}
BACKENDS = ["cpu", "triton"]
IGNORE = -100


def dev(backend: str) -> str:
    """Where a backend's inputs live: the Triton kernels run on the GPU when there is one
    (interpreted on CPU tensors otherwise); the CPU path always gets CPU tensors."""
    return "cuda" if backend == "triton" and torch.cuda.is_available() else "cpu"


def t(values, backend, **kw) -> torch.Tensor:
    return torch.tensor(values, device=dev(backend), **kw)

# (N, D, V, chunk_size): odd sizes; None = the default budget (one chunk at these sizes).
SHAPES = [
    (0, 24, 7, None),  # empty batch
    (1, 24, 1, None),  # one token, one-word vocabulary: logp = 0, H = 0
    (1, 72, 7, None),
    (5, 24, 1000, None),  # one block with a 1000-of-1024 tail
    (37, 24, 1000, None),
    (37, 72, 1000, 512),  # 37 row blocks of one row
    (5, 24, 32003, None),  # one chunk, 8 blocks of 4096, the last 3331 wide
    (5, 72, 32003, 4096),  # 16 column chunks x 3 row blocks, the last chunk 1283 wide
]


def make_inputs(N, D, V, dtype=torch.float32, seed=0, holes=True, device="cpu"):
    """Logits of std ~3 (peaked, like an LM's); with ``holes`` one ignored and one masked row.

    Drawn on the CPU (same values on every machine), then moved to ``device``."""
    gen = torch.Generator().manual_seed(seed)
    hidden = torch.randn(N, D, generator=gen)
    weight = torch.randn(V, D, generator=gen) * (3 / D**0.5)
    targets = torch.randint(0, V, (N,), generator=gen)
    mask = torch.ones(N, dtype=torch.bool)
    if holes and N >= 5:
        targets[1] = IGNORE
        mask[3] = False
        targets[3] = V + 5  # masked rows are not range-checked
    return (hidden.to(device, dtype).requires_grad_(), weight.to(device, dtype).requires_grad_(),
            targets.to(device), mask.to(device),
            torch.randn(N, generator=gen).to(device), torch.randn(N, generator=gen).to(device))


def run(fn, hidden, weight, g_logp, g_ent, **kw):
    """Outputs and (grad hidden, grad weight) of sum(g_logp * logp + g_ent * H)."""
    hidden.grad = weight.grad = None
    logp, ent = fn(hidden, weight, return_entropy=True, **kw)
    (logp * g_logp + ent * g_ent).sum().backward()
    return logp.detach(), ent.detach(), hidden.grad.clone(), weight.grad.clone()


def assert_matches_reference(backend, N, D, V, chunk_size, temperature, dtype):
    hidden, weight, targets, mask, g_logp, g_ent = make_inputs(N, D, V, dtype, device=dev(backend))
    kw = dict(targets=targets, temperature=temperature, mask=mask)
    got = run(lambda h, w, **k: token_logprobs(h, w, backend=backend, chunk_size=chunk_size, **k),
              hidden, weight, g_logp, g_ent, **kw)
    want = run(lambda h, w, **k: token_logprobs_reference(h, w, **k), hidden, weight, g_logp, g_ent, **kw)
    for name, g, w in zip(("logp", "entropy", "grad hidden", "grad weight"), got, want):
        assert g.dtype == w.dtype and g.shape == w.shape, name
        torch.testing.assert_close(g, w, **TOL[dtype], msg=lambda m, name=name: f"{name}: {m}")
    logp, ent = got[:2]
    assert (logp <= 0).all() and (ent >= 0).all()
    dropped = (targets == IGNORE) | ~mask
    assert (logp[dropped] == 0).all() and (ent[dropped] == 0).all()
    assert (got[2][dropped] == 0).all()


@pytest.mark.parametrize("temperature", [0.6, 1.0, 1.5])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "N{}-D{}-V{}-chunk{}".format(*s))
@pytest.mark.parametrize("backend", BACKENDS)
def test_fp32_matches_reference(backend, shape, temperature):
    assert_matches_reference(backend, *shape, temperature, torch.float32)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=str)
@pytest.mark.parametrize("shape", [(5, 24, 1000, None), (37, 72, 1000, 512), (5, 72, 32003, 4096)],
                         ids=lambda s: "N{}-D{}-V{}-chunk{}".format(*s))
@pytest.mark.parametrize("backend", BACKENDS)
def test_half_precision_matches_reference(backend, shape, dtype):
    assert_matches_reference(backend, *shape, 0.6, dtype)


@pytest.mark.parametrize("backend", BACKENDS)
def test_single_output_gradients(backend):
    """Only the log-probs, or only the entropy, receive a gradient (the other's is None)."""
    hidden, weight, targets, mask, _, _ = make_inputs(5, 24, 1000, device=dev(backend))
    for which in ("logp", "entropy"):
        grads = []
        for fn in (lambda **k: token_logprobs(backend=backend, **k), token_logprobs_reference):
            hidden.grad = weight.grad = None
            out = fn(hidden=hidden, weight=weight, targets=targets, mask=mask, return_entropy=which == "entropy")
            (out[1] if which == "entropy" else out).sum().backward()  # sum(): a stride-0 upstream grad
            grads.append((hidden.grad.clone(), weight.grad.clone()))
        torch.testing.assert_close(grads[0], grads[1], **TOL[torch.float32])


@pytest.mark.parametrize("backend", BACKENDS)
def test_frozen_lm_head(backend, monkeypatch):
    """weight.requires_grad=False: hidden's gradient is right and no weight-gradient matmul runs."""
    hidden, weight, targets, mask, g_logp, _ = make_inputs(5, 24, 1000, device=dev(backend))
    weight.requires_grad_(False)
    mms = []
    real_mm = torch.mm
    monkeypatch.setattr(torch, "mm", lambda a, b, **k: mms.append(a.shape) or real_mm(a, b, **k))
    (token_logprobs(hidden, weight, targets, mask=mask, backend=backend) * g_logp).sum().backward()
    got = hidden.grad.clone()
    assert len(mms) == 2  # forward logits + backward recompute; hidden's gradient uses addmm_
    hidden.grad = None
    (token_logprobs_reference(hidden, weight, targets, mask=mask) * g_logp).sum().backward()
    torch.testing.assert_close(got, hidden.grad, **TOL[torch.float32])


@pytest.mark.parametrize("backend", BACKENDS)
def test_gradcheck_float64(backend):
    """Analytic gradients of both outputs against finite differences (fp64 runs under the interpreter)."""
    hidden, weight, targets, mask, _, _ = make_inputs(5, 3, 6, torch.float64, seed=1, device=dev(backend))

    def f(h, w):  # chunk_size=6: one row per block, so the row-block accumulation is checked too
        return token_logprobs(h, w, targets, 0.7, True, mask=mask, backend=backend, chunk_size=6)

    assert torch.autograd.gradcheck(f, (hidden, weight), eps=1e-6, atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_temperature_divides_fp32_logits(backend):
    """z = (h @ w.T).float() / T, the division done in fp32 (as vLLM samples), not h / T in bf16."""
    hidden, weight, targets, _, _, _ = make_inputs(6, 40, 777, torch.bfloat16, holes=False, device=dev(backend))
    for temperature in (0.6, 1.0, 1.5):
        z = (hidden @ weight.T).float() / temperature
        want = z.log_softmax(-1).gather(-1, targets[:, None]).squeeze(-1)
        got = token_logprobs(hidden, weight, targets, temperature, backend=backend)
        torch.testing.assert_close(got, want, **TOL[torch.float32])


@pytest.mark.parametrize("backend", BACKENDS)
def test_dropped_rows_cost_no_matmul(backend, monkeypatch):
    """Ignored and masked rows never reach a matmul; an all-dropped batch makes no matmul call."""
    seen = []
    real = op.chunk_logits
    monkeypatch.setattr(op, "chunk_logits", lambda h, w, buf: seen.append(h.shape[0]) or real(h, w, buf))
    hidden, weight, targets, mask, _, _ = make_inputs(9, 24, 5000, device=dev(backend))
    targets[5] = IGNORE
    logp, ent = token_logprobs(hidden, weight, targets, return_entropy=True, mask=mask, backend=backend)
    (logp + ent).sum().backward()
    n_valid = int(((targets != IGNORE) & mask).sum())  # 9 - 3
    assert n_valid == 6
    assert sum(seen) == 2 * n_valid  # one chunk: forward + backward recompute, valid rows only

    seen.clear()
    hidden.grad = weight.grad = None
    logp, ent = token_logprobs(hidden, weight, torch.full_like(targets, IGNORE), return_entropy=True, backend=backend)
    (logp + ent).sum().backward()
    assert seen == []
    assert (logp == 0).all() and (ent == 0).all()
    assert (hidden.grad == 0).all() and (weight.grad == 0).all()


@pytest.mark.parametrize("chunk_size", [None, 3 * 2048], ids=["one-chunk", "2048-wide-chunks"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_vocabulary_tail_is_masked(backend, chunk_size):
    """V = 4097 = one Triton block + 1 (or 2048-wide chunks + 1 column): the one real tail lane.

    Rows are packed back to back in the chunk buffer, so an unmasked tail would read the next
    row's first logits, made huge here (+60); a tail filled with 0 and counted would swamp rows
    whose logits are all very negative (-500).
    """
    V = triton_kernels.MAX_BLOCK_V + 1
    logits = torch.full((V,), -500.0)
    logits[:3] = torch.tensor([60.0, 59.0, 58.0])
    logits[-1] = 59.5  # the tail element itself matters too
    weight = torch.stack([logits, torch.zeros(V)], dim=1).to(dev(backend)).requires_grad_()
    hidden = t([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [1.0, 0.0]], backend, requires_grad=True)
    targets = t([0, V - 1, 3, 7], backend)
    for temperature in (0.6, 1.0):
        got = token_logprobs(hidden, weight, targets, temperature, True, backend=backend, chunk_size=chunk_size)
        want = token_logprobs_reference(hidden, weight, targets, temperature, True)
        torch.testing.assert_close(got, want, **TOL[torch.float32])
        assert (got[0] <= 0).all()

    # All logits very negative: the true log-probs are ~ -log V, far from what a zero tail gives.
    weight = torch.stack([torch.full((V,), -500.0), torch.zeros(V)], dim=1).to(dev(backend))
    got = token_logprobs(hidden.detach(), weight, targets, backend=backend, chunk_size=chunk_size)
    torch.testing.assert_close(got, torch.full((4,), -torch.log(torch.tensor(float(V)))).to(dev(backend)),
                               **TOL[torch.float32])


@pytest.mark.parametrize("backend", BACKENDS)
def test_logprobs_nonpositive_without_the_clamp(backend):
    """Before the final clamp, logp <= 0 and H >= 0 already (s >= 1, t <= 0 by construction)."""
    chunks = cpu_backend if backend == "cpu" else triton_kernels
    gen = torch.Generator().manual_seed(0)
    cases = [torch.randn(7, 16, generator=gen) * 40, torch.randn(7, 16, generator=gen) * 1e-3, torch.zeros(7, 16)]
    for hidden in cases:
        weight = torch.randn(3000, 16, generator=gen)
        weight[17] = hidden[0] * 5  # one dominant logit for row 0
        targets = torch.randint(0, 3000, (7,), generator=gen)
        targets[0] = 17
        hidden, weight, targets = (x.to(dev(backend)) for x in (hidden, weight, targets))
        for chunk_size in (None, 2 * 2048):
            logp, _, ent = op.forward_chunks(hidden, weight, targets, temperature=0.6, with_entropy=True,
                                             backend=chunks, chunk_size=chunk_size or 10**7)
            assert (logp <= 1e-6).all() and (ent >= -1e-6).all(), (logp.max(), ent.min())
    logp, _, ent = op.forward_chunks(*(x.to(dev(backend)) for x in (torch.randn(3, 4), torch.randn(1, 4),
                                                                   torch.zeros(3, dtype=torch.long))),
                                     temperature=1.0, with_entropy=True, backend=chunks, chunk_size=10**7)
    assert (logp == 0).all() and (ent == 0).all()  # V = 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_bf16_no_worse_than_torch_bf16(backend):
    """bf16 inputs vs the fp32 reference on the same (upcast) inputs: our error <= torch's own."""
    hidden, weight, targets, _, _, _ = make_inputs(64, 256, 4099, torch.bfloat16, holes=False, device=dev(backend))
    exact = token_logprobs_reference(hidden.float(), weight.float(), targets)
    torch_bf16 = (hidden @ weight.T).float().log_softmax(-1).gather(-1, targets[:, None]).squeeze(-1)
    ours = token_logprobs(hidden, weight, targets, backend=backend, chunk_size=64 * 2048)
    err_ours, err_torch = (ours - exact).abs().max().item(), (torch_bf16 - exact).abs().max().item()
    assert err_torch > 0
    assert err_ours <= err_torch * 1.05, (err_ours, err_torch)


def test_chunk_memory_well_below_naive():
    """Peak memory above the inputs (fresh subprocess, RSS high-water mark), N=2048 D=256 V=32000."""
    params = dict(N=2048, D=256, V=32000, dtype="fp32")
    rows = {impl: measure(Case("token_logprobs", impl, "", f"assay.kernels.logprobs.bench:setup_{impl}", params),
                          "cpu", repeats=1, warmup=0, timeout_s=120) for impl in ("assay", "naive")}
    for row in rows.values():
        assert row.error is None, row.error
    naive_logits_mib = 2048 * 32000 * 4 / 2**20  # 250 MiB: the naive path holds several of these
    assert rows["naive"].peak_extra_mib > 2 * naive_logits_mib
    assert rows["assay"].peak_extra_mib < rows["naive"].peak_extra_mib / 8, rows


@pytest.mark.parametrize("n, vocab, chunk", [(1, 10, 1), (100, 50000, 10**6), (4096, 32000, 2**21),
                                             (10**6, 151936, 2**26), (3, 5, 10**9)])
def test_chunk_geometry_respects_the_budget(n, vocab, chunk):
    rows, cols = op.chunk_geometry(n, vocab, chunk)
    assert 1 <= rows <= n and 1 <= cols <= vocab
    assert rows * cols <= max(chunk, min(vocab, op.MIN_CHUNK_COLS))
    assert cols >= min(vocab, op.MIN_CHUNK_COLS)


def test_leading_dims_and_reference_backend():
    hidden, weight, targets, mask, _, _ = make_inputs(12, 24, 300)
    flat = token_logprobs(hidden, weight, targets, mask=mask, backend="cpu")
    shaped = token_logprobs(hidden.view(3, 4, 24), weight, targets.view(3, 4), mask=mask.view(3, 4), backend="cpu")
    assert shaped.shape == (3, 4)
    torch.testing.assert_close(shaped.reshape(-1), flat, atol=0, rtol=0)
    ref = token_logprobs(hidden, weight, targets, mask=mask, backend="reference")
    torch.testing.assert_close(flat, ref, **TOL[torch.float32])


@pytest.mark.parametrize("bad, error, match", [
    (dict(targets=torch.tensor([0, 1, 300])), ValueError, "outside"),
    (dict(targets=torch.tensor([0, 1, -1])), ValueError, "outside"),
    (dict(targets=torch.tensor([0.0, 1.0, 2.0])), TypeError, "int64"),
    (dict(targets=torch.tensor([0, 1])), ValueError, "targets must have shape"),
    (dict(weight=torch.randn(300, 8)), ValueError, "last dim"),
    (dict(weight=torch.randn(300, 24, dtype=torch.float64)), TypeError, "one dtype"),
    (dict(weight=torch.randn(0, 24)), ValueError, "empty vocabulary"),
    (dict(temperature=0.0), ValueError, "temperature"),
    (dict(mask=torch.ones(3)), ValueError, "mask"),
    (dict(chunk_size=0), ValueError, "chunk_size"),
    (dict(backend="cuda"), ValueError, "backend"),
])
def test_bad_inputs_raise_clear_errors(bad, error, match):
    args = dict(hidden=torch.randn(3, 24), weight=torch.randn(300, 24), targets=torch.tensor([0, 1, 2]))
    args.update(bad)
    with pytest.raises(error, match=match):
        token_logprobs(**args)


def test_out_of_range_target_fine_when_ignored():
    logp = token_logprobs(torch.randn(3, 8), torch.randn(30, 8), torch.tensor([0, IGNORE, 29]))
    assert logp[1] == 0


def test_kernels_compile_for_sm90():
    """The CUDA path without a GPU: every kernel variant compiles through ptxas to an sm_90 cubin."""
    ptxas = os.path.join(os.path.dirname(triton_kernels.triton.__file__), "backends", "nvidia", "bin", "ptxas")
    if not os.path.exists(ptxas) and shutil.which("ptxas") is None:
        pytest.skip("triton's bundled ptxas not found")
    script = textwrap.dedent("""
        import itertools, triton
        from triton.backends.compiler import GPUTarget
        from assay.kernels.logprobs import triton_kernels as tk
        common = {"logits_stride": "i32", "targets_ptr": "*i64", "col_offset": "i32", "n_cols": "i32"}
        for dt, acc in [("bf16", "fp32"), ("fp16", "fp32"), ("fp32", "fp32"), ("fp64", "fp64")]:
            p = {"logits_ptr": "*" + dt, "temperature_ptr": "*" + acc}
            stats = dict(common, **p, **{k: "*" + acc for k in ("row_max_ptr", "row_sum_ptr", "row_ent_ptr", "target_z_ptr")})
            grad = dict(common, **p, **{k: "*" + acc for k in ("lse_ptr", "entropy_ptr", "grad_logp_ptr", "grad_ent_ptr")})
            for fn, sig, flags in [(tk._stats_kernel, stats, ("FIRST", "WITH_ENTROPY")),
                                   (tk._grad_kernel, grad, ("HAS_GRAD_LOGP", "HAS_GRAD_ENT"))]:
                for values in itertools.product([True, False], repeat=2):
                    consts = dict(zip(flags, values), BLOCK_V=4096)
                    order = [a for a in fn.arg_names]
                    full = {a: (sig[a] if a in sig else "constexpr") for a in order}
                    src = triton.compiler.ASTSource(fn=fn, signature=full, constexprs=consts)
                    k = triton.compile(src, target=GPUTarget("cuda", 90, 32), options={"num_warps": 16})
                    assert "cubin" in k.asm, (fn, dt, values)
        print("ok")
    """)
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=240)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-3000:]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("n, v, chunk_size", [(37, 5000, 37 * 2048), (50, 3000, 10 * 2048)])
def test_kept_forward_logits_change_nothing_but_memory(backend, n, v, chunk_size):
    """Logits kept from the forward (none, the first chunk, some, all) give the gradients that
    recomputing them gives, bit for bit; a second backward (retain_graph) recomputes and agrees.
    Shapes: three column chunks of all rows; two column chunks of five row blocks each."""
    gen = torch.Generator().manual_seed(3)
    base = [torch.randn(n, 24, generator=gen), torch.randn(v, 24, generator=gen)]
    targets = torch.randint(0, v, (n,), generator=gen).to(dev(backend))
    upstream = [torch.randn(n, generator=gen).to(dev(backend)) for _ in range(2)]
    one_chunk = min(n, chunk_size // 2048) * 2048 * 4
    results = []
    for keep in (0, one_chunk, 3 * one_chunk, 10**9):
        hidden, weight = (x.to(dev(backend)).requires_grad_(True) for x in base)
        logp, ent = token_logprobs(hidden, weight, targets, temperature=0.6, return_entropy=True, backend=backend,
                                   chunk_size=chunk_size, keep_logits_bytes=keep)
        loss = (logp * upstream[0]).sum() + (ent * upstream[1]).sum()
        first = torch.autograd.grad(loss, (hidden, weight), retain_graph=True)
        second = torch.autograd.grad(loss, (hidden, weight))
        results.append((logp.detach(), ent.detach(), *first))
        assert all(torch.equal(a, b) for a, b in zip(first, second))
    for other in results[1:]:
        assert all(torch.equal(a, b) for a, b in zip(results[0], other))
    reference = token_logprobs_reference(base[0].double(), base[1].double(), targets.cpu(), 0.6)
    torch.testing.assert_close(results[0][0].cpu().double(), reference, **TOL[torch.float32])


def test_only_a_backend_that_preserves_the_chunk_keeps_it():
    assert triton_kernels.PRESERVES_CHUNK and not cpu_backend.PRESERVES_CHUNK
    hidden, weight = torch.randn(5, 8, requires_grad=True), torch.randn(3000, 8)
    kept = []
    op.forward_chunks(hidden.detach(), weight, torch.zeros(5, dtype=torch.long), temperature=1.0, with_entropy=False,
                      backend=triton_kernels, chunk_size=5 * 2048, keep=kept, keep_bytes=5 * 2048 * 4)
    assert [tuple(k.shape) for k in kept] == [(5, 2048)]  # the first chunk fits the budget, the second does not
    with pytest.raises(ValueError, match="keep_logits_bytes"):
        token_logprobs(hidden, weight, torch.zeros(5, dtype=torch.long), keep_logits_bytes=-1)


def test_nothing_is_kept_when_no_backward_can_follow(monkeypatch):
    kept_sizes = []
    real = op.forward_chunks

    def spy(*args, **kw):
        kept_sizes.append(kw["keep_bytes"])
        return real(*args, **kw)

    monkeypatch.setattr(op, "forward_chunks", spy)
    hidden, weight = torch.randn(5, 8, requires_grad=True), torch.randn(3000, 8)
    with torch.no_grad():
        token_logprobs(hidden, weight, torch.zeros(5, dtype=torch.long), backend="triton", keep_logits_bytes=10**9)
    token_logprobs(hidden, weight, torch.zeros(5, dtype=torch.long), backend="triton", keep_logits_bytes=10**9)
    assert kept_sizes == [0, 10**9]
