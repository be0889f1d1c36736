"""The one-shot launcher and cgroup teardown: every process of a run is born inside its cgroups,
rlimits reach the program, and a killed run's groups are empty (removable) when ``kill_all``
returns. One property per test."""

from __future__ import annotations

import os
import resource
import subprocess
import threading
import time
from pathlib import Path

import pytest

from assay.sandbox import Limits
from tests.sandbox.conftest import PY, children_of

RLIMITS = "import resource as r; print(*(r.getrlimit(getattr(r, 'RLIMIT_' + n)) for n in ('CPU', 'CORE', 'AS', 'NPROC')))"


@pytest.fixture
def cgroups_or_skip(bwrap_ready):
    from assay.sandbox.bwrap_backend import use_cgroups

    if not use_cgroups():
        pytest.skip("no cgroup v1 pids+memory controllers here")


def _tasks(group: Path) -> set[int]:
    return {int(p) for p in (group / "tasks").read_text().split()}


def test_every_process_of_a_run_is_inside_its_pids_and_memory_groups(sandbox, cgroups_or_skip):
    from assay.sandbox.cgroups import leftover_groups

    seen: dict = {}
    others = set(children_of(os.getpid()))  # long-lived helpers of other suites (math workers)
    live = set(leftover_groups())  # groups of warm pools other tests keep (e.g. a shared verifier's)

    def look() -> None:
        time.sleep(0.7)  # the run below is sleeping by then, with two background children
        groups = [g for g in leftover_groups() if g not in live]
        seen["groups"] = groups
        seen["tasks"] = [_tasks(g) for g in groups]
        seen["descendants"] = set(children_of(os.getpid())) - others

    watcher = threading.Thread(target=look)
    watcher.start()
    r = sandbox.run(["sh", "-c", "sleep 2 & sleep 2 & wait; echo done"], limits=Limits(wall_s=10))
    watcher.join()
    assert r.stdout == b"done\n"
    assert len(seen["groups"]) == 2  # one pids and one memory group for this run
    # the bwrap monitor, its pid 1, sh and both sleeps: nothing of the run is outside either group
    assert len(seen["descendants"]) >= 5
    for tasks in seen["tasks"]:
        assert seen["descendants"] <= tasks


def test_kill_all_returns_only_when_every_task_is_gone(cgroups_or_skip):
    from assay.sandbox import cgroups
    from assay.sandbox.bwrap_backend import LAUNCH_ENV, launch_argv

    groups = cgroups.RunGroups.create(16, 64 << 20)
    try:
        argv = launch_argv(["sh", "-c", "sleep 30 & sleep 30 & exec sleep 30"], Limits(), groups)
        proc = subprocess.Popen(argv, env=LAUNCH_ENV, start_new_session=True)
        deadline = time.monotonic() + 5
        while len(_tasks(groups.pids)) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(_tasks(groups.pids)) == 3 and _tasks(groups.pids) == _tasks(groups.memory)
        assert groups.kill_all()
        assert _tasks(groups.pids) == set() and _tasks(groups.memory) == set()
        groups.pids.rmdir()  # no EBUSY retry needed: the groups are empty right away
        groups.memory.rmdir()
        assert proc.wait(timeout=5) == -9
    finally:
        groups.destroy()


@pytest.mark.parametrize("with_cgroups", [True, False])
def test_launcher_sets_the_rlimits_the_program_sees(bwrap_ready, with_cgroups):
    from assay.sandbox import cgroups
    from assay.sandbox.bwrap_backend import LAUNCH_ENV, PID_OVERHEAD, launch_argv, use_cgroups

    if with_cgroups and not use_cgroups():
        pytest.skip("no cgroup v1 pids+memory controllers here")
    lim = Limits(cpu_s=2.5, memory_mb=300, pids=20)
    groups = cgroups.RunGroups.create(lim.pids + PID_OVERHEAD, lim.memory_mb << 20) if with_cgroups else None
    try:
        out = subprocess.run(launch_argv([PY, "-c", RLIMITS], lim, groups), env=LAUNCH_ENV,
                             capture_output=True, timeout=30)
    finally:
        if groups is not None:
            groups.destroy()
    assert out.returncode == 0, out.stderr
    if with_cgroups:  # memory and processes are capped by the groups; these stay the caller's
        address_space, nproc = resource.getrlimit(resource.RLIMIT_AS), resource.getrlimit(resource.RLIMIT_NPROC)
    else:  # the fallback caps (RLIMIT_NPROC: bash spells it -u, dash -p)
        address_space, nproc = (lim.memory_mb << 20,) * 2, (lim.pids + PID_OVERHEAD,) * 2
    expect = [(3, 4), (0, 0), address_space, nproc]  # cpu_s rounded up; SIGKILL one second later
    assert out.stdout.decode().strip().split(") (") == " ".join(map(str, expect)).split(") (")


def test_groups_a_killed_process_left_are_reaped_and_a_reused_pid_cannot_collide(cgroups_or_skip):
    from assay.sandbox import cgroups

    base = cgroups._own_path("pids")
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = [base / f"{cgroups.PREFIX}{dead.pid}-0", base / f"{cgroups.PREFIX}{dead.pid}-0123abcd-3"]
    live = base / f"{cgroups.PREFIX}{os.getpid()}-feedface-0"  # a running pid's group is never touched
    for g in stale + [live]:
        g.mkdir()
    try:
        assert cgroups.reap_stale(base) >= 2
        assert not any(g.exists() for g in stale) and live.exists()
    finally:
        for g in stale + [live]:
            if g.exists():
                g.rmdir()
    groups = cgroups.RunGroups.create(16, 64 << 20)
    try:  # names carry a per-process token: a later process with this pid makes different names
        assert groups.pids.name.startswith(f"{cgroups.PREFIX}{os.getpid()}-{cgroups._TOKEN}-")
    finally:
        assert groups.destroy()
