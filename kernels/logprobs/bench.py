"""Bench setups for ``token_logprobs`` (``assay.kernels.benchutil``): forward + backward of
``sum(logprobs)`` through each implementation, on the same inputs.

``setup_*(device, N, D, V, dtype="bf16" | "fp32") -> (run, Work)``. ``Work.flops`` counts the
matmul FLOPs each implementation executes: 2·N·D·V per ``[N, D] x [D, V]`` product, so
6·N·D·V for those that keep the logits (naive, compiled) or build gradients inside the forward,
and 8·N·D·V for those that recompute the logits in the backward (Liger with ``reduction="none"``,
verl, assay with ``keep_logits_bytes=0``: the ``assay_recompute`` row); assay by default keeps its
first chunks' logits on a GPU and recomputes the rest, 8·N·D·V less 2·D per kept logit.
Elementwise work is not counted.

Liger-Kernel and verl are imported inside their setups; when missing, the ImportError reaches
``benchutil.measure`` and the row reads "error: ImportError ... not installed".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch

from assay.kernels.benchutil import Case, Work
from assay.kernels.logprobs import op, token_logprobs

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


def _inputs(device: str, N: int, D: int, V: int, dtype: str, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    dt = DTYPES[dtype]
    hidden = (torch.randn(N, D, generator=gen) / D**0.5).to(device=device, dtype=dt).requires_grad_()
    weight = torch.randn(V, D, generator=gen).to(device=device, dtype=dt).requires_grad_()
    targets = torch.randint(0, V, (N,), generator=gen).to(device)
    return hidden, weight, targets


def _runner(fn: Callable[[], torch.Tensor], hidden, weight) -> Callable[[], None]:
    def run() -> None:
        hidden.grad = weight.grad = None  # every run allocates its gradients, as a training step does
        out = fn()
        # A dense upstream gradient, as a per-token loss hands back (``sum()`` would hand in a
        # stride-0 expanded one, which verl's kernel rejects).
        out.backward(torch.ones_like(out))

    return run


def _work(factor: float, N: int, D: int, V: int, dtype: str) -> Work:
    """``factor``·N·D·V matmul FLOPs; outputs: the two gradients, in the inputs' dtype."""
    return Work(flops=factor * N * D * V, output_bytes=(N + V) * D * DTYPES[dtype].itemsize)


def setup_assay(device: str, N: int, D: int, V: int, dtype: str = "bf16", **kw):
    h, w, t = _inputs(device, N, D, V, dtype)
    keep = kw.get("keep_logits_bytes")
    keep = op.default_keep_bytes(h.device) if keep is None else keep
    chunk = kw.get("chunk_size") or op.default_chunk_size(h.device)
    kept = sum(op.chunk_sizes(N, V, chunk)[: op.kept_chunks(N, V, chunk, keep, h.element_size())])
    kept = kept if h.is_cuda else 0  # the CPU backend keeps nothing (op.py: PRESERVES_CHUNK)
    work = _work(8.0, N, D, V, dtype)
    work = dataclasses.replace(work, flops=work.flops - 2.0 * D * kept)
    return _runner(lambda: token_logprobs(h, w, t, **kw), h, w), work


def setup_assay_recompute(device: str, N: int, D: int, V: int, dtype: str = "bf16", **kw):
    """assay recomputing every chunk in the backward (``keep_logits_bytes=0``), for comparison."""
    return setup_assay(device, N, D, V, dtype, keep_logits_bytes=0, **kw)


def naive(hidden, weight, targets):
    """Full logits, log_softmax, gather: what a trainer writes without a fused op."""
    logits = (hidden @ weight.T).float()
    return logits.log_softmax(-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)


def setup_naive(device: str, N: int, D: int, V: int, dtype: str = "bf16", **kw):
    h, w, t = _inputs(device, N, D, V, dtype)
    return _runner(lambda: naive(h, w, t), h, w), _work(6.0, N, D, V, dtype)


def setup_compiled(device: str, N: int, D: int, V: int, dtype: str = "bf16", **kw):
    h, w, t = _inputs(device, N, D, V, dtype)
    compiled = torch.compile(naive)
    return _runner(lambda: compiled(h, w, t), h, w), _work(6.0, N, D, V, dtype)


def setup_liger(device: str, N: int, D: int, V: int, dtype: str = "bf16", **kw):
    try:
        from liger_kernel.transformers.functional import liger_fused_linear_cross_entropy
    except ImportError as e:
        raise ImportError("Liger-Kernel not installed (pip install liger-kernel)") from e
    h, w, t = _inputs(device, N, D, V, dtype)

    def logprobs() -> torch.Tensor:
        out = liger_fused_linear_cross_entropy(h, w, t, reduction="none")
        loss = out[0] if isinstance(out, tuple) else out  # newer versions return (loss, z_loss, ...)
        return -loss

    # reduction="none" defers gradients to a backward that recomputes the logits (Liger >= 0.6).
    return _runner(logprobs, h, w), _work(8.0, N, D, V, dtype)


def _verl_linear_cross_entropy():
    """verl's fused kernel, loaded without ``verl/__init__.py``.

    verl's package import pulls in Ray, tensordict, omegaconf and more, none of which the kernel
    needs; its two kernel files only use ``verl.utils.device``. When the full import fails, empty
    parent packages and a small CUDA-only ``verl.utils.device`` are put in ``sys.modules`` so the
    kernel files load as they are (nothing of verl's kernel code is changed).
    """
    try:
        from verl.utils.kernel.linear_cross_entropy import linear_cross_entropy

        return linear_cross_entropy
    except ImportError:
        pass
    import importlib.util
    import sys
    import types
    from pathlib import Path

    spec = importlib.util.find_spec("verl")  # locates the package without running its __init__
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("verl not installed (pip install verl)")
    for name in [k for k in sys.modules if k == "verl" or k.startswith("verl.")]:
        del sys.modules[name]  # drop what the failed import left half-initialised
    root = Path(list(spec.submodule_search_locations)[0])
    for name, folder in (("verl", root), ("verl.utils", root / "utils"), ("verl.utils.kernel", root / "utils" / "kernel")):
        package = types.ModuleType(name)
        package.__path__ = [str(folder)]
        sys.modules[name] = package
    device = types.ModuleType("verl.utils.device")
    device.is_cuda_available = torch.cuda.is_available()
    device.get_device_name = lambda: "cuda"
    device.get_torch_device = lambda: torch.cuda
    device.get_device_capability = lambda device_id=0: torch.cuda.get_device_capability(device_id)
    sys.modules["verl.utils.device"] = device
    from verl.utils.kernel.linear_cross_entropy import linear_cross_entropy

    return linear_cross_entropy


def setup_verl(device: str, N: int, D: int, V: int, dtype: str = "bf16", **kw):
    linear_cross_entropy = _verl_linear_cross_entropy()
    h, w, t = _inputs(device, N, D, V, dtype)

    def logprobs() -> torch.Tensor:
        # verl's signature: (hidden, weight, labels, temperature, reduction) -> (logprobs, entropy)
        return linear_cross_entropy(h, w, t, 1.0, "none")[0]

    return _runner(logprobs, h, w), _work(8.0, N, D, V, dtype)


def cases(device: str, quick: bool = False) -> list[Case]:
    """CPU: N=4096, D=512, V=32000 fp32. CUDA: Qwen2.5's head, N=8192, D=4096, V=151936 bf16.

    ``quick`` shrinks N by 8 (for a smoke run of the table, not for numbers).
    """
    me = "assay.kernels.logprobs.bench"
    if device.startswith("cuda"):
        params = dict(N=8192, D=4096, V=151936, dtype="bf16")
        impls = ["assay", "assay_recompute", "naive", "compiled", "liger", "verl"]
    else:
        params = dict(N=4096, D=512, V=32000, dtype="fp32")
        impls = ["assay", "naive", "compiled"]
    if quick:
        params["N"] //= 8
    shape = f"N={params['N']} D={params['D']} V={params['V']} {params['dtype']}"
    return [Case("token_logprobs", impl, shape, f"{me}:setup_{impl}", dict(params)) for impl in impls]


if __name__ == "__main__":  # python -m assay.kernels.logprobs.bench [cuda] [--quick]
    import sys

    from assay.kernels.benchutil import measure, to_markdown

    dev = "cuda" if "cuda" in sys.argv[1:] else "cpu"
    print(to_markdown([measure(c, dev) for c in cases(dev, quick="--quick" in sys.argv)]))
