"""Load any reward model ``assay train-rm`` wrote, by the kind recorded next to it."""

from __future__ import annotations

import json
from pathlib import Path

from assay.errors import AssayError

RM_META_FILE = "reward_model.json"
RM_KINDS = ("orm", "prm", "implicit")


def reward_model_kind(path: str | Path) -> str:
    """The kind in ``reward_model.json``; a directory without it but with a value head is read as
    a PRM (the ``ValueHeadPRM`` format of other tools)."""
    path = Path(path)
    meta = path / RM_META_FILE
    if meta.exists():
        kind = json.loads(meta.read_text()).get("kind")
        if kind not in RM_KINDS:
            raise AssayError(f"{meta}: kind must be one of {RM_KINDS}, got {kind!r}")
        return kind
    if (path / "config.json").exists():
        return "prm"
    raise AssayError(f"{path} is not a reward model directory (no {RM_META_FILE} or config.json)")


def load_reward_model(path: str | Path, **kwargs):
    """A ``ValueHeadORM``, ``ValueHeadPRM`` or ``ImplicitPRM`` for ``path``."""
    kind = reward_model_kind(path)
    if kind == "orm":
        from assay.verifiers.learned.orm import ValueHeadORM

        return ValueHeadORM.from_pretrained(path, **kwargs)
    if kind == "prm":
        from assay.verifiers.learned.prm import ValueHeadPRM

        return ValueHeadPRM.from_pretrained(path, **kwargs)
    from assay.verifiers.learned.implicit import ImplicitPRM

    return ImplicitPRM.from_pretrained(path, **kwargs)
