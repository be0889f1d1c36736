"""Output comparison, always on the host and on plain data (text, or decoded plain values).

Modes:
- ``exact``: text equal byte for byte; values equal with ``==`` (tuples and lists alike);
- ``whitespace`` (default): text compared line by line with runs of blanks collapsed, ends of
  lines and trailing blank lines ignored; values as ``exact``, strings inside values normalised;
- ``float``: as ``whitespace``, and tokens (or values) that are both numbers match within
  ``abs_tol`` or ``rel_tol`` (``math.isclose``); a NaN or inf token matches only the same text.

Call-based gold from APPS often wraps the expected value in a one-element list; a value equal
to that element is accepted too (the rule of APPS's and LiveCodeBench's own checkers).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

MODES = ("exact", "whitespace", "float")


@dataclass(frozen=True)
class Comparison:
    mode: str = "whitespace"
    abs_tol: float = 1e-6
    rel_tol: float = 1e-6

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"compare must be one of {MODES}, got {self.mode!r}")
        if self.abs_tol < 0 or self.rel_tol < 0:
            raise ValueError("abs_tol and rel_tol must be >= 0")

    # -- text (stdin/stdout tests) --------------------------------------------------------
    def text(self, actual: str, expected: str) -> bool:
        if self.mode == "exact":
            return actual == expected
        got, want = _lines(actual), _lines(expected)
        if got == want:
            return True
        if self.mode != "float" or len(got) != len(want):
            return False
        return all(self._tokens(a.split(), b.split()) for a, b in zip(got, want))

    def _tokens(self, got: list[str], want: list[str]) -> bool:
        if len(got) != len(want):
            return False
        for a, b in zip(got, want):
            if a == b:
                continue
            x, y = _number(a), _number(b)
            if x is None or y is None or not self._close(x, y):
                return False
        return True

    def _close(self, x: float, y: float) -> bool:
        return math.isclose(x, y, rel_tol=self.rel_tol, abs_tol=self.abs_tol)

    # -- values (call-based tests) --------------------------------------------------------
    def value(self, actual: Any, expected: Any) -> bool:
        if self._value(actual, expected):
            return True
        return isinstance(expected, list) and len(expected) == 1 and self._value(actual, expected[0])

    def _value(self, a: Any, b: Any) -> bool:
        if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
            return len(a) == len(b) and all(self._value(x, y) for x, y in zip(a, b))
        if isinstance(a, dict) and isinstance(b, dict):
            return a.keys() == b.keys() and all(self._value(a[k], b[k]) for k in a)
        if isinstance(a, str) and isinstance(b, str) and self.mode != "exact":
            return _lines(a) == _lines(b)
        if self.mode == "float" and _is_number(a) and _is_number(b):
            return self._close(float(a), float(b))
        if isinstance(a, bool) != isinstance(b, bool):
            return False  # True == 1 in Python; an answer of 1 for an expected True is wrong
        return a == b


def _lines(text: str) -> list[str]:
    lines = [" ".join(line.split()) for line in text.replace("\r\n", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _number(token: str) -> float | None:
    try:
        value = float(token)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)
