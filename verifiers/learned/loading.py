"""Load any reward model ``assay train-rm`` wrote, by the kind recorded next to it."""

from __future__ import annotations

import json
from collections.abc import Sequence
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


def load_reward_models(paths: Sequence[str | Path]) -> tuple[str, list]:
    """``(kind, models)`` for one or more directories of one kind (an ensemble's members); the
    implicit PRM is read at step granularity (``use_step_ids=False``), as training scores it."""
    missing = [str(p) for p in paths if not Path(p).is_dir()]
    if missing or not paths:
        raise AssayError(f"no reward model directory {', '.join(missing) or '(none given)'}; train one with `assay train-rm`")
    kinds = [reward_model_kind(p) for p in paths]
    if len(set(kinds)) > 1:
        raise AssayError("an ensemble needs reward models of one kind, got " + ", ".join(f"{p} ({k})" for p, k in zip(paths, kinds)))
    kind = kinds[0]
    return kind, [load_reward_model(p, **({"use_step_ids": False} if kind == "implicit" else {})) for p in paths]
