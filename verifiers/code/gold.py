"""The three gold formats of a code task (DESIGN.md), read from ``Task.answer`` into values.

- stdin/stdout: ``{"tests": [{"input": str, "output": str}, ...]}``;
- call-based (APPS / LiveCodeBench): ``{"fn_name": str, "inputs": [[args...]], "outputs": [value, ...]}``;
- check (HumanEval / MBPP): ``{"entry_point": str, "test": "def check(candidate): ..."}``, plus
  an optional ``"prelude"``: code (e.g. HumanEval's prompt with its helper functions) run before
  the candidate's program in the candidate's process.

Any of them may add ``"language"`` (``"python"``, the default; ``"c"`` and ``"cpp"`` for
stdin/stdout tests). Malformed gold raises :class:`GoldError`, which the verifier reports as
``Verdict.error`` (the verifier could not judge), never as a failed response.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

LANGUAGES = ("python", "c", "cpp")


class GoldError(ValueError):
    """The task's gold is not in one of the code formats."""


@dataclass(frozen=True)
class StdioGold:
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    language: str = "python"
    mode = "stdio"


@dataclass(frozen=True)
class CallGold:
    fn_name: str
    inputs: tuple[list, ...]  # one argument list per test
    outputs: tuple[Any, ...]
    language: str = "python"
    mode = "call"


@dataclass(frozen=True)
class CheckGold:
    entry_point: str
    test: str
    prelude: str = ""
    language: str = "python"
    mode = "check"


Gold = StdioGold | CallGold | CheckGold


def parse_gold(answer: Any) -> Gold:
    if not isinstance(answer, dict):
        raise GoldError(f"code gold must be a dict, got {type(answer).__name__}")
    language = answer.get("language", "python")
    if language not in LANGUAGES:
        raise GoldError(f"language must be one of {LANGUAGES}, got {language!r}")
    if "tests" in answer:
        return _stdio(answer["tests"], language)
    if language != "python":
        raise GoldError(f"{language} programs are judged on stdin/stdout tests only")
    if "fn_name" in answer:
        return _call(answer)
    if "entry_point" in answer:
        return _check(answer)
    raise GoldError(f"code gold needs 'tests', 'fn_name' or 'entry_point'; got keys {sorted(answer)}")


def _stdio(tests: Any, language: str) -> StdioGold:
    if not isinstance(tests, list) or not tests:
        raise GoldError("'tests' must be a non-empty list of {'input': str, 'output': str}")
    for i, t in enumerate(tests):
        if not isinstance(t, dict) or not isinstance(t.get("input"), str) or not isinstance(t.get("output"), str):
            raise GoldError(f"tests[{i}] must be {{'input': str, 'output': str}}, got {str(t)[:80]}")
    return StdioGold(tuple(t["input"] for t in tests), tuple(t["output"] for t in tests), language)


def _call(answer: dict) -> CallGold:
    name, inputs, outputs = answer["fn_name"], answer.get("inputs"), answer.get("outputs")
    if not isinstance(name, str) or not name.isidentifier():
        raise GoldError(f"fn_name must be a Python identifier, got {name!r}")
    if not isinstance(inputs, list) or not isinstance(outputs, list) or not inputs or len(inputs) != len(outputs):
        raise GoldError("'inputs' and 'outputs' must be non-empty lists of the same length")
    bad = next((i for i, args in enumerate(inputs) if not isinstance(args, list)), None)
    if bad is not None:
        raise GoldError(f"inputs[{bad}] must be a list of arguments, got {str(inputs[bad])[:80]}")
    return CallGold(name, tuple(inputs), tuple(outputs))


def _check(answer: dict) -> CheckGold:
    entry, test, prelude = answer["entry_point"], answer.get("test"), answer.get("prelude", "")
    if not isinstance(entry, str) or not entry.isidentifier():
        raise GoldError(f"entry_point must be a Python identifier, got {entry!r}")
    if not isinstance(test, str) or not test.strip():
        raise GoldError("'test' must be Python source (a check(candidate) function or asserts)")
    if not isinstance(prelude, str):
        raise GoldError("'prelude' must be Python source")
    try:
        compile(test, "<test>", "exec")
    except SyntaxError as e:
        raise GoldError(f"the test code does not compile: {e}") from None
    return CheckGold(entry, test, prelude)
