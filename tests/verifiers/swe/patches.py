"""Build patches against a task's base tree for tests: edit files in a scratch clone, ``git diff``."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from assay.envs.swe.tasks import shipped_instances
from assay.verifiers.swe.instance import SWEInstance
from assay.verifiers.swe.snapshot import git, snapshot_dir


def task(prefix: str) -> SWEInstance:
    return next(i for i in shipped_instances() if i.instance_id.startswith(prefix))


ORDINAL = "inflection-0.5.1.flip_comparison"  # the bug: `in (11, 12, 13)` became `not in`


def make_patch(instance: SWEInstance, edits: dict[str, Callable[[str], str] | str | None], gold: bool = False) -> str:
    """A diff from the base tree: ``edits`` maps a path to a function of its text, to new text
    (new file), or to None (delete). ``gold=True`` applies the gold patch first."""
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        shutil.copytree(snapshot_dir(instance), repo)
        if gold:
            git(repo, "apply", "-", input=instance.patch.encode())
        for path, edit in edits.items():
            target = repo / path
            if edit is None:
                target.unlink()
            elif callable(edit):
                target.write_text(edit(target.read_text()))
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(edit)
        git(repo, "add", "-A")
        return git(repo, "diff", "--cached", instance.base_commit).stdout.decode()


def fix_ordinal(text: str) -> str:
    fixed = text.replace("if number % 100 not in (11, 12, 13):", "if number % 100 in (11, 12, 13):")
    assert fixed != text, "the ordinal bug is not where the test expects it"
    return fixed
