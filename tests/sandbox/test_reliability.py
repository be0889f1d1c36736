"""Reliability: many runs leave nothing behind, and many threads get correct answers."""

from __future__ import annotations

import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from assay.sandbox import Limits
from tests.sandbox.conftest import leftovers


def _mounts() -> int:
    return len(Path("/proc/self/mountinfo").read_text().splitlines())


def _temp_entries() -> set[str]:
    dirs = [Path(tempfile.gettempdir()), Path("/dev/shm"), Path(f"/run/user/{os.getuid()}")]
    return {str(p) for d in dirs if d.is_dir() for p in d.iterdir()
            if any(k in p.name for k in ("bwrap", "bubblewrap", "assay-sandbox", "assay-run"))}


def test_1000_timing_out_runs_leave_nothing_behind(sandbox):
    mounts, temps, before = _mounts(), _temp_entries(), leftovers()
    lim = Limits(wall_s=0.05)
    for _ in range(1000):
        r = sandbox.run(["sleep", "10"], limits=lim)
        assert r.timed_out and r.exit_code == -9
    assert leftovers() == before
    assert _mounts() == mounts
    assert _temp_entries() == temps


def test_200_concurrent_runs_from_16_threads_are_correct(sandbox):
    def one(i: int):
        r = sandbox.run(["sh", "-c", 'read x; echo $((x * 3)) "$1"; cat in.txt', "sh", f"arg{i}"],
                        files={"in.txt": f"file{i}"}, stdin=f"{i}\n", limits=Limits(wall_s=30))
        return r.exit_code, r.stdout

    with ThreadPoolExecutor(16) as ex:
        results = list(ex.map(one, range(200)))
    assert results == [(0, f"{3 * i} arg{i}\nfile{i}".encode()) for i in range(200)]
