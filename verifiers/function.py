"""A reward function as a verifier, so a custom reward is a few lines, as in TRL's ``reward_funcs``.

``fn(task, response)`` returns an ``assay.Verdict``, a bool (passed: reward 1.0, else 0.0) or a
finite number (the reward; passed when > 0, the rule plain Gymnasium envs follow too). Anything
else, or an exception, gives a Verdict with ``error`` set: the sample is dropped or scored 0 by the
trainer's ``error_policy``, and training goes on (``BaseVerifier.verify``).

Named ``"module:function"`` wherever a verifier name goes (``env_kwargs={verifier: my_rewards:exact}``);
the module is imported from the current directory or PYTHONPATH, in Ray workers too.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from assay.types import Task, Verdict
from assay.verifiers.base import BaseVerifier


class FunctionVerifier(BaseVerifier):
    version = "function"

    def __init__(self, fn: Callable[[Task, str], Any], name: str):
        self.fn, self.name = fn, name

    def _verify(self, task: Task, response: str) -> Verdict:
        out = self.fn(task, response)
        if isinstance(out, Verdict):
            return out
        if isinstance(out, bool):
            return Verdict(float(out), out)
        if isinstance(out, (int, float)) and math.isfinite(out):
            return Verdict(float(out), out > 0)
        return Verdict.failure(f"reward function {self.name} returned {out!r}; return a finite number, a bool or an "
                               "assay.Verdict")

    def gold_response(self, task: Task) -> str:
        raise NotImplementedError(f"reward function {self.name} states no gold response; give the env a verifier class "
                                  "with gold_response() for `assay demo --tour` and the conformance test")
