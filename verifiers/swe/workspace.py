"""A task's repository in a live sandbox session at /work: what an episode and a grading run start from.

bwrap: the cached snapshot (``snapshot.py``) and the pytest runtime are mounted read-only and
the repository is copied into the session's tmpfs, so the host never copies anything per episode.
Docker: the same mounts into a container of the SWE image (``image.py``: the sandbox image plus
git, patch and the pytest runtime), or, for ``repo_source`` kind ``image``, a copy from where the
image holds the repository.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache

from assay.errors import AssayError
from assay.sandbox import Limits, Sandbox, SandboxUnavailable, Session
from assay.verifiers.swe.instance import SWEInstance
from assay.verifiers.swe.snapshot import pylib_dir, snapshot_dir

REPO_MOUNT = "/opt/assay-swe/repo"
PYLIB = "/opt/assay-swe/pylib"
BACKENDS = ("bwrap", "docker")
DEFAULT_LIMITS = Limits(wall_s=120, cpu_s=120, memory_mb=2048, pids=128, output_bytes=1 << 20, disk_mb=512)


@dataclass(frozen=True)
class Runtime:
    """Which sandbox runs SWE sessions: ``backend`` and, for Docker, the image (default: the SWE image)."""

    backend: str = "bwrap"
    image: str | None = None
    limits: Limits = DEFAULT_LIMITS

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise AssayError(f"SWE runtime backend must be one of {', '.join(BACKENDS)}, got {self.backend!r}")

    def sandbox(self) -> Sandbox:
        from assay.verifiers.swe.image import default_swe_tag

        return _sandbox(self.backend, self.image or (default_swe_tag() if self.backend == "docker" else None))


@lru_cache(maxsize=None)
def _sandbox(backend: str, image: str | None) -> Sandbox:
    """One shared (thread-safe) Sandbox per backend and image: its backend is checked once."""
    return Sandbox(backend, image=image)


@dataclass(frozen=True)
class Opened:
    session: Session
    setup_s: float
    source_dir: str  # where the session sees the pristine repository (read-only), .git included


def open_workspace(instance: SWEInstance, runtime: Runtime, sandbox: Sandbox | None = None) -> Opened:
    """A session whose /work is ``instance``'s repository at its base commit. The caller closes it."""
    start = time.monotonic()
    sandbox = sandbox or runtime.sandbox()
    try:
        sandbox.backend  # picks and checks the backend once per Sandbox
    except SandboxUnavailable as e:
        if runtime.backend == "docker" and "is missing" in str(e):
            raise SandboxUnavailable(f"{str(e).split(';')[0]}; build it: assay sandbox build-image && "
                                     "assay swe build-image") from e
        raise
    source = instance.repo_source
    if source is not None and source.kind == "image":
        if runtime.backend != "docker":
            raise AssayError(f"{instance.instance_id}: the repository lives in image {source.image}; use the docker backend")
        sandbox = _sandbox("docker", source.image or runtime.image)
        session, src = sandbox.session(runtime.limits), source.location
    else:
        mounts = {REPO_MOUNT: str(snapshot_dir(instance))}
        if runtime.backend == "bwrap":
            mounts[PYLIB] = str(pylib_dir())  # the Docker image carries its own copy
        session, src = sandbox.session(runtime.limits, ro_mounts=mounts), REPO_MOUNT
    try:
        r = session.run(["cp", "-R", "--preserve=mode,timestamps", f"{src}/.", "/work/"])
        if r.exit_code != 0:
            raise AssayError(f"{instance.instance_id}: copying the repository into the sandbox failed: "
                             f"{r.text('stderr')[-300:]}")
    except BaseException:
        session.close()
        raise
    return Opened(session, time.monotonic() - start, src)
