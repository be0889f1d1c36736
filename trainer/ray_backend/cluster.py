"""Connecting to Ray: an existing cluster by address, or a local one started here.

``address=None`` starts a local cluster sized by ``num_cpus`` (tests and one-machine runs);
``"auto"`` or ``"ray://host:10001"`` / ``"host:6379"`` joins a running cluster. Calling it again in
the same process is a no-op, so the trainer, search and tests can all ask for a connection.
"""

from __future__ import annotations

from assay.errors import AssayError


def require_ray():
    try:
        import ray
    except ImportError:
        raise AssayError("backend=ray needs Ray: pip install 'assay[ray]' (or pip install ray)") from None
    return ray


def connect(address: str | None = None, num_cpus: int | None = None) -> None:
    ray = require_ray()
    if ray.is_initialized():
        return
    kwargs = {"address": address} if address else {"num_cpus": num_cpus}
    # log_to_driver=False: workers' stdout (sandbox chatter, warnings) would interleave with the
    # progress bar; worker logs stay in Ray's session directory.
    ray.init(include_dashboard=False, log_to_driver=False, **kwargs)
