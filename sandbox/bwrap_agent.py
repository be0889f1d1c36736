"""Host side of a long-lived bwrap sandbox that runs ``agent.py`` (pooled workers, sessions).

The sandbox is the same as a one-shot run's (see ``bwrap_backend``), with its own pids and
memory cgroups, started once; requests go over a pipe. Per request the host sets the cgroup caps,
gives the agent ``wall_s`` plus a grace period to answer, and reads the memory cgroup's OOM
counter before and after. If the agent does not answer in time, answers garbage, or dies (a
program killed it), the whole sandbox is torn down (pid namespace + cgroup kill) and the caller
gets a clean ``ExecResult``; the owner then starts a new one.

The control pipes reach the agent as extra fds, not as bwrap's stdin/stdout: bwrap's pid 1 (the
reaper it puts in the pid namespace) keeps its stdio but closes other fds, and it is dumpable,
so were the pipes its stdio a program could open ``/proc/1/fd/1`` and write forged answer
frames. The agent is non-dumpable and its children close the control fds, so
no program can reach them. As a second guard each request carries a fresh 128-bit id that the
answer must echo; a frame with another id, or any malformed frame, means the stream cannot be
trusted: the sandbox is torn down, and no frame is ever taken as another request's answer.

Sandboxes are started from one long-lived thread: ``--die-with-parent`` is the kernel's
"parent died" signal, which fires when the *thread* that forked bwrap exits, so a sandbox
started from a short-lived worker thread would die with it.
"""

from __future__ import annotations

import json
import os
import secrets
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


def _spawn(argv: list[str], pass_fds: tuple[int, ...]) -> subprocess.Popen:
    global _spawner
    with _spawner_lock:
        if _spawner is None:
            _spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="assay-sandbox-spawner")
    return _spawner.submit(subprocess.Popen, argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, pass_fds=pass_fds, start_new_session=True,
                           env=LAUNCH_ENV).result()


class AgentDied(RuntimeError):
    pass


class AgentSandbox:
    """One bwrap sandbox with an agent in it. Not thread-safe: one request at a time."""

    def __init__(self, limits: Limits, mode: str, extra_binds: list[str] = ()) -> None:
        self.limits = limits
        self.mode = mode
        self.proc: subprocess.Popen | None = None
        self._to_agent: int | None = None  # write end of the request pipe
        self._from_agent: int | None = None  # read end of the answer pipe
        self.groups = cgroups.RunGroups.create(limits.pids + PID_OVERHEAD + 1, memory_bytes(limits) + AGENT_MEMORY) \
            if use_cgroups() else None
        self._caps = (limits.pids, limits.memory_mb)
        extra = ["--ro-bind", str(HERE / "agent.py"), f"{AGENT_DIR}/agent.py",
                 "--ro-bind", str(HERE / "pump.py"), f"{AGENT_DIR}/pump.py", *extra_binds]
        try:
            self.proc = self._start(limits, extra, mode)
            header, _ = self._recv(time.monotonic() + START_TIMEOUT_S, None)
            if not header.get("ready"):
                raise AgentDied(f"agent did not start: {header}")
        except BaseException:
            self.close()
            raise

    def _start(self, limits: Limits, extra: list[str], mode: str) -> subprocess.Popen:
        """Start bwrap with the control pipes on extra fds (never its stdio, see the module doc)."""
        (req_r, self._to_agent), (self._from_agent, ans_w) = os.pipe(), os.pipe()
        try:
            cmd = [str(Path(python_bin()) / "python3"), "-I", "-S", "-B", f"{AGENT_DIR}/agent.py",
                   mode, str(req_r), str(ans_w)]
            argv = launch_argv(bwrap_argv(limits, extra) + ["--", *cmd], limits, self.groups, cpu=False)
            return _spawn(argv, (req_r, ans_w))
        finally:
            os.close(req_r)
            os.close(ans_w)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # -- framing -------------------------------------------------------------------------
    def _send(self, header: dict, blobs: list[bytes]) -> None:
        data = json.dumps(dict(header, blobs=[len(b) for b in blobs])).encode()
        try:
            for chunk in (HDR.pack(len(data)) + data, *blobs):
                view = memoryview(chunk)
                while view:
                    view = view[os.write(self._to_agent, view):]
        except BrokenPipeError as e:
            raise AgentDied("sandbox agent is gone") from e

    def _read_exact(self, n: int, deadline: float) -> bytes:
        fd = self._from_agent
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

    def _recv(self, deadline: float, request_id: str | None) -> tuple[dict, list[bytes]]:
        """One answer frame; its id is checked before its blob sizes are trusted."""
        size = HDR.unpack(self._read_exact(HDR.size, deadline))[0]
        if size > 1 << 20:
            raise AgentDied("malformed answer from sandbox agent")
        try:
            header = json.loads(self._read_exact(size, deadline))
        except ValueError as e:
            raise AgentDied("malformed answer from sandbox agent") from e
        if not isinstance(header, dict) or header.get("id") != request_id:
            raise AgentDied("answer from sandbox agent does not match the request (forged or out of step)")
        sizes = header.pop("blobs", [])
        if not isinstance(sizes, list) or not all(type(n) is int and n >= 0 for n in sizes):
            raise AgentDied("malformed answer from sandbox agent")
        return header, [self._read_exact(n, deadline) for n in sizes]

    def request(self, header: dict, blobs: list[bytes], wait_s: float) -> tuple[dict, list[bytes]]:
        """Send one request and read its answer. On any failure the stream may be out of step, so
        the agent is killed (``alive`` turns false; cgroups stay readable until ``close``)."""
        if not self.alive:
            raise AgentDied("sandbox agent is gone")
        request_id = secrets.token_hex(16)
        try:
            self._send(dict(header, id=request_id), blobs)
            return self._recv(time.monotonic() + wait_s, request_id)
        except BaseException:
            self.proc.kill()
            self.proc.wait()
            raise

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
        for fd in (self._to_agent, self._from_agent):
            if fd is not None:
                os.close(fd)
        self._to_agent = self._from_agent = None
        if self.groups is not None:
            self.groups.destroy()
            self.groups = None
        self.proc = None
