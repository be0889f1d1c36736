"""Patch application falls back as SWE-bench's harness does: ``git apply``, then
``git apply --3way``, then ``patch --fuzz``; a patch none of them applies fails the task."""

from __future__ import annotations

import re
import shutil

from assay.verifiers.swe.grader import grade
from assay.verifiers.swe.snapshot import git, snapshot_dir
from tests.verifiers.swe.patches import ORDINAL, task


def _bend_first_context_line(patch: str) -> str:
    """Change the hunk's first context line, so the patch no longer matches the file exactly."""
    lines = patch.splitlines(keepends=True)
    i = next(n for n, line in enumerate(lines) if line.startswith("@@")) + 1
    assert lines[i].startswith(" ")
    lines[i] = " # a line that is not in the file\n"
    return "".join(lines)


def test_clean_patch_uses_git_apply(bwrap_runtime):
    inst = task(ORDINAL)
    assert grade(inst, inst.patch, bwrap_runtime).answer["applied"] == "git apply"


def test_patch_made_against_another_known_version_uses_3way(bwrap_runtime, tmp_path):
    """A patch written against the upstream file (before the bug): its context holds the
    upstream line, so it does not apply to the base directly; git knows the upstream blob, so
    a three-way merge applies it."""
    inst = task(ORDINAL)
    repo = tmp_path / "repo"
    shutil.copytree(snapshot_dir(inst), repo)
    git(repo, "checkout", "-q", "HEAD~1")  # the upstream commit
    module = repo / "inflection" / "__init__.py"
    text = module.read_text()
    # two lines above the bug: in the hunk's context, yet not adjacent to it (no merge conflict)
    edited = text.replace('    """\n    number = abs(int(number))\n', '    """  # suffix only\n    number = abs(int(number))\n')
    assert edited != text
    module.write_text(edited)
    patch = git(repo, "diff").stdout.decode()
    assert "if number % 100 in (11, 12, 13)" in patch  # context the base does not have
    g = grade(inst, patch, bwrap_runtime)
    assert g.answer["applied"] == "git apply --3way", g.answer


def test_patch_without_blob_ids_and_stale_context_uses_patch_fuzz(bwrap_runtime):
    inst = task(ORDINAL)
    bent = re.sub(r"^index [0-9a-f]+\.\.[0-9a-f]+.*\n", "", _bend_first_context_line(inst.patch), flags=re.M)
    g = grade(inst, bent, bwrap_runtime)
    assert g.answer["applied"] == "patch --fuzz" and g.outcome.resolved, g.answer.get("apply_error")


def test_patch_that_applies_nowhere_fails(bwrap_runtime):
    inst = task(ORDINAL)
    junk = "diff --git a/nope.py b/nope.py\n--- a/nope.py\n+++ b/nope.py\n@@ -1 +1 @@\n-x\n+y\n"
    g = grade(inst, junk, bwrap_runtime)
    assert not g.outcome.resolved and "does not apply" in g.outcome.problem
