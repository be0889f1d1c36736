"""``assay/code-v0``: write a program; see the test feedback; retry up to ``max_turns`` times.

Each ``step(response)`` runs the response's program through the ``code`` verifier. A passing
program, a verifier that could not judge (``verdict.error``), or the last allowed attempt ends
the episode (``terminated``); otherwise the observation is the feedback (the first failing
test with its input, expected and actual output, or the error) and the agent tries again. The
trainer's rollout appends that observation to the context as a user turn.

Reward, paid on the step that ends the episode (0 before it, since the rollout keeps the reward
of its last step):
- ``reward_mode="final"``: the verdict's reward of the final attempt;
- ``reward_mode="discounted"``: that reward times ``discount ** (attempts - 1)``, so a first-try
  solution is worth more than one found after feedback.

``max_turns`` defaults to 3 attempts; set the trainer's ``max_turns`` to the same so a rollout
lets the agent use them (``max_turns=1`` makes it single-turn).

Tasks: the shipped problem set (``envs/data/code_problems.jsonl``, 36 problems written for assay,
each with a reference solution) by default; ``path=`` reads APPS, LiveCodeBench, HumanEval, MBPP
or assay JSONL (:func:`assay.verifiers.code.datasets.load_code_jsonl`); ``source=`` takes tasks.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from assay.envs.retry_env import RetryEnv
from assay.envs.sources import ListSource, TaskSource
from assay.errors import AssayError

INSTRUCTION = "\n\nAnswer with Python code in one fenced code block (```python ... ```)."


def builtin_problems() -> ListSource:
    """The problem set that ships with assay."""
    from assay.verifiers.code.datasets import load_code_jsonl

    path = resources.files("assay.envs.data") / "code_problems.jsonl"
    return ListSource(load_code_jsonl(str(path), fmt="assay"), name="code_problems")


class CodeEnv(RetryEnv):
    artifact = "program"

    def __init__(self, max_turns: int = 3, reward_mode: str = "final", discount: float = 0.5,
                 path: str | None = None, fmt: str = "auto", source: TaskSource | list | None = None,
                 verifier: str = "code", **kwargs: Any):
        if path is not None and source is not None:
            raise AssayError("give one task source: path= or source=, not both")
        if path is not None:
            from assay.verifiers.code.datasets import load_code_jsonl

            source = ListSource(load_code_jsonl(path, fmt=fmt), name=str(path))
        elif source is None:
            source = builtin_problems()
        super().__init__(max_turns=max_turns, reward_mode=reward_mode, discount=discount, verifier=verifier,
                         source=source, **kwargs)

    def prompt_text(self, task) -> str:
        text = super().prompt_text(task)
        return text if text.endswith(INSTRUCTION) else text + INSTRUCTION  # prompt_format re-reads it

    def messages(self, task) -> list[dict]:
        return [{"role": "user", "content": self.prompt_text(task)}] if isinstance(task.prompt, str) \
            else super().messages(task)

    def close(self) -> None:
        # a verifier built with options is this env's own, with its own pooled sandboxes
        if self._verifier is not None and self.verifier_options and hasattr(self._verifier, "close"):
            self._verifier.close()
        self._verifier = None
        super().close()
