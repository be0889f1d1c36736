"""Multi-step integer arithmetic whose difficulty is a parameter.

Difficulty d gives an expression with d operations:

- d = 1: one ``+`` or ``-`` on small non-negative numbers (``7 + 5``);
- d = 2: adds ``*``; d >= 3 adds ``/``, always exact (``(12 - 7) * 4 + 18 / 3``);
- d >= 5: negative numbers appear, and trees are deep enough to nest parentheses.

Operand size grows with d. The expression is built top-down from a target value: each operation
splits its target into two children whose result is that target (``/`` picks the divisor first and
multiplies), so every division is exact and every intermediate value is an integer, with no
rejection sampling. ``meta["steps"]`` lists each operation in evaluation order (post-order, left
before right), which is also the order a person following the usual precedence rules would use
on the rendered expression: a right operand of equal precedence is always parenthesized, so
``a - (b - c)`` is never written as ``a - b - c``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from assay.envs.procedural.base import content_id, validate_difficulty
from assay.types import Task

NAME = "arithmetic"
_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2}


@dataclass(frozen=True)
class Num:
    value: int


@dataclass(frozen=True)
class BinOp:
    op: str  # one of + - * /
    left: Num | BinOp
    right: Num | BinOp


Expr = Num | BinOp


@dataclass(frozen=True)
class _Level:
    """The knobs one difficulty sets."""

    n_ops: int
    operand_max: int  # scale of the numbers drawn for + and - and of the answer
    ops: str  # the operations allowed
    negatives: bool  # whether intermediate values and literals may be negative

    @property
    def factor_max(self) -> int:  # largest factor drawn for * (kept small: mental arithmetic)
        return max(3, self.operand_max // 2)

    @property
    def divisor_max(self) -> int:
        return max(2, min(12, self.operand_max // 2))


def level(difficulty: int) -> _Level:
    d = validate_difficulty(difficulty, NAME)
    ops = "+-" if d == 1 else "+-*" if d == 2 else "+-*/"
    return _Level(n_ops=d, operand_max=5 + 5 * d, ops=ops, negatives=d >= 5)


def generate(rng: np.random.Generator, difficulty: int = 3) -> Task:
    """Draw one arithmetic task; the same ``rng`` state gives the same task."""
    lv = level(difficulty)
    lo = -2 * lv.operand_max if lv.negatives else 0
    target = int(rng.integers(lo, 2 * lv.operand_max + 1))
    tree = _build(rng, lv, lv.n_ops, target)
    expression = render(tree)
    steps: list[dict] = []
    value = _evaluate(tree, steps)
    if value != target:  # construction and evaluation disagree: a bug here, not bad input
        raise RuntimeError(f"arithmetic generator built {expression!r} = {value}, meant {target}")
    prompt = (
        "Evaluate the following expression. Show your steps and put the final answer in \\boxed{}.\n\n"
        f"{expression}"
    )
    return Task(
        id=content_id("arith", lv.n_ops, expression),
        prompt=prompt,
        answer=str(value),
        domain="math",
        meta={"generator": NAME, "difficulty": lv.n_ops, "expression": expression, "steps": steps},
    )


def _build(rng: np.random.Generator, lv: _Level, n_ops: int, target: int) -> Expr:
    """An expression with exactly ``n_ops`` operations whose value is ``target``."""
    if n_ops == 0:
        return Num(target)
    choices = [op for op in lv.ops if _feasible(lv, op, target)]  # "-" always is: never empty
    op = choices[int(rng.integers(len(choices)))]
    left_target, right_target = _split(rng, lv, op, target)
    n_left = int(rng.integers(n_ops))  # ops left of this one; the rest go right
    return BinOp(op, _build(rng, lv, n_left, left_target), _build(rng, lv, n_ops - 1 - n_left, right_target))


def _factors(lv: _Level, target: int) -> list[int]:
    # factors f with |target / f| >= 2: "1 * p" and "0 * x" teach nothing
    return [f for f in range(2, lv.factor_max + 1) if target % f == 0 and abs(target) // f >= 2]


def _feasible(lv: _Level, op: str, target: int) -> bool:
    """Whether ``op`` can produce ``target`` from operands this level allows."""
    if op == "+":
        return lv.negatives or target >= 2  # without negatives, two positive parts
    if op == "*":
        return bool(_factors(lv, target))
    if op == "/":
        # keep the dividend within operand_max * divisor_max so division stays mental arithmetic
        return target != 0 and 2 * abs(target) <= lv.operand_max * lv.divisor_max
    return op == "-"


def _split(rng: np.random.Generator, lv: _Level, op: str, target: int) -> tuple[int, int]:
    """Operand targets ``(l, r)`` with ``l op r == target``; ``op`` must be feasible."""
    m = lv.operand_max
    sign = (lambda: 1 if rng.random() < 0.5 else -1) if lv.negatives else (lambda: 1)
    if op == "+":
        a = int(rng.integers(1, m + 1)) * sign() if lv.negatives else int(rng.integers(1, target))
        return a, target - a
    if op == "-":
        b = int(rng.integers(1, m + 1)) * sign()
        return target + b, b
    if op == "*":
        factors = _factors(lv, target)
        f = factors[int(rng.integers(len(factors)))]
        pair = (f, target // f) if rng.random() < 0.5 else (target // f, f)
        s = sign()
        return pair[0] * s, pair[1] * s
    if op == "/":
        b = int(rng.integers(2, lv.divisor_max + 1))
        while abs(target * b) > lv.operand_max * lv.divisor_max:  # ends by b = 2 (see _feasible)
            b -= 1
        b *= sign()
        return target * b, b
    raise ValueError(f"unknown operation {op!r}")


def _literal(value: int) -> str:
    return str(value) if value >= 0 else f"({value})"


def render(node: Expr) -> str:
    """The expression with the fewest parentheses that keep the tree's evaluation order."""
    if isinstance(node, Num):
        return _literal(node.value)
    left, right = render(node.left), render(node.right)
    p = _PRECEDENCE[node.op]
    if isinstance(node.left, BinOp) and _PRECEDENCE[node.left.op] < p:
        left = f"({left})"
    if isinstance(node.right, BinOp) and _PRECEDENCE[node.right.op] <= p:
        right = f"({right})"
    return f"{left} {node.op} {right}"


def _evaluate(node: Expr, steps: list[dict]) -> int:
    """Value of ``node``; appends one step per operation, in evaluation order."""
    if isinstance(node, Num):
        return node.value
    a, b = _evaluate(node.left, steps), _evaluate(node.right, steps)
    if node.op == "+":
        value = a + b
    elif node.op == "-":
        value = a - b
    elif node.op == "*":
        value = a * b
    else:
        if b == 0 or a % b:
            raise RuntimeError(f"inexact division {a} / {b} in a generated expression")
        value = a // b
    text = f"{_literal(a)} {node.op} {_literal(b)} = {value}"
    steps.append({"expr": render(node), "text": text, "value": value})
    return value
