"""``assay/verilog-v0``: write a Verilog module; see the compiler or simulation feedback; retry up
to ``max_turns`` times.

Each ``step(response)`` judges the response's module with the ``verilog`` verifier (Icarus
simulation against a VerilogEval-form testbench). A passing module, a verifier that could not
judge (``verdict.error``), or the last allowed attempt ends the episode (``terminated``);
otherwise the observation is the feedback (compiler errors with line numbers, the interface
mismatch, or the outputs that first mismatched and when) and the agent tries again. The
trainer's rollout appends that observation to the context as a user turn.

Reward, paid on the step that ends the episode (0 before it):
- ``reward_mode="final"``: the verdict's reward of the final attempt;
- ``reward_mode="discounted"``: that reward times ``discount ** (attempts - 1)``.

``max_turns`` defaults to 3 attempts; set the trainer's ``max_turns`` to the same so a rollout
lets the agent use them (``max_turns=1`` makes it single-turn). This mirrors ``assay/code-v0``.

Tasks: the shipped problems (``envs/data/verilog_problems.jsonl``, written for assay; see
:mod:`assay.envs.verilog_problems`) by default; ``path=`` a VerilogEval folder
(``ProbNNN_*_prompt.txt``/``_ref.sv``/``_test.sv``) or a JSONL file of rows with ``prompt`` and
``answer`` (the gold dict); ``source=`` takes tasks.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import gymnasium

from assay.envs.single_turn import SingleTurnEnv
from assay.envs.sources import ListSource, TaskSource, load_jsonl
from assay.errors import AssayError

REWARD_MODES = ("final", "discounted")


def builtin_problems() -> ListSource:
    """The problem set that ships with assay."""
    path = resources.files("assay.envs.data") / "verilog_problems.jsonl"
    return load_jsonl(str(path), domain="verilog", name="verilog_problems")


def load_problems(path: str) -> ListSource:
    """A VerilogEval folder or a JSONL file of verilog tasks."""
    p = Path(path).expanduser()
    if p.is_dir():
        from assay.verifiers.verilog.verilogeval import load_verilogeval

        return ListSource(load_verilogeval(p), name=p.name)
    if p.suffix.lower() == ".jsonl":
        return load_jsonl(p, domain="verilog")
    raise AssayError(f"path= must be a VerilogEval folder or a .jsonl file, got {p}")


class VerilogEnv(SingleTurnEnv):
    def __init__(self, max_turns: int = 3, reward_mode: str = "final", discount: float = 0.5,
                 path: str | None = None, source: TaskSource | list | None = None,
                 verifier: str = "verilog", **kwargs: Any):
        if isinstance(max_turns, bool) or not isinstance(max_turns, int) or max_turns < 1:
            raise AssayError(f"max_turns must be an int >= 1 (attempts per episode), got {max_turns!r}")
        if reward_mode not in REWARD_MODES:
            raise AssayError(f"reward_mode must be one of {REWARD_MODES}, got {reward_mode!r}")
        if isinstance(discount, bool) or not isinstance(discount, (int, float)) or not 0 < discount <= 1:
            raise AssayError(f"discount must be in (0, 1], got {discount!r}")
        if path is not None and source is not None:
            raise AssayError("give one task source: path= or source=, not both")
        if path is not None:
            source = load_problems(path)
        elif source is None:
            source = builtin_problems()
        super().__init__(verifier=verifier, source=source, **kwargs)
        self.max_turns = max_turns
        self.reward_mode = reward_mode
        self.discount = float(discount)
        self._attempts = 0
        self._transcript: list[dict] = []

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[str, dict]:
        obs, info = super().reset(seed=seed, options=options)
        self._attempts = 0
        self._transcript = list(info["messages"])
        return obs, info

    def step(self, action: str) -> tuple[str, float, bool, bool, dict]:
        if self._done or self._task is None:
            raise gymnasium.error.ResetNeeded("call reset() before step(); this episode has ended")
        if not isinstance(action, str):
            raise TypeError(f"the action is the model's response text (str), got {type(action).__name__}")
        verdict = self.verifier.verify(self._task, action[: self.action_space.max_length])
        self._attempts += 1
        self._last = (action, verdict)
        self._transcript.append({"role": "assistant", "content": action})
        done = verdict.passed or verdict.error is not None or self._attempts >= self.max_turns
        info = {"task": self._task, "verdict": verdict, "attempt": self._attempts, "provenance": self.provenance()}
        if done:
            self._done = True
            reward = float(verdict.reward)
            if self.reward_mode == "discounted":
                reward *= self.discount ** (self._attempts - 1)
            info["messages"] = list(self._transcript)
            if self.render_mode == "human":
                print(self.render_text())
            return "", reward, True, False, info
        left = self.max_turns - self._attempts
        obs = f"{verdict.feedback}\n\nFix the module and submit it again ({left} attempt{'s' * (left != 1)} left)."
        self._transcript.append({"role": "user", "content": obs})
        info["messages"] = list(self._transcript)
        return obs, 0.0, False, False, info
