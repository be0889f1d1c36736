"""``Sandbox``: the one entry point for running untrusted code (contract in DESIGN.md).

It validates input once (``validate.py``), picks a backend, and never runs anything outside a
sandbox: if no backend works it raises ``SandboxUnavailable`` with the fix. ``auto`` prefers
bubblewrap (cheap, per-run namespaces) and falls back to Docker.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from assay.sandbox.backend import Backend, SandboxUnavailable, Session
from assay.sandbox.limits import ExecResult, Limits
from assay.sandbox.validate import check_cmd, check_files, check_limits, check_ro_mounts, to_bytes

BACKENDS = ("auto", "bwrap", "docker")


def make_backend(name: str, image: str | None = None) -> Backend:
    """The backend called ``name`` (not checked yet); ImportError becomes SandboxUnavailable."""
    if name == "bwrap":
        from assay.sandbox.bwrap_backend import BwrapBackend

        return BwrapBackend()
    if name == "docker":
        try:
            from assay.sandbox.docker_backend import DockerBackend
        except ImportError as e:
            raise SandboxUnavailable(f"docker backend cannot be loaded: {e} (pip install docker)") from e
        return DockerBackend(image=image)
    raise ValueError(f"unknown sandbox backend {name!r}: use one of {', '.join(BACKENDS)}")


def pick_backend(name: str, image: str | None = None) -> Backend:
    if name not in BACKENDS:
        raise ValueError(f"unknown sandbox backend {name!r}: use one of {', '.join(BACKENDS)}")
    order = ["bwrap", "docker"] if name == "auto" else [name]
    if name == "auto" and image is not None:
        order = ["docker"]  # an image only means something to Docker
    reasons = []
    for candidate in order:
        try:
            backend = make_backend(candidate, image)
            reason = backend.check()
        except SandboxUnavailable as e:
            reason = str(e)
        if reason is None:
            return backend
        reasons.append(f"{candidate}: {reason}")
    raise SandboxUnavailable("no working sandbox backend; refusing to run code unsandboxed. "
                             + "; ".join(reasons))


class Sandbox:
    """Run commands in isolation. Thread-safe: one ``Sandbox`` may serve many threads."""

    def __init__(self, backend: str = "auto", image: str | None = None) -> None:
        if image is not None and not isinstance(image, str):
            raise ValueError(f"image must be a str or None, got {type(image).__name__}")
        self._requested = backend
        self._image = image
        self._backend: Backend | None = None
        self._lock = threading.Lock()

    @property
    def backend(self) -> Backend:
        with self._lock:
            if self._backend is None:
                self._backend = pick_backend(self._requested, self._image)
            return self._backend

    @property
    def backend_name(self) -> str:
        return self.backend.name

    def run(self, cmd: list[str], files: Mapping[str, str | bytes] = {}, stdin: str | bytes = b"",
            limits: Limits = Limits()) -> ExecResult:
        """Run ``cmd`` in a fresh sandbox whose work directory (the cwd) holds ``files``."""
        limits = check_limits(limits)
        cmd = check_cmd(cmd)
        files = check_files(files, limits)
        stdin = to_bytes(stdin, "stdin")
        return self.backend.run(cmd, files, stdin, limits)

    def session(self, limits: Limits = Limits(), files: Mapping[str, str | bytes] = {},
                ro_mounts: Mapping[str, str] = {}) -> Session:
        """One sandbox kept alive across calls; use as a context manager. ``ro_mounts`` maps
        sandbox paths (e.g. ``/opt/repo``) to host directories shown read-only inside it: a
        prepared snapshot the session can copy from without the host copying it each time."""
        limits = check_limits(limits)
        files = check_files(files, limits)
        mounts = check_ro_mounts(ro_mounts)
        if not mounts:  # backends written before ro_mounts keep working
            return self.backend.session(limits, files)
        return self.backend.session(limits, files, ro_mounts=mounts)

    def pool(self, workers: int | None = None, limits: Limits = Limits()):
        """Warm sandboxes for many small programs (bwrap only); see ``assay.sandbox.pool``."""
        from assay.sandbox.pool import SandboxPool

        if self.backend.name != "bwrap":
            raise SandboxUnavailable(f"pooled execution needs the bwrap backend, this Sandbox uses {self.backend.name}")
        return SandboxPool(workers, check_limits(limits))

    def run_many(self, jobs, workers: int | None = None, limits: Limits = Limits()) -> list[ExecResult]:
        """Many small programs through a temporary pool (see ``SandboxPool.run_many``)."""
        with self.pool(workers, limits) as pool:
            return pool.run_many(jobs)
