"""Parse gold and answer with math-verify and decide equivalence. Runs inside a worker process
(:mod:`worker`): it imports sympy and math_verify, never torch, and may be killed at any time.

What this adds to math-verify, and why:

- **Exact numbers compare exactly.** math-verify evaluates ``a - b`` to 15 digits with
  ``chop=True``, so ``1/2004!`` equals ``1/2006!`` and ``1/2^{99}`` equals ``1/2^{98}``; it also
  rounds decimals to 6 places, so ``1e-10`` equals ``2e-10``. :func:`numbers_close` replaces its
  ``sympy_numeric_eq``: rationals (factorials, powers) are compared with exact arithmetic; exact
  irrationals to a relative 1e-40 at 50 digits; when a side is a decimal, the decimal is taken
  exactly (``0.333333`` is 333333/10^6) and the sides must agree to a *relative* ``rel_tol``
  (default 1e-6: ``0.333333`` matches 1/3, ``0.3333`` does not). There is no absolute rounding.
- **Percent.** ``x%`` stands for ``x/100`` or, as a unit on one side only, for ``x``: ``50\\%``
  matches ``0.5``, ``\\frac{1}{2}`` and ``50``; ``50\\%`` vs ``0.5\\%`` compares 50 with 0.5.
- **Units.** :mod:`annotations` turns unit words into marker symbols; :func:`expr_eq` erases them
  from a side whose counterpart has none, at every level of a tuple / set / interval.
- **Scientific notation** ``1.2e5`` is read as ``1.2\\times10^{5}`` (LaTeX parsing reads ``e`` as
  Euler's number).

These are installed by patching two functions of ``math_verify.grader``; math-verify's own
recursion (sets, tuples, intervals, matrices, relations) then uses them at every level. The patch
is only applied in the worker process (see :func:`install`), never in the caller.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache

import math_verify.grader as grader
from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify
from sympy import Basic, Float, Interval, Mul, Rational, Symbol, Tuple, UnevaluatedExpr
from sympy.matrices import MatrixBase

from .annotations import UNIT_PREFIX, annotate

_EXACT_REL = Rational(1, 10**40)  # "equal" for exact irrationals evaluated to 50 digits
_PCT = UnevaluatedExpr(Rational(1, 100))
_SCI = re.compile(r"(?<![\w.\\])(\d+(?:\.\d+)?)[eE]([-+]?\d+)(?![\w.])")

_state = {"rel_tol": Rational(1, 10**6)}


def _is_unit(s: Basic) -> bool:
    return isinstance(s, Symbol) and s.name.startswith(f"u_{{{UNIT_PREFIX}")


def unit_symbols(expr) -> set:
    try:
        return {s for s in expr.free_symbols if _is_unit(s)}
    except Exception:
        return set()


def _pct_value(expr):
    """``x`` when ``expr`` is latex2sympy's percent form ``x * UnevaluatedExpr(1/100)``."""
    if isinstance(expr, Mul) and len(expr.args) == 2 and _PCT in expr.args:
        return expr.args[0] if expr.args[1] == _PCT else expr.args[1]
    return None


def _exact(expr):
    """Every Float replaced by the rational it spells (Float('0.1') is exactly 1/10 here)."""
    floats = expr.atoms(Float)
    return expr.xreplace({f: Rational(str(f)) for f in floats}) if floats else expr


def numbers_close(a, b) -> bool:
    """The equality of two numeric values described in the module docstring."""
    a, b = grader.safe_sympy_doit(a), grader.safe_sympy_doit(b)
    if not (isinstance(a, Basic) and isinstance(b, Basic) and a.is_number and b.is_number):
        return False
    decimal = a.has(Float) or b.has(Float)
    if decimal:
        a, b = _exact(a), _exact(b)
    tol = _state["rel_tol"] if decimal else 0
    d = a - b
    if d.is_Rational and a.is_Rational and b.is_Rational:
        return bool(d == 0) if tol == 0 else bool(abs(d) <= tol * max(abs(a), abs(b)))
    fa, fb = a.evalf(50), b.evalf(50)
    try:
        scale = max(abs(fa), abs(fb))
        if scale == 0:
            return True
        return bool(abs(fa - fb) <= (tol or _EXACT_REL) * scale)
    except TypeError:  # nan, zoo, or something that does not order
        return False


def numeric_eq(a, b, float_rounding: int = 6, numeric_precision: int = 15) -> bool:
    """Replacement for ``math_verify.grader.sympy_numeric_eq`` (same signature)."""
    if isinstance(a, MatrixBase) or isinstance(b, MatrixBase):
        a, b = grader.safe_sympy_doit(a), grader.safe_sympy_doit(b)
        if isinstance(a, MatrixBase) and isinstance(b, MatrixBase) and a.shape == b.shape:
            return all(numeric_eq(x, y) for x, y in zip(a, b, strict=True))
        return False
    pa, pb = _pct_value(a), _pct_value(b)
    if pa is not None and pb is not None:
        return numbers_close(pa, pb)
    if pa is not None:
        return numbers_close(pa / 100, b) or numbers_close(pa, b)
    if pb is not None:
        return numbers_close(a, pb / 100) or numbers_close(a, pb)
    return numbers_close(a, b)


_original_expr_eq = grader.sympy_expr_eq


def _strip_units(expr, units: set):
    """``expr`` with unit markers set to 1. ``(5 cm, 3 cm)`` parses as an open interval whose
    ends happen to be unordered; without units it would collapse to the empty set, so an open
    interval becomes the pair it was written as (math-verify compares open intervals and pairs)."""
    if isinstance(expr, Interval) and expr.left_open and expr.right_open:
        return Tuple(*(e.xreplace({u: 1 for u in units}) for e in (expr.start, expr.end)))
    return expr.xreplace({u: 1 for u in units})


class ResourceExhausted(BaseException):
    """Raised through math-verify, whose ``except Exception`` would turn a MemoryError or
    RecursionError into a silent "not equal"; the worker reports it as an error instead."""


def expr_eq(gold, pred, *args, **kwargs) -> bool:
    """``sympy_expr_eq`` that first erases unit markers from a side whose counterpart has none."""
    gu, pu = unit_symbols(gold), unit_symbols(pred)
    try:
        if gu and not pu:
            gold = _strip_units(gold, gu)
        elif pu and not gu:
            pred = _strip_units(pred, pu)
    except Exception:
        pass
    try:
        return _original_expr_eq(gold, pred, *args, **kwargs)
    except (MemoryError, RecursionError) as e:
        raise ResourceExhausted(f"{type(e).__name__} while comparing") from None


def install() -> None:
    """Patch math-verify in this process (idempotent). Called by the worker only."""
    grader.sympy_numeric_eq = numeric_eq
    grader.sympy_expr_eq = expr_eq
    logging.getLogger("math_verify").setLevel(logging.ERROR)  # no timeout-disabled warnings


# Digit-group commas: "16,\!386" anywhere (LaTeX's way to write them); a plain "7,425,000" only
# when it is the whole answer, since "(12,102)" is a pair and "32, 349" a list.
_LATEX_THOUSANDS = re.compile(r"(?<=\d),\\!\s*(?=\d{3}(?!\d))")
_PLAIN_THOUSANDS = re.compile(r"\s*(?:\\\$|\$)?\s*-?\d{1,3}(?:,\d{3})+(?:\.\d+)?\s*")
_PROSE = re.compile(r"[A-Za-z]{3,}\s+[A-Za-z]{2,}\s+[A-Za-z]{2,}")


def prepare(text: str) -> str:
    """Rewrite units, scientific notation and digit-group commas; wrap a bare answer in ``$..$``
    so that math-verify's LaTeX extraction reads all of it. Text with its own math delimiters, or
    prose ("Jane started 3 hours ago"), is left to math-verify's extraction as is."""
    text = _SCI.sub(r"\1\\times 10^{\2}", annotate(text))
    text = _LATEX_THOUSANDS.sub("", text)
    if _PLAIN_THOUSANDS.fullmatch(text):
        text = text.replace(",", "")
    unescaped = text.replace("\\$", "")
    if any(m in unescaped for m in ("$", "\\(", "\\[", "\\boxed", "\\fbox")):
        return text
    if _PROSE.search(re.sub(r"\\text\{[^{}]*\}", "", text)):
        return text
    return "$" + text.replace("\n", " ") + "$"


_CONFIG = (LatexExtractionConfig(), ExprExtractionConfig())


@lru_cache(maxsize=256)  # golds repeat across a group of samples
def parse_answer(text: str) -> tuple:
    return tuple(parse(prepare(text), list(_CONFIG), parsing_timeout=None))


def _units(text: str) -> set[str]:
    return set(re.findall(r"u_\{" + UNIT_PREFIX + r"(\w+)\}", annotate(text)))


def judge(gold: str, answer: str, rel_tol: float = 1e-6) -> dict:
    """Compare two answer strings. Returns ``{"status", "match", "gold_parsed", "answer_parsed",
    "reason"}``; ``status`` is ``"ok"``, ``"bad_gold"`` or ``"unparsed"`` (answer not parseable)."""
    install()
    _state["rel_tol"] = Rational(str(rel_tol))
    gold_parsed = parse_answer(gold)
    if not any(not isinstance(g, str) for g in gold_parsed):  # only math-verify's string fallback
        return {"status": "bad_gold", "match": False, "gold_parsed": "", "answer_parsed": "", "reason": "gold could not be parsed"}
    answer_parsed = parse_answer(answer)
    shown_gold = str(gold_parsed[0])
    if not answer_parsed:
        return {"status": "unparsed", "match": False, "gold_parsed": shown_gold, "answer_parsed": "", "reason": "answer could not be parsed"}
    match = verify(list(gold_parsed), list(answer_parsed), timeout_seconds=None)
    reason = ""
    if not match:
        gu, au = _units(gold), _units(answer)
        if gu and au and gu != au:
            reason = f"units differ ({', '.join(sorted(gu))} vs {', '.join(sorted(au))})"
        else:
            reason = "not equivalent"
    return {"status": "ok", "match": bool(match), "gold_parsed": shown_gold, "answer_parsed": str(answer_parsed[0]), "reason": reason}
