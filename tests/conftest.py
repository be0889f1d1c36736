"""Shared test helpers.

``ASSAY_REQUIRE_ALL=1`` (set by .ci/run) turns "system dependency missing" from a skip into a
failure, so CI can never go green by skipping.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import torch

# Without a GPU, Triton kernels run in Triton's interpreter on CPU tensors. The variable is read
# when a kernel is decorated, so it must be set before any assay.kernels module is imported.
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def require_all() -> bool:
    return os.environ.get("ASSAY_REQUIRE_ALL", "") not in ("", "0")


def missing_dependency(reason: str) -> None:
    """Skip the calling test, or fail it under ASSAY_REQUIRE_ALL=1."""
    if require_all():
        pytest.fail(f"required dependency missing (ASSAY_REQUIRE_ALL=1): {reason}")
    pytest.skip(reason)


def require_binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        missing_dependency(f"`{name}` not on PATH (run `make test` as root, or apt-get install it)")
    return path


def require_path(path: Path, what: str) -> Path:
    if not path.exists():
        missing_dependency(f"{what} not found at {path}")
    return path
