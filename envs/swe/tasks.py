"""The shipped SWE task set (``envs/data/swe/tasks.jsonl``) as instances and as ``assay.Task``s.

Made by ``assay swe make-tasks`` from the two vendored sdists in ``envs/data/swe/sources``
(inflection 0.5.1 and parse 1.22.4, from PyPI); the command that made it is in
``envs/data/swe/README.md``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from assay.types import Task
from assay.verifiers.swe.instance import SWEInstance, load_instances


def shipped_path() -> Path:
    return Path(str(resources.files("assay.envs.data") / "swe" / "tasks.jsonl"))


def shipped_instances() -> list[SWEInstance]:
    return load_instances(shipped_path())


def to_task(instance: SWEInstance) -> Task:
    """The gold (the whole instance record, ``patch`` included) goes in ``answer``; the prompt is
    the problem statement."""
    return Task(id=instance.instance_id, prompt=instance.problem_statement, answer=instance.to_record(),
                domain="swe", meta={"repo": instance.repo})


def shipped_tasks() -> list[Task]:
    return [to_task(i) for i in shipped_instances()]
