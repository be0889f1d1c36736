"""GRPO-family trainer: rollout -> score -> advantages -> loss -> step.

The public API, from Python as from ``assay train`` / ``assay train-rm`` / ``assay pretrain-tiny``::

    from assay.trainer import GRPOConfig, GRPOTrainer

    trainer = GRPOTrainer(GRPOConfig(model="runs/tiny-sft", env_id="assay/arithmetic-v0", steps=50))
    history = trainer.train()      # metric rows; the run directory holds checkpoints and metrics.jsonl
    trainer.close()

The names load on first use (``import assay.trainer`` itself pulls in no torch).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "GRPOConfig": "assay.trainer.config",
    "GRPOTrainer": "assay.trainer.grpo",
    "evaluate_policy": "assay.trainer.evaluation",
    "held_out_tasks": "assay.trainer.evaluation",
    "RMConfig": "assay.trainer.reward_model",
    "train_reward_model": "assay.trainer.reward_model",
    "SFTConfig": "assay.trainer.sft",
    "pretrain_tiny": "assay.trainer.sft",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'assay.trainer' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # later look-ups skip this function
    return value
