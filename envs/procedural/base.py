"""What every procedural generator shares: the signature, difficulty validation and task ids.

A generator is a plain function ``generate(rng, difficulty) -> Task``. It draws every random
choice from ``rng`` (never from global state), so the same generator state gives the same task,
and it records its intermediate ``steps`` in ``Task.meta`` so step-level checks (process
rewards, search) have a ground truth.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import numpy as np

from assay.errors import AssayError
from assay.types import Task

TaskGenerator = Callable[[np.random.Generator, int], Task]


def validate_difficulty(difficulty: object, generator: str) -> int:
    """Return ``difficulty`` as an int, or raise an error that says what is allowed."""
    # bool is an int subclass, and numpy ints are not ints: accept the second, refuse the first
    if isinstance(difficulty, bool) or not isinstance(difficulty, (int, np.integer)) or difficulty < 1:
        raise AssayError(
            f"generator {generator!r}: difficulty must be an int >= 1 (1 is the easiest), got {difficulty!r}"
        )
    return int(difficulty)


def content_id(prefix: str, difficulty: int, content: str) -> str:
    """A stable id derived from the task's content, e.g. ``"arith-d3-0a1b2c3d4e"``.

    Content-derived rather than counter-derived, so the same problem gets the same id in every
    process and run, and duplicates across draws are visible as equal ids.
    """
    digest = hashlib.sha1(content.encode("utf-8")).hexdigest()[:10]
    return f"{prefix}-d{difficulty}-{digest}"
