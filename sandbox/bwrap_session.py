"""A bwrap session: one sandbox kept alive across ``run``/``read_file``/``write_file`` calls.

Files in /work persist between calls (that is the point of a session). Processes do not: after
each ``run`` every process the command left behind is killed, so a call cannot leave a daemon
running into the next one. ``disk_mb`` and ``network`` are fixed when the session opens; the
other limits may be given per ``run``. The sandbox dies with the caller (``--die-with-parent``)
and on ``close``/``__exit__``.
"""

from __future__ import annotations

import threading

from assay.sandbox.bwrap_agent import AgentSandbox
from assay.sandbox.limits import ExecResult, Limits
from assay.sandbox.validate import check_cmd, check_path, check_session_limits, to_bytes


class BwrapSession:
    def __init__(self, limits: Limits, files: dict[str, bytes], ro_mounts: dict[str, str] | None = None) -> None:
        self.limits = limits
        self._lock = threading.Lock()
        binds = [a for dest, src in (ro_mounts or {}).items() for a in ("--ro-bind", src, dest)]
        self._box: AgentSandbox | None = AgentSandbox(limits, mode="session", extra_binds=binds)
        try:
            for path, data in files.items():
                self._box.write_file(path, data)
        except BaseException:
            self.close()
            raise

    def _sandbox(self) -> AgentSandbox:
        if self._box is None:
            raise RuntimeError("session is closed")
        if not self._box.alive:
            raise RuntimeError("session sandbox died (a program killed its agent); open a new session")
        return self._box

    def run(self, cmd: list[str], stdin: bytes | str = b"", limits: Limits | None = None) -> ExecResult:
        limits = check_session_limits(limits or self.limits, self.limits)
        cmd, stdin = check_cmd(cmd), to_bytes(stdin, "stdin")
        with self._lock:
            return self._sandbox().run(cmd, None, {}, stdin, limits)

    def read_file(self, path: str) -> bytes:
        path = check_path(path)
        with self._lock:
            return self._sandbox().read_file(path)

    def write_file(self, path: str, data: bytes | str) -> None:
        path, data = check_path(path), to_bytes(data, "data")
        with self._lock:
            self._sandbox().write_file(path, data)

    def close(self) -> None:
        with self._lock:
            if self._box is not None:
                self._box.close()
                self._box = None

    def __enter__(self) -> BwrapSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
