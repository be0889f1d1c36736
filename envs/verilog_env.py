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

from assay.envs.retry_env import RetryEnv
from assay.envs.sources import ListSource, TaskSource, load_jsonl
from assay.errors import AssayError



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


class VerilogEnv(RetryEnv):
    artifact = "module"

    def __init__(self, max_turns: int = 3, reward_mode: str = "final", discount: float = 0.5,
                 path: str | None = None, source: TaskSource | list | None = None,
                 verifier: str = "verilog", **kwargs: Any):
        if path is not None and source is not None:
            raise AssayError("give one task source: path= or source=, not both")
        if path is not None:
            source = load_problems(path)
        elif source is None:
            source = builtin_problems()
        super().__init__(max_turns=max_turns, reward_mode=reward_mode, discount=discount, verifier=verifier,
                         source=source, **kwargs)

