"""A chain of modular-arithmetic steps whose every intermediate value can be checked.

Start from ``x_0`` and apply ``k`` steps ``x_i = (x_{i-1} op a_i) mod m`` with ``op`` in
``+ - *``; values always lie in ``0 .. m-1`` (Python's ``%``: negative results wrap around).
Difficulty d gives ``k = d + 2`` steps and a modulus drawn from ``[5d + 2, 10d + 8)``, so both the
chain and the numbers grow. The model is asked to write ``Step i: <value>`` per line;
:func:`check_steps` grades each line on its own, which is what process rewards and step-level
search need: a ground truth per step, not just for the final answer.
"""

from __future__ import annotations

import re

import numpy as np

from assay.envs.procedural.base import content_id, validate_difficulty
from assay.errors import AssayError
from assay.types import Task

NAME = "modchain"
OPS = "+-*"


def chain_length(difficulty: int) -> int:
    return validate_difficulty(difficulty, NAME) + 2


def modulus_range(difficulty: int) -> tuple[int, int]:
    """Half-open range the modulus is drawn from."""
    d = validate_difficulty(difficulty, NAME)
    return 5 * d + 2, 10 * d + 8


def apply(x: int, op: str, a: int, m: int) -> int:
    if op == "+":
        return (x + a) % m
    if op == "-":
        return (x - a) % m
    if op == "*":
        return (x * a) % m
    raise ValueError(f"unknown operation {op!r}")


def generate(rng: np.random.Generator, difficulty: int = 3) -> Task:
    """Draw one chain; the same ``rng`` state gives the same task."""
    k = chain_length(difficulty)
    lo, hi = modulus_range(difficulty)
    m = int(rng.integers(lo, hi))
    x = x0 = int(rng.integers(0, m))
    ops: list[list] = []
    steps: list[dict] = []
    lines = []
    for i in range(1, k + 1):
        op = OPS[int(rng.integers(len(OPS)))]
        # a in 2..m-1: "+ 0", "* 1" and "* 0" would make a step trivial
        a = int(rng.integers(2, m))
        x = apply(x, op, a, m)
        text = f"x_{i} = (x_{i - 1} {op} {a}) mod {m}"
        ops.append([op, a])
        steps.append({"text": text, "value": x})
        lines.append(f"{i}. {text}")
    prompt = (
        f"Start with x_0 = {x0}. Apply the steps below in order. After every step reduce modulo {m}, "
        f"so each value lies between 0 and {m - 1} (a negative result wraps around: "
        f"-1 mod {m} = {m - 1}).\n\n"
        + "\n".join(lines)
        + "\n\nWrite each step on its own line as `Step i: <value of x_i>`, "
        f"then put the final value x_{k} in \\boxed{{}}."
    )
    return Task(
        id=content_id(NAME, difficulty, prompt),
        prompt=prompt,
        answer=str(x),
        domain="math",
        meta={"generator": NAME, "difficulty": int(difficulty), "modulus": m, "x0": x0, "ops": ops, "steps": steps},
    )


def step_values(task: Task) -> list[int]:
    """The correct ``x_1 .. x_k`` of a modchain task."""
    if task.meta.get("generator") != NAME or "steps" not in task.meta:
        raise AssayError(
            f"task {task.id!r} is not a modchain task (meta['generator'] is "
            f"{task.meta.get('generator')!r}); step checks need a task made by assay.envs.procedural.modchain"
        )
    return [int(s["value"]) for s in task.meta["steps"]]


# "Step 3: 7", "**Step 3:** 7", "- step 3 : x_3 = 7", "Step 3: (4 * 5) mod 13 = 7"
_STEP_LINE = re.compile(r"^[\s>*#_-]*step\s*(\d+)\s*[*_]*\s*:(.*)$", re.IGNORECASE | re.MULTILINE)
_INT = re.compile(r"-?\d+")
_NOISE = re.compile(r"x_\{?\d+\}?|[$*`]|\\[()\[\]]")


def parse_steps(response: str) -> dict[int, int]:
    """Map step number -> the value the response states for it.

    The value is the integer after the line's last ``=`` when there is one (so a shown
    computation such as ``(4 * 5) mod 13 = 7`` counts by its result), else the first integer
    after the colon. When a step is written more than once the last one wins: a model that
    corrects itself is graded on its correction.
    """
    found: dict[int, int] = {}
    for match in _STEP_LINE.finditer(response):
        # drop variable names ("x_3") and markdown/LaTeX marks so only the stated numbers remain
        body = _NOISE.sub(" ", match.group(2))
        number = _INT.search(body.rsplit("=", 1)[-1])
        if number:
            found[int(match.group(1))] = int(number.group())
    return found


def check_steps(task: Task, response: str) -> list[bool | None]:
    """Per step of ``task``: True if the response states the right value, False if a wrong one,
    None if the response has no ``Step i:`` line for it. Values must be in ``0 .. m-1`` as asked,
    so a congruent but unreduced value counts as wrong."""
    gold = step_values(task)
    stated = parse_steps(response)
    return [None if i not in stated else stated[i] == value for i, value in enumerate(gold, 1)]
