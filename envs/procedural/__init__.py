"""Seeded task generators whose difficulty is a parameter.

Each generator is ``generate(rng: numpy.random.Generator, difficulty: int) -> Task``: deterministic
for a given ``rng`` state, with a content-derived ``Task.id``, ``domain="math"``, and
``meta = {"generator", "difficulty", "steps": [{"text", "value"}, ...], ...}``.
``assay.envs.sources.ProceduralSource`` turns one into a task source; generators are looked up
here by name.
"""

from __future__ import annotations

from assay.envs.procedural import arithmetic, modchain
from assay.envs.procedural.base import TaskGenerator, content_id, validate_difficulty
from assay.errors import AssayError, did_you_mean

GENERATORS: dict[str, TaskGenerator] = {
    "arithmetic": arithmetic.generate,
    "modchain": modchain.generate,
}


def register_generator(name: str, fn: TaskGenerator, *, override: bool = False) -> None:
    """Make ``fn`` available by ``name`` (e.g. to ``make_source(generator=name)``)."""
    if not callable(fn):
        raise AssayError(f"generator {name!r} must be a callable (rng, difficulty) -> Task, got {type(fn).__name__}")
    if name in GENERATORS and GENERATORS[name] is not fn and not override:
        raise AssayError(f"generator {name!r} is already registered; pass override=True to replace it")
    GENERATORS[name] = fn


def get_generator(name: str) -> TaskGenerator:
    """The generator registered as ``name``, or an error listing the close and known names."""
    try:
        return GENERATORS[name]
    except KeyError:
        raise did_you_mean(name, list(GENERATORS), "generator") from None


__all__ = [
    "GENERATORS",
    "TaskGenerator",
    "content_id",
    "get_generator",
    "register_generator",
    "validate_difficulty",
]
