"""Host side of a long-lived bwrap sandbox that runs ``agent.py`` (pooled workers, sessions).

The sandbox is the same as a one-shot run's (see ``bwrap_backend``), with its own pids and
memory cgroups, started once; requests go over a pipe. Per request the host sets the cgroup caps,
gives the agent ``wall_s`` plus a grace period to answer, and reads the memory cgroup's OOM
counter before and after. If the agent does not answer in time, answers garbage, or dies (a
program killed it), the whole sandbox is torn down (pid namespace + cgroup kill) and the caller
gets a clean ``ExecResult``; the owner then starts a new one.

Sandboxes are started from one long-lived thread: ``--die-with-parent`` is the kernel's
"parent died" signal, which fires when the *thread* that forked bwrap exits, so a sandbox
started from a short-lived worker thread would die with it.
"""

from __future__ import annotations

import json
import os
import select
import struct
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from assay.sandbox import cgroups
from assay.sandbox.bwrap_backend import (
    AGENT_DIR, HERE, LAUNCH_ENV, PID_OVERHEAD, bwrap_argv, launch_argv, memory_bytes, python_bin,
    says_memory_error, use_cgroups,
)
from assay.sandbox.limits import ExecResult, Limits

HDR = struct.Struct(">I")
AGENT_MEMORY = 48 << 20  # the agent's own resident memory, charged to the same cgroup
GRACE_S = 2.0  # beyond wall_s, how long the agent may take to kill, reap and wipe
START_TIMEOUT_S = 30.0

_spawner: ThreadPoolExecutor | None = None
_spawner_lock = threading.Lock()


def _spawn(argv: list[str]) -> subprocess.Popen:
    global _spawner
    with _spawner_lock:
        if _spawner is None:
            _spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="assay-sandbox-spawner")
    return _spawner.submit(subprocess.Popen, argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, start_new_session=True, env=LAUNCH_ENV).result()


class AgentDied(RuntimeError):
    pass


class AgentSandbox:
    """One bwrap sandbox with an agent in it. Not thread-safe: one request at a time."""

    def __init__(self, limits: Limits, mode: str) -> None:
        self.limits = limits
        self.mode = mode
        self.proc: subprocess.Popen | None = None
        self.groups = cgroups.RunGroups.create(limits.pids + PID_OVERHEAD + 1, memory_bytes(limits) + AGENT_MEMORY) \
            if use_cgroups() else None
        self._caps = (limits.pids, limits.memory_mb)
        extra = ["--ro-bind", str(HERE / "agent.py"), f"{AGENT_DIR}/agent.py",
                 "--ro-bind", str(HERE / "pump.py"), f"{AGENT_DIR}/pump.py"]
        cmd = [str(Path(python_bin()) / "python3"), "-I", "-S", "-B", f"{AGENT_DIR}/agent.py", mode]
        argv = launch_argv(bwrap_argv(limits, extra) + ["--", *cmd], limits, self.groups, cpu=False)
        try:
            self.proc = _spawn(argv)
            header, _ = self._recv(time.monotonic() + START_TIMEOUT_S)
            if not header.get("ready"):
                raise AgentDied(f"agent did not start: {header}")
        except BaseException:
            self.close()
            raise

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # -- framing -------------------------------------------------------------------------
    def _send(self, header: dict, blobs: list[bytes]) -> None:
        data = json.dumps(dict(header, blobs=[len(b) for b in blobs])).encode()
        try:
            self.proc.stdin.write(HDR.pack(len(data)) + data)
            for blob in blobs:
                self.proc.stdin.write(blob)
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError) as e:
            raise AgentDied("sandbox agent is gone") from e

    def _read_exact(self, n: int, deadline: float) -> bytes:
        fd = self.proc.stdout.fileno()
        parts = []
        while n:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError
            chunk = os.read(fd, min(n, 1 << 20))
            if not chunk:
                raise AgentDied("sandbox agent exited")
            parts.append(chunk)
            n -= len(chunk)
        return b"".join(parts)

    def _recv(self, deadline: float) -> tuple[dict, list[bytes]]:
        size = HDR.unpack(self._read_exact(HDR.size, deadline))[0]
        if size > 1 << 20:
            raise AgentDied("malformed answer from sandbox agent")
        header = json.loads(self._read_exact(size, deadline))
        blobs = [self._read_exact(n, deadline) for n in header.pop("blobs", [])]
        return header, blobs

    def request(self, header: dict, blobs: list[bytes], wait_s: float) -> tuple[dict, list[bytes]]:
        if not self.alive:
            raise AgentDied("sandbox agent is gone")
        self._send(header, blobs)
        return self._recv(time.monotonic() + wait_s)

    # -- operations ----------------------------------------------------------------------
    def run(self, cmd: list[str] | None, code: str | None, files: dict[str, bytes], stdin: bytes,
            limits: Limits) -> ExecResult:
        start = time.monotonic()
        if self.groups is not None and self._caps != (limits.pids, limits.memory_mb):
            self.groups.set_limits(limits.pids + PID_OVERHEAD + 1, memory_bytes(limits) + AGENT_MEMORY)
            self._caps = (limits.pids, limits.memory_mb)
        oom_before = self.groups.memory_events()[0] if self.groups is not None else 0
        req = {"op": "run", "cmd": cmd, "code": code, "files": list(files),
               "limits": {"wall_s": limits.wall_s, "cpu_s": limits.cpu_s, "output_bytes": limits.output_bytes,
                          "address_space": None if self.groups is not None else memory_bytes(limits)}}
        try:
            header, blobs = self.request(req, [stdin, *files.values()], limits.wall_s + GRACE_S)
            if "error" in header:
                raise AgentDied(header["error"])
        except TimeoutError:
            self.close()
            return ExecResult(-9, b"", b"", time.monotonic() - start, timed_out=True)
        except (AgentDied, ValueError, KeyError):
            # the program took the agent down with it (e.g. killed its parent): same outcome
            # for the caller as a killed program; the sandbox is gone and will be replaced
            oom = self.groups is not None and self.groups.memory_events()[0] > oom_before
            self.close()
            return ExecResult(-9, b"", b"", time.monotonic() - start, memory_exceeded=oom)
        out, err = blobs
        oom = self.groups is not None and self.groups.memory_events()[0] > oom_before
        code_ = header["exit_code"]
        return ExecResult(
            exit_code=code_, stdout=out, stderr=err, wall_s=time.monotonic() - start,
            timed_out=header["timed_out"] or code_ == -24,  # SIGXCPU: RLIMIT_CPU reached
            memory_exceeded=oom or (code_ != 0 and says_memory_error(err)),
            output_truncated=header["truncated"],
        )

    def read_file(self, path: str) -> bytes:
        header, blobs = self.request({"op": "read", "path": path}, [], 30.0)
        if "error" in header:
            raise FileNotFoundError(f"{path}: {header['error']}")
        return blobs[0]

    def write_file(self, path: str, data: bytes) -> None:
        header, _ = self.request({"op": "write", "path": path}, [data], 30.0)
        if "error" in header:
            raise OSError(f"{path}: {header['error']}")

    def close(self) -> None:
        proc = getattr(self, "proc", None)
        if proc is not None:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            for f in (proc.stdin, proc.stdout):
                try:
                    f.close()
                except OSError:
                    pass
        if self.groups is not None:
            self.groups.destroy()
            self.groups = None
        self.proc = None
