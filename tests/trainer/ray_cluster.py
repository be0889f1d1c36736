"""The local Ray cluster of the Ray test modules: 2 CPUs, started once per module.

Importing this skips the importing module when Ray is missing (or fails it under
ASSAY_REQUIRE_ALL=1: ray is a dev dependency, CI must have it)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from tests.conftest import REPO, missing_dependency, require_all

try:
    import ray
except ImportError:
    if require_all():
        raise
    pytest.skip("ray is not installed (pip install 'assay[ray]')", allow_module_level=True)

__all__ = ["local_cluster", "ray"]


def local_cluster(*registers: Callable[[], None]) -> Iterator[str]:
    """Body of a module-scoped fixture (``yield from local_cluster(...)``): registers the test envs,
    starts the cluster, yields its GCS address, then shuts it down. Workers import the test envs'
    entry points (``tests.trainer.*``), so they inherit a PYTHONPATH that has the repository."""
    old_path = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), old_path]))
    for register in registers:
        register()
    try:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    except Exception as e:  # pragma: no cover - a machine where Ray cannot start
        missing_dependency(f"a local Ray cluster would not start: {e}")
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()
        if old_path is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old_path
