"""The seam between ``Sandbox`` and the isolation mechanisms (bubblewrap, Docker).

A backend runs one command in a fresh isolated environment with the given files in its work
directory, or opens a :class:`Session` that stays alive across calls. Input validation happens
once, in ``Sandbox``; a backend may assume ``cmd``/``files``/``stdin``/``limits`` are valid.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from assay.sandbox.limits import ExecResult, Limits


class SandboxUnavailable(RuntimeError):
    """No working backend (or not the one asked for); the message says how to fix it."""


@runtime_checkable
class Session(Protocol):
    """One sandbox kept alive for a multi-turn agent. Files persist between calls."""

    def run(self, cmd: list[str], stdin: bytes = b"", limits: Limits | None = None) -> ExecResult: ...

    def read_file(self, path: str) -> bytes: ...

    def write_file(self, path: str, data: bytes) -> None: ...

    def close(self) -> None: ...

    def __enter__(self) -> Session: ...

    def __exit__(self, *exc: object) -> None: ...


@runtime_checkable
class Backend(Protocol):
    name: str

    def check(self) -> str | None:
        """None when this backend works here; otherwise why not and how to fix it (one line)."""
        ...

    def run(self, cmd: list[str], files: dict[str, bytes], stdin: bytes, limits: Limits) -> ExecResult: ...

    def session(self, limits: Limits, files: dict[str, bytes], ro_mounts: dict[str, str] | None = None) -> Session:
        """``ro_mounts``: sandbox path -> host directory, mounted read-only (validated by ``Sandbox``)."""
        ...
