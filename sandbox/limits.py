"""The values of the sandbox contract: what a run may use (Limits) and what it did (ExecResult)."""

from __future__ import annotations

from dataclasses import dataclass

# Upper bounds that no sane verifier needs; beyond them a value is a bug in the caller.
_MAX_WALL_S = 24 * 3600
_MAX_MEMORY_MB = 1 << 20  # 1 TiB
_MAX_PIDS = 1 << 16
_MAX_OUTPUT = 1 << 34  # 16 GiB
_MAX_DISK_MB = 1 << 20


@dataclass(frozen=True)
class Limits:
    """Caps for one run. Each backend enforces every field, but not every field the same way or
    over the same scope (each backend's docstring says how):

    - ``wall_s`` bounds the whole process tree: everything is killed at the limit.
    - ``cpu_s`` is **per process**: ``RLIMIT_CPU``, rounded up to whole seconds (SIGXCPU at the
      soft limit, SIGKILL one second later). A tree of processes can use more CPU in total; the
      tree as a whole is bounded only by ``wall_s``.
    - ``memory_mb`` caps the run's memory cgroup (tmpfs pages included) where one is available,
      otherwise each process's address space (``RLIMIT_AS``; bwrap without cgroups).
    - ``pids`` caps processes + threads alive at once (pids cgroup; ``RLIMIT_NPROC`` for bwrap
      without cgroups, which counts the caller's uid host-wide).
    - ``output_bytes`` is per stream; ``disk_mb`` caps each private tmpfs (/work, /tmp, /dev/shm).
    - ``network=False`` means no network at all, loopback inside the sandbox excepted.

    Sessions and pools fix ``disk_mb`` and ``network`` (and, for Docker sessions, ``memory_mb``
    and ``pids``) when they start; a call's other limits apply per call."""

    wall_s: float = 10.0  # wall-clock time; the whole process tree is killed at the limit
    cpu_s: float = 10.0  # CPU seconds per process (RLIMIT_CPU); the tree is bounded by wall_s
    memory_mb: int = 1024  # memory cgroup limit (address space per process without cgroups)
    pids: int = 64  # processes + threads the run may have at once
    output_bytes: int = 1 << 20  # per stream (stdout, stderr); the rest is dropped, flagged truncated
    disk_mb: int = 256  # size of the private writable work directory
    network: bool = False

    def __post_init__(self) -> None:
        checks = [
            ("wall_s", self.wall_s, 0, _MAX_WALL_S),
            ("cpu_s", self.cpu_s, 0, _MAX_WALL_S),
            ("memory_mb", self.memory_mb, 16, _MAX_MEMORY_MB),
            ("pids", self.pids, 1, _MAX_PIDS),
            ("output_bytes", self.output_bytes, 0, _MAX_OUTPUT),
            ("disk_mb", self.disk_mb, 1, _MAX_DISK_MB),
        ]
        for name, value, low, high in checks:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
                raise ValueError(f"Limits.{name} must be a number, got {value!r}")
            if not low <= value <= high or (name in ("wall_s", "cpu_s") and value == 0):
                raise ValueError(f"Limits.{name}={value!r} is out of range: use a value in ({low}, {high}]")
        for name in ("memory_mb", "pids", "output_bytes", "disk_mb"):
            if not isinstance(getattr(self, name), int):
                raise ValueError(f"Limits.{name} must be an int, got {getattr(self, name)!r}")
        if not isinstance(self.network, bool):
            raise ValueError(f"Limits.network must be True or False, got {self.network!r}")


@dataclass(frozen=True)
class ExecResult:
    """What one run did. ``exit_code`` is negative (-signal) when the process was killed by a signal."""

    exit_code: int
    stdout: bytes
    stderr: bytes
    wall_s: float
    timed_out: bool = False
    memory_exceeded: bool = False
    output_truncated: bool = False

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not (self.timed_out or self.memory_exceeded)

    def text(self, stream: str = "stdout") -> str:
        """A stream decoded as UTF-8 with replacement (model programs print anything)."""
        return getattr(self, stream).decode("utf-8", errors="replace")
