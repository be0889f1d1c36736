"""The bubblewrap backend: one fresh set of Linux namespaces per run.

What a run gets (see ``_mounts`` and ``launch_argv``):
- New user, pid, net, ipc, uts and cgroup namespaces; ``--disable-userns`` so the program cannot
  make further user namespaces; no capabilities (it runs as uid/gid 1000 inside, which is the
  caller's uid outside: host root when assay runs as root, but with every capability dropped).
- A read-only view of the host runtime: /usr, the /bin /lib* /sbin links, the Python that runs
  assay (``sys.base_prefix``), ``/etc/ld.so.cache``, ``/etc/alternatives`` and
  ``/etc/localtime``. Nothing else of the host: no home directories, no /etc/passwd, no
  repository, no environment (``--clearenv``; PATH, HOME, LANG, TMPDIR only). ``/`` itself is
  remounted read-only.
- Private tmpfs mounts for /work (the cwd, where ``files`` land), /tmp and /dev/shm, each capped
  at ``disk_mb``; a fresh /proc with /proc/sys read-only (without that, uid 0 outside could write
  host sysctls); a minimal read-only /dev (null, zero, full, random, urandom, tty).
- Caps: ``pids.max`` and ``memory.limit_in_bytes`` in per-run cgroup v1 groups the launcher
  joins before it execs bwrap (so nothing escapes them), RLIMIT_CPU per process (whole seconds),
  the wall timer, per-stream output caps. tmpfs pages count against the memory cgroup too.
- End of run: bwrap's pid 1 dies with the launcher (``--die-with-parent``), the kernel kills the
  whole pid namespace, then every task left in the run's cgroups is killed and the groups removed.

Not covered: a kernel exploit; CPU time summed over the tree (RLIMIT_CPU is per process — the
tree is bounded by ``wall_s``); a distinct host uid per run (RLIMIT_NPROC therefore does not
apply as root — the pids cgroup is the process cap); nested user namespaces when bwrap cannot
disable them. Exit statuses 129-192 reported by bwrap are mapped to -(status - 128), as a shell
would, so a program that itself exits 137 reads as killed by SIGKILL.
"""

from __future__ import annotations

import math
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from functools import lru_cache
from pathlib import Path, PurePosixPath

from assay.sandbox import cgroups
from assay.sandbox.backend import SandboxUnavailable, Session
from assay.sandbox.limits import ExecResult, Limits
from assay.sandbox.pump import pump

WORK = "/work"
SANDBOX_UID = 1000
AGENT_DIR = "/.assay"
HERE = Path(__file__).resolve().parent
PID_OVERHEAD = 2  # the bwrap monitor (the launcher exec()s into it) and bwrap's pid 1


def python_bin() -> str:
    """The interpreter that sandboxed ``python3`` resolves to: assay's own, by real path."""
    return str(Path(sys.base_prefix) / "bin")


@lru_cache(maxsize=1)
def _mounts() -> tuple[str, ...]:
    args = ["--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    prefix = os.path.realpath(sys.base_prefix)
    if not prefix.startswith("/usr/"):
        args += ["--ro-bind", prefix, prefix]
        if os.path.realpath(sys.base_prefix) != sys.base_prefix:
            args += ["--ro-bind", sys.base_prefix, sys.base_prefix]
    for etc in ("/etc/ld.so.cache", "/etc/alternatives", "/etc/localtime"):
        if os.path.exists(etc):
            args += ["--ro-bind", etc, etc]
    return tuple(args)


def _env() -> list[str]:
    path = f"{python_bin()}:/usr/local/bin:/usr/bin:/bin"
    env = {"PATH": path, "HOME": "/tmp", "LANG": "C.UTF-8", "TMPDIR": "/tmp"}
    return [a for k, v in env.items() for a in ("--setenv", k, v)]


def bwrap_argv(limits: Limits, extra: list[str] = ()) -> list[str]:
    """bwrap's options up to (not including) the command; ``extra`` adds mounts/files before
    ``/`` turns read-only."""
    size = str(limits.disk_mb << 20)
    args = [
        "bwrap", "--unshare-all", "--unshare-user", "--disable-userns",
        *(["--share-net"] if limits.network else []),
        "--die-with-parent", "--new-session", "--hostname", "sandbox",
        "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID),
        *_mounts(),
        "--proc", "/proc", "--ro-bind", "/proc/sys", "/proc/sys",
        "--dev", "/dev", "--size", size, "--tmpfs", "/dev/shm", "--remount-ro", "/dev",
        "--size", size, "--tmpfs", "/tmp", "--size", size, "--tmpfs", WORK,
        *extra,
        "--remount-ro", "/",
        "--chdir", WORK, "--clearenv", *_env(),
    ]
    return args


# The launcher and bwrap get this environment, not the caller's: bwrap's pid 1 keeps the
# environment it was started with, and /proc/1/environ is readable inside the sandbox.
LAUNCH_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}


def launch_argv(bwrap: list[str], limits: Limits, groups: cgroups.RunGroups | None,
                cpu: bool = True) -> list[str]:
    """``sh -c`` joins the run's cgroups and sets rlimits, then execs bwrap, so bwrap and all it
    starts are born inside the groups (no window in which a fork escapes them). ``cpu=False``
    for a long-lived agent, which sets RLIMIT_CPU per program instead."""
    # ``echo 0 > tasks``: the (single-threaded) shell moves *itself*. Moving another process by
    # pid through ``cgroup.procs`` takes the kernel's global threadgroup lock, whose write side
    # waits for an RCU grace period: 10-20 ms per run on a busy machine. A task moving itself
    # through ``tasks`` skips that lock (kernel/cgroup: cgroup_procs_write_start), and for a
    # process with one thread it is the same move.
    steps = [f"echo 0 > {shlex.quote(str(p))}" for p in (groups.tasks_files if groups else [])]
    cpu_s = max(1, math.ceil(limits.cpu_s))  # soft: SIGXCPU (reported as timed out); hard: SIGKILL
    steps += ["ulimit -c 0"] + ([f"ulimit -S -t {cpu_s}", f"ulimit -H -t {cpu_s + 1}"] if cpu else [])
    if groups is None and cpu:  # no memory/pids cgroup: address-space and per-uid process caps instead
        nproc = limits.pids + PID_OVERHEAD  # bash spells RLIMIT_NPROC -u, dash -p
        steps += [f"ulimit -v {limits.memory_mb << 10}", f"{{ ulimit -u {nproc} 2>/dev/null || ulimit -p {nproc}; }}"]
    script = " && ".join(steps) + ' && exec "$@"'
    return ["/bin/sh", "-c", script, "sh", *bwrap]


def memory_bytes(limits: Limits) -> int:
    return limits.memory_mb << 20


def exit_code_of(rc: int) -> int:
    if rc < 0:
        return rc
    return -(rc - 128) if 128 < rc <= 128 + 64 else rc


def says_memory_error(stderr: bytes) -> bool:
    """Python's own evidence that an allocation was refused: its last stderr line."""
    tail = stderr[-400:].rstrip().rsplit(b"\n", 1)[-1]
    return tail.startswith(b"MemoryError")


class BwrapBackend:
    name = "bwrap"

    def __init__(self) -> None:
        self._checked: str | None | bool = False

    def check(self) -> str | None:
        if self._checked is False:
            self._checked = _check()
        return self._checked  # type: ignore[return-value]

    def _require(self) -> None:
        reason = self.check()
        if reason is not None:
            raise SandboxUnavailable(f"bwrap backend unavailable: {reason}")

    def run(self, cmd: list[str], files: dict[str, bytes], stdin: bytes, limits: Limits) -> ExecResult:
        self._require()
        return run_once(cmd, files, stdin, limits)

    def session(self, limits: Limits, files: dict[str, bytes], ro_mounts: dict[str, str] | None = None) -> Session:
        self._require()
        from assay.sandbox.bwrap_session import BwrapSession

        return BwrapSession(limits, files, ro_mounts or {})


def use_cgroups() -> bool:
    return _cgroup_reason() is None


@lru_cache(maxsize=1)
def _cgroup_reason() -> str | None:
    return cgroups.available()


def _check() -> str | None:
    if sys.platform != "linux":
        return "bubblewrap needs Linux"
    if shutil.which("bwrap") is None:
        return "`bwrap` not found: apt-get install bubblewrap"
    reason = _cgroup_reason()
    if reason is not None and os.geteuid() == 0:
        return (f"running as root but {reason}: without a pids cgroup nothing caps processes "
                "(RLIMIT_NPROC does not bind root); mount cgroup v1 pids+memory or run as a normal user")
    try:
        r = run_once(["/bin/true"], {}, b"", Limits(wall_s=10))
    except OSError as e:
        return f"cannot start bwrap: {e}"
    if r.exit_code != 0:
        err = r.stderr.decode(errors="replace").strip().splitlines()
        why = err[-1] if err else f"exit {r.exit_code}"
        if "namespace" in why.lower() or "permission" in why.lower():
            why += " (user namespaces disabled? sysctl kernel.unprivileged_userns_clone=1 / user.max_user_namespaces>0)"
        return f"bwrap cannot start a sandbox here: {why}"
    return None


def _file_args(files: dict[str, bytes]) -> tuple[list[str], list[int]]:
    """``--file FD DEST`` per file from a memfd, so contents land in the capped tmpfs."""
    args: list[str] = []
    fds: list[int] = []
    dirs: set[str] = set()
    try:
        for name, data in files.items():
            parent = PurePosixPath(name).parent
            chain = []
            while str(parent) != ".":
                chain.append(str(parent))
                parent = parent.parent
            for d in reversed(chain):
                if d not in dirs:
                    dirs.add(d)
                    args += ["--dir", f"{WORK}/{d}"]
            fd = os.memfd_create("assay-file", os.MFD_CLOEXEC)
            fds.append(fd)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.lseek(fd, 0, os.SEEK_SET)
            args += ["--perms", "0755", "--file", str(fd), f"{WORK}/{name}"]
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
    return args, fds


def run_once(cmd: list[str], files: dict[str, bytes], stdin: bytes, limits: Limits) -> ExecResult:
    """One fresh sandbox for one command; returns only after every process and group is gone."""
    start = time.monotonic()
    file_args, fds = _file_args(files)
    groups = None
    proc = None
    try:
        if use_cgroups():
            groups = cgroups.RunGroups.create(limits.pids + PID_OVERHEAD, memory_bytes(limits))
        argv = launch_argv(bwrap_argv(limits, file_args) + ["--", *cmd], limits, groups)
        (in_r, in_w), (out_r, out_w), (err_r, err_w) = os.pipe(), os.pipe(), os.pipe()
        try:
            proc = subprocess.Popen(argv, stdin=in_r, stdout=out_w, stderr=err_w, pass_fds=fds,
                                    start_new_session=True, env=LAUNCH_ENV)
        except BaseException:
            for fd in (in_w, out_r, err_r):
                os.close(fd)
            raise
        finally:
            for fd in (in_r, out_w, err_w, *fds):
                os.close(fd)
            fds = []
        exit_fd = os.pidfd_open(proc.pid)
        try:  # pump closes in_w, out_r, err_r
            got = pump(in_w, out_r, err_r, stdin, limits.output_bytes, start + limits.wall_s, exit_fd)
        finally:
            os.close(exit_fd)
        killed = got.timed_out or got.truncated
        if killed or not got.exited:
            proc.kill()
        rc = proc.wait()
        if groups is not None:
            groups.kill_all()
        code = -signal.SIGKILL if killed else exit_code_of(rc)
        oom = groups.memory_events()[0] > 0 if groups is not None else False
        stderr = bytes(got.err)
        return ExecResult(
            exit_code=code, stdout=bytes(got.out), stderr=stderr, wall_s=time.monotonic() - start,
            timed_out=got.timed_out or code == -signal.SIGXCPU,
            memory_exceeded=oom or (code != 0 and says_memory_error(stderr)),
            output_truncated=got.truncated,
        )
    finally:
        for fd in fds:
            os.close(fd)
        if proc is not None and proc.returncode is None:
            proc.kill()
            proc.wait()
        if groups is not None:
            groups.destroy()
