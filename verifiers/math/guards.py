"""Cheap checks on an answer string before it reaches sympy. Pure string code.

Sympy will happily try to build ``10^{10^{10^{10}}}`` or ``9999999!`` exactly, and latex2sympy
recurses once per nesting level. The worker's timeout and memory cap would stop those, but only
after burning the whole timeout; these checks reject the common hostile shapes in microseconds.
They only reject what no sane final answer contains, so a rejected answer gets ``error`` set
(the verifier could not judge it), not a silent 0.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Caps for one answer string. Defaults sit far above real answers (MATH / AIME / Olympiad
    golds are < 300 chars, nest < 10 deep and stay below 10^1000)."""

    max_chars: int = 2_000
    max_depth: int = 40
    max_digits: float = 1e5  # decimal digits of an integer power that sympy would expand
    max_factorial: int = 20_000


_POWER = re.compile(r"(\d+(?:\.\d+)?)\s*(?:\^|\*\*)\s*")
_FACTORIAL = re.compile(r"(\d+)\s*\}?\s*!")


def nesting_depth(s: str) -> int:
    depth = best = 0
    for c in s:
        if c in "({[":
            depth += 1
            best = max(best, depth)
        elif c in ")}]":
            depth = max(0, depth - 1)
    return best


def _exponent_log10(s: str, pos: int, latex: bool = True, budget: int = 8) -> tuple[float, int] | None:
    """log10 of the numeric exponent starting at ``s[pos]`` (``7``, ``{12}``, ``{10^{10}}``) and
    where it ends; None when the exponent is not a plain number or numeric power tower."""
    if budget == 0 or pos >= len(s):
        return None
    braced = s[pos] == "{"
    i = pos + 1 if braced else pos
    m = re.compile(r"\s*(\d+(?:\.\d+)?)\s*").match(s, i)
    if not m:
        return None
    base = float(m.group(1))
    i = m.end()
    if s.startswith("^", i) or s.startswith("**", i):
        inner_latex = s[i] == "^"
        i += 1 if inner_latex else 2
        while i < len(s) and s[i] == " ":
            i += 1
        inner = _exponent_log10(s, i, inner_latex, budget - 1)
        if inner is None:
            return None
        inner_log, i = inner
        value_log = math.inf if inner_log > 300 else (10**inner_log) * math.log10(max(base, 1.0))
    elif not braced and latex:
        # an unbraced exponent is one digit in LaTeX (10^23 is 10^2 * 3)
        return math.log10(max(float(m.group(1)[0]), 1.0)), m.start(1) + 1
    else:
        value_log = math.log10(max(base, 1.0))
    if braced:
        while i < len(s) and s[i] == " ":
            i += 1
        if i >= len(s) or s[i] != "}":
            return None
        i += 1
    return value_log, i


def screen(answer: str, limits: Limits = Limits()) -> str | None:
    """Why ``answer`` must not reach sympy, or None when it may."""
    if len(answer) > limits.max_chars:
        return f"answer is {len(answer)} characters (limit {limits.max_chars})"
    depth = nesting_depth(answer)
    if depth > limits.max_depth:
        return f"answer nests {depth} deep (limit {limits.max_depth})"
    for m in _FACTORIAL.finditer(answer):
        if int(m.group(1)) > limits.max_factorial:
            return f"factorial {m.group(1)}! is too large to compare (limit {limits.max_factorial}!)"
    for m in _POWER.finditer(answer):
        base = float(m.group(1))
        if base in (0.0, 1.0):
            continue
        exp = _exponent_log10(answer, m.end(), latex="**" not in m.group(0))
        if exp is None:
            continue
        exp_log10 = exp[0]
        digits = math.inf if exp_log10 > 300 else (10**exp_log10) * math.log10(base)
        if digits > limits.max_digits:
            size = "a power tower" if math.isinf(digits) else f"~{digits:.1e} digits"
            return f"power {m.group(0).strip()}... is too large to compare ({size}; limit {limits.max_digits:.0e} digits)"
    return None
