"""``assay/math-v0``: a single-turn math problem judged by the ``math`` verifier.

Tasks come from a JSONL file (``path=``), a Hugging Face dataset (``dataset=``), a seeded
procedural generator (``generator="arithmetic" | "modchain"``, ``difficulty=``), or by default the
small sample that ships with assay.
"""

from __future__ import annotations

from typing import Any

from assay.envs.single_turn import SingleTurnEnv


class MathEnv(SingleTurnEnv):
    def __init__(self, verifier: str = "math", **kwargs: Any):
        super().__init__(verifier=verifier, **kwargs)
