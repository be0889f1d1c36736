"""Fixtures for the sandbox suite: a bwrap ``Sandbox`` (skips, or fails under ASSAY_REQUIRE_ALL=1,
when bubblewrap is missing) and helpers that look for anything a run left behind on the host."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.conftest import missing_dependency, require_binary

PY = str(Path(sys.base_prefix) / "bin" / "python3")  # what `python3` is inside the sandbox


def children_of(pid: int) -> list[int]:
    """Every live (non-zombie) descendant of ``pid``, from a /proc scan."""
    parent: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z":
            parent[int(entry)] = int(fields[1])
    found, frontier = [], [pid]
    while frontier:
        p = frontier.pop()
        kids = [c for c, pp in parent.items() if pp == p]
        found += kids
        frontier += kids
    return found


def leftovers() -> dict:
    """Our live descendants and assay cgroups. Compare against a snapshot taken before the runs:
    other suites' long-lived helpers (e.g. the math verifier's worker processes, children of
    this pytest process) are not a sandbox's leftovers."""
    from assay.sandbox.cgroups import leftover_groups

    return {"processes": sorted(children_of(os.getpid())), "cgroups": leftover_groups()}


@pytest.fixture(scope="session")
def bwrap_ready() -> None:
    require_binary("bwrap")
    from assay.sandbox.bwrap_backend import BwrapBackend

    reason = BwrapBackend().check()
    if reason is not None:
        missing_dependency(f"bwrap backend unavailable: {reason}")


@pytest.fixture
def sandbox(bwrap_ready):
    from assay.sandbox import Sandbox

    box = Sandbox("bwrap")
    before = leftovers()
    yield box
    assert leftovers() == before, "a run left something behind"


def assert_clean(result, limits) -> None:
    """An attack ended as a proper ExecResult within wall_s + 1 s."""
    from assay.sandbox import ExecResult

    assert isinstance(result, ExecResult)
    assert result.wall_s <= limits.wall_s + 1.0, result
