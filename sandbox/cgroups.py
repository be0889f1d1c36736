"""Per-run cgroup v1 groups: a pids cap and a memory cap with an honest OOM record.

Covers: creating a ``pids`` and a ``memory`` child group under the caller's own groups (read
from ``/proc/self/cgroup``), setting ``pids.max`` and ``memory.limit_in_bytes`` (and
``memory.memsw.limit_in_bytes`` so swap cannot stretch the cap), reading the OOM/fail counters,
killing every task in the group, and removing the groups.
Does not cover: cgroup v2 (unified hierarchy) — on a v2-only host :func:`available` says so and
the backend refuses to claim a pid cap as root (see ``bwrap_backend``); CPU shares or I/O weight.
"""

from __future__ import annotations

import itertools
import math
import os
import secrets
import select
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
PREFIX = "assay-"  # every group this module makes is named assay-<host pid>-<process token>-<n>
# A SIGKILLed process leaves its groups behind; a later process that gets the same pid must not
# collide with them (mkdir failed with FileExistsError) or count them as its own leftovers.
_TOKEN = secrets.token_hex(4)
_counter = itertools.count()
_reaped = False
_lock = threading.Lock()
KILL_TIMEOUT_S = 1.0  # how long killed tasks may take to exit before we give up on a group


def _own_path(controller: str) -> Path | None:
    """The caller's group for a v1 controller, e.g. /sys/fs/cgroup/memory/process_api/<id>."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, rel = line.split(":", 2)
        if controller in controllers.split(","):
            path = ROOT / controller / rel.lstrip("/")
            return path if path.is_dir() else None
    return None


def available() -> str | None:
    """None when per-run pids and memory groups can be made here; otherwise why not."""
    for controller, probe in (("pids", "pids.max"), ("memory", "memory.limit_in_bytes")):
        base = _own_path(controller)
        if base is None:
            return f"no cgroup v1 '{controller}' controller mounted under {ROOT}"
        try:
            group = _make(base)
        except OSError as e:
            return f"cannot create a '{controller}' cgroup under {base} ({e.strerror}); run as root"
        ok = (group / probe).exists()
        _remove(group)
        if not ok:
            return f"cgroup {group} has no {probe}"
    return None


def _make(base: Path) -> Path:
    global _reaped
    with _lock:
        n = next(_counter)
        first, _reaped = not _reaped, True
    if first:
        reap_stale(base)
    group = base / f"{PREFIX}{os.getpid()}-{_TOKEN}-{n}"
    group.mkdir()
    return group


def reap_stale(base: Path) -> int:
    """Remove the empty groups of processes that no longer run (left by SIGKILLed owners);
    returns how many. A group with live tasks, or of a running pid, is never touched."""
    removed = 0
    for group in base.glob(f"{PREFIX}*"):
        pid = group.name[len(PREFIX):].split("-", 1)[0]
        if not pid.isdigit() or _alive(int(pid)):
            continue
        try:
            group.rmdir()  # fails while tasks remain: then it is not ours to clean
            removed += 1
        except OSError:
            pass
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _backoff(attempts: int = 60):
    """Sleeps of 0.1 ms doubling to 20 ms, about 1 s in all: tasks killed a moment ago are
    usually gone within a millisecond."""
    delay = 1e-4
    for _ in range(attempts):
        yield
        time.sleep(delay)
        delay = min(delay * 2, 0.02)


def _remove(group: Path) -> bool:
    for _ in _backoff():
        try:
            group.rmdir()
            return True
        except FileNotFoundError:
            return True
        except OSError:  # EBUSY: a task is still exiting
            kill_tasks(group)
    return False


def _listed(group: Path) -> set[int]:
    try:
        return {int(p) for p in (group / "cgroup.procs").read_text().split()}
    except (OSError, ValueError):
        return set()


def kill_and_wait(groups: list[Path], timeout: float = KILL_TIMEOUT_S) -> bool:
    """SIGKILL every process in ``groups`` and block until each has exited; False if some were
    still listed at the deadline.

    Waits on pidfds instead of sleep-polling: a pidfd turns readable once its process has exited,
    and by then the kernel has taken it out of its cgroups, so the groups can be removed at once.
    Rounds repeat until the groups list nobody (a process may fork between the read and the
    kill). Each pid is re-checked against the groups *after* its pidfd is open, so a recycled pid
    number never gets a signal meant for a process of the run: the pidfd pins the process, and if
    the number is still listed then, the pinned process is the listed one.
    """
    deadline = time.monotonic() + timeout
    while True:
        listed = set().union(*map(_listed, groups))
        if not listed:
            return True
        if time.monotonic() >= deadline:
            return False
        fds: dict[int, int] = {}
        try:
            no_fd = []
            for pid in listed:
                try:
                    fds[pid] = os.pidfd_open(pid)
                except ProcessLookupError:  # exited since the read
                    pass
                except OSError:  # out of fds (a huge fork bomb): plain kill, waited for next round
                    no_fd.append(pid)
            still = set().union(*map(_listed, groups))
            for pid in still.intersection(no_fd):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            poller = select.poll()  # not select(): the caller's fds may be numbered past 1024
            waiting = 0
            for pid, fd in fds.items():
                if pid in still:
                    try:
                        signal.pidfd_send_signal(fd, signal.SIGKILL)
                    except ProcessLookupError:
                        continue
                    poller.register(fd, select.POLLIN)
                    waiting += 1
            while waiting and (left := deadline - time.monotonic()) > 0:
                for fd, _ in poller.poll(math.ceil(left * 1e3)):
                    poller.unregister(fd)
                    waiting -= 1
            if no_fd and not waiting:
                time.sleep(0.001)  # only plain kills this round: do not spin while they exit
        finally:
            for fd in fds.values():
                os.close(fd)


def kill_tasks(group: Path) -> int:
    """SIGKILL every task in ``group`` without waiting; returns how many were still listed."""
    pids = _listed(group)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return len(pids)


def _read_int(path: Path, default: int = 0) -> int:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return default


@dataclass
class RunGroups:
    """One run's pids + memory groups. ``tasks_files`` are written by the launcher (see
    bwrap_backend) so every process of the run is born inside them."""

    pids: Path
    memory: Path

    @classmethod
    def create(cls, pids_max: int, memory_bytes: int) -> RunGroups:
        pids_base, mem_base = _own_path("pids"), _own_path("memory")
        if pids_base is None or mem_base is None:
            raise OSError("cgroup v1 pids/memory controllers not available")
        pids = _make(pids_base)
        try:
            memory = _make(mem_base)
        except OSError:
            _remove(pids)
            raise
        groups = cls(pids, memory)
        try:
            groups.set_limits(pids_max, memory_bytes)
        except OSError:
            groups.destroy()
            raise
        return groups

    @property
    def tasks_files(self) -> list[Path]:
        """Where a launcher writes ``0`` to move itself in (see ``bwrap_backend.launch_argv``)."""
        return [self.pids / "tasks", self.memory / "tasks"]

    def set_limits(self, pids_max: int, memory_bytes: int) -> None:
        (self.pids / "pids.max").write_text(str(pids_max))
        limit = self.memory / "memory.limit_in_bytes"
        memsw = self.memory / "memory.memsw.limit_in_bytes"
        # memsw must stay >= limit at every moment: raise memsw first, lower limit first
        order = [limit, memsw] if memory_bytes <= _read_int(limit) else [memsw, limit]
        for path in order:
            if path.exists():
                path.write_text(str(memory_bytes))

    def memory_events(self) -> tuple[int, int]:
        """(OOM kills, times the limit was hit) so far; compare before/after a program."""
        oom = 0
        try:
            for line in (self.memory / "memory.oom_control").read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    oom = int(value)
        except (OSError, ValueError):
            pass
        return oom, _read_int(self.memory / "memory.failcnt")

    def kill_all(self) -> bool:
        """Kill every process of the run and wait until all have exited (see ``kill_and_wait``)."""
        return kill_and_wait([self.pids, self.memory])

    def destroy(self) -> bool:
        """Kill what is left and remove both groups; False if a group could not be removed."""
        self.kill_all()
        return _remove(self.pids) & _remove(self.memory)


def leftover_groups() -> list[Path]:
    """Groups made by this process that still exist (tests count them)."""
    found = []
    for controller in ("pids", "memory"):
        base = _own_path(controller)
        if base is not None:
            found += sorted(base.glob(f"{PREFIX}{os.getpid()}-{_TOKEN}-*"))
    return found
