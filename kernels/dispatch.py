"""Which implementation of an op runs: ``backend="auto" | "triton" | "cpu" | "reference"``.

``auto`` picks Triton for CUDA tensors and the CPU path otherwise. ``triton`` on CPU tensors only
works under ``TRITON_INTERPRET=1`` (Triton's interpreter): that is how the kernel tests run on a
machine without a GPU. ``reference`` is the plain-torch spec, for tests and baselines.
"""

from __future__ import annotations

import importlib.util
import os

import torch

BACKENDS = ("auto", "triton", "cpu", "reference")


def triton_interpreted() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def triton_available() -> bool:
    # find_spec, not import: importing triton here would fix TRITON_INTERPRET's value early
    return importlib.util.find_spec("triton") is not None


def resolve(backend: str, *tensors: torch.Tensor) -> str:
    """The concrete backend for these inputs, with an error that names the fix."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    on_cuda = any(t.is_cuda for t in tensors)
    if backend == "auto":
        return "triton" if on_cuda and triton_available() else "cpu"
    if backend == "triton":
        if not triton_available():
            raise RuntimeError("backend='triton' needs the triton package (pip install triton)")
        if not on_cuda and not triton_interpreted():
            raise RuntimeError("backend='triton' on CPU tensors needs TRITON_INTERPRET=1 (set before importing triton)")
    return backend
