"""Where a task's repository comes from: a git mirror, a local git checkout, or a plain directory
(the sdist source of the shipped tasks is covered by test_shipped_tasks.py)."""

from __future__ import annotations

import dataclasses
import shutil

import pytest

from assay.errors import AssayError
from assay.verifiers.swe.grader import grade
from assay.verifiers.swe.instance import RepoSource
from assay.verifiers.swe.snapshot import git, snapshot_dir
from tests.verifiers.swe.patches import ORDINAL, task


def _check(inst, runtime):
    assert grade(inst, inst.patch, runtime).outcome.resolved
    assert not grade(inst, "", runtime).outcome.resolved


def test_git_mirror(tmp_path, bwrap_runtime):
    inst = task(ORDINAL)
    git(tmp_path, "clone", "-q", "--mirror", str(snapshot_dir(inst)), str(tmp_path / "mirror.git"))
    _check(dataclasses.replace(inst, repo_source=RepoSource("git", str(tmp_path / "mirror.git"))), bwrap_runtime)


def test_local_checkout_is_checked_out_at_base_commit(tmp_path, bwrap_runtime):
    inst = task(ORDINAL)
    shutil.copytree(snapshot_dir(inst), tmp_path / "repo")
    git(tmp_path / "repo", "checkout", "-q", "HEAD~1")  # the user's checkout is elsewhere: base_commit wins
    _check(dataclasses.replace(inst, repo_source=RepoSource("path", str(tmp_path / "repo"))), bwrap_runtime)


def test_plain_directory_is_committed_as_is(tmp_path, bwrap_runtime):
    inst = task(ORDINAL)
    shutil.copytree(snapshot_dir(inst), tmp_path / "tree", ignore=shutil.ignore_patterns(".git"))
    _check(dataclasses.replace(inst, base_commit="HEAD", repo_source=RepoSource("path", str(tmp_path / "tree"))),
           bwrap_runtime)


def test_wrong_base_commit_is_caught_when_the_snapshot_is_built(tmp_path, bwrap_runtime):
    inst = dataclasses.replace(task(ORDINAL), base_commit="0" * 40)
    with pytest.raises(AssayError, match="base_commit|failed"):
        snapshot_dir(inst)
