"""The task generator: each AST mutation kind edits exactly its span, and ``make_tasks`` turns a
tiny real-shaped sdist into validated tasks (gold resolves, unpatched fails)."""

from __future__ import annotations

import ast
import io
import tarfile

from assay.envs.swe.generate import GenConfig, make_tasks
from assay.envs.swe.mutations import KINDS, candidates, sample
from assay.verifiers.swe.grader import grade
from tests.verifiers.swe.conftest import bwrap_runtime, swe_cache  # noqa: F401 (fixtures)

SOURCE = '''\
def clamp(x, lo, hi):
    """Keep x within [lo, hi]."""
    if x < lo:
        return lo
    if x > hi:
        return hi
    return x


def window(items, size):
    return [items[i:i + size] for i in range(len(items) - size + 1)]


def ratio(a, b):
    return divide(a, b)


def divide(a, b):
    return a / b
'''
TESTS = '''\
import pytest
from tinypkg.core import clamp, ratio, window


@pytest.mark.parametrize("x, want", [(-5, 0), (5, 5), (50, 10)])
def test_clamp(x, want):
    assert clamp(x, 0, 10) == want


def test_window():
    assert window([1, 2, 3], 2) == [[1, 2], [2, 3]]


def test_ratio():
    assert ratio(1, 4) == 0.25
'''


def test_each_kind_changes_only_its_span():
    muts = candidates("tinypkg/core.py", SOURCE)
    assert {m.kind for m in muts} == set(KINDS)
    for m in muts:
        mutated = m.apply(SOURCE)
        ast.parse(mutated)  # still valid Python
        assert mutated != SOURCE
        diff = [(a, b) for a, b in zip(SOURCE.splitlines(), mutated.splitlines()) if a != b]
        assert len(diff) == 1, (m, diff)
    flips = {m.description for m in muts if m.kind == "flip_comparison"}
    assert "`<` became `>=`" in flips and "`>` became `<=`" in flips
    swap = next(m for m in muts if m.kind == "swap_args" and "divide" in SOURCE[m.start - 10 : m.end])
    assert "divide(b, a)" in swap.apply(SOURCE)


def test_sampling_is_reproducible_and_spreads_over_kinds():
    muts = candidates("tinypkg/core.py", SOURCE)
    assert sample(muts, 4, seed=1) == sample(muts, 4, seed=1)
    assert {m.kind for m in sample(muts, 4, seed=1)} == set(KINDS)


def test_unparsable_source_gives_no_mutations():
    assert candidates("bad.py", "def (:\n") == []


def _sdist(tmp_path):
    path = tmp_path / "tinypkg-1.0.tar.gz"
    files = {"tinypkg-1.0/tinypkg/__init__.py": "", "tinypkg-1.0/tinypkg/core.py": SOURCE,
             "tinypkg-1.0/tests/test_core.py": TESTS, "tinypkg-1.0/setup.py": "from setuptools import setup\nsetup()\n"}
    with tarfile.open(path, "w:gz") as tar:
        for name, text in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(text.encode())
            tar.addfile(info, io.BytesIO(text.encode()))
    return path


def test_make_tasks_from_an_sdist(tmp_path, bwrap_runtime):
    made = make_tasks(GenConfig(_sdist(tmp_path), max_tasks=1, max_tries=8, p2p_sample=3), bwrap_runtime, log=lambda _: None)
    assert len(made) == 1
    for inst in made:
        assert inst.FAIL_TO_PASS and inst.PASS_TO_PASS and inst.problem_statement.startswith("After a recent change")
        assert "tinypkg/core.py" in inst.patch and "tests/" not in inst.patch
        assert all(t.startswith("tests/test_core.py::") for t in inst.FAIL_TO_PASS + inst.PASS_TO_PASS)
        # a fresh rebuild of the snapshot from the sdist reproduces base_commit, and validates
        assert grade(inst, inst.patch, bwrap_runtime).outcome.resolved
        assert not grade(inst, "", bwrap_runtime).outcome.resolved
