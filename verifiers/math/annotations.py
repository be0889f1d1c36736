"""Units and multiplier words in an answer, made explicit before math-verify sees them.

Why: math-verify drops ``\\text{...}`` / ``\\mathrm{...}`` at the end of an answer, so it says
``5\\text{ cm}`` equals ``5\\text{ mm}`` and ``5\\text{ million}`` equals ``5\\text{ thousand}``.
Here each recognised word is rewritten into the LaTeX that math-verify parses faithfully:

- a unit (``cm``, ``\\mathrm{kg}``, ``\\text{ square meters}``, ``miles``) becomes a marker symbol
  ``u_{unitcm}`` multiplied in, so that sympy keeps it. :mod:`compare` later erases markers from a
  side that has none on the other (gold ``5``, response ``5\\text{ cm}`` still match) and keeps
  them when both sides carry units (``5 cm`` vs ``5 mm`` then differ, also inside tuples and sets).
  Units are not converted: ``50 cm`` does not match ``0.5 m``.
- a multiplier (``thousand``, ``million``, ``billion``, ``trillion``) is a number: ``\\times 10^{6}``.
  So ``5 million`` matches ``5000000`` and not ``5 thousand`` nor ``5``.
- ``percent`` / ``pct`` become ``\\%`` (math-verify's own percent), judged in :mod:`compare`.

Text that is not made only of such words (``\\text{no solution}``, ``\\text{odd}``) is left alone:
math-verify turns it into symbols, which only match the same words.
"""

from __future__ import annotations

import re

UNIT_PREFIX = "unit"  # marker symbols are u_{unit<name>}

# canonical name -> spellings (singular; plural "s"/"es" accepted). Only words that are units
# in every context: single letters such as "m" or "s" count only inside \text{}/\mathrm{}.
_UNITS: dict[str, tuple[str, ...]] = {
    "mm": ("mm", "millimeter", "millimetre"),
    "cm": ("cm", "centimeter", "centimetre"),
    "m": ("m", "meter", "metre"),
    "km": ("km", "kilometer", "kilometre"),
    "in": ("inch", "inches"),
    "ft": ("ft", "foot", "feet"),
    "yd": ("yd", "yard"),
    "mi": ("mile",),
    "mg": ("mg", "milligram"),
    "g": ("g", "gram"),
    "kg": ("kg", "kilogram"),
    "lb": ("lb", "lbs", "pound"),
    "ml": ("ml", "mL", "milliliter", "millilitre"),
    "l": ("L", "liter", "litre"),
    "s": ("s", "sec", "second"),
    "min": ("min", "minute"),
    "h": ("h", "hr", "hour"),
    "day": ("day",),
    "week": ("week",),
    "month": ("month",),
    "yr": ("year", "yr"),
    "deg": ("degree", "deg"),
    "rad": ("rad", "radian"),
    "usd": ("dollar",),
    "cent": ("cent",),
    "yuan": ("yuan",),
    "euro": ("euro",),
    "mph": ("mph",),
    "kmh": ("kmh", "kmph"),
}
_MULTIPLIERS = {"thousand": 3, "million": 6, "billion": 9, "trillion": 12}
_PERCENT = {"percent", "percentage", "pct"}
_FILLER = {"square", "sq", "cubic", "cu", "per", "a", "an", "the"}  # allowed around unit words

_LOOKUP: dict[str, str] = {}
for _name, _spellings in _UNITS.items():
    for _sp in _spellings:
        for _suffix in ("", "s", "es"):
            _LOOKUP.setdefault(_sp + _suffix, _name)
# Bare words after a number ("5 cm", "3 miles"): only unambiguous ones, never single letters.
_BARE_WORDS = {w for w in _LOOKUP if len(w) >= 2} | set(_MULTIPLIERS) | _PERCENT

_TEXT_CMD = re.compile(r"\\(?:text(?:normal|rm|bf|it|up)?|mathrm|mbox|textsf|mathbf)\s*\{([^{}]*)\}")
_BARE = re.compile(r"(?<=[\d}\s])\s*\b([A-Za-z]+(?:\s+[A-Za-z]+)?)\b(?=\s*(?:\^\{?\d\}?)?\s*(?:$|[,;)\]}]|\\\}|\\quad|\\text))")


def _classify(words: list[str]) -> str | None:
    """LaTeX replacing a run of words, or None when the words are not all units/multipliers."""
    out: list[str] = []
    meaningful = False
    for w in words:
        lw = w.lower()
        if lw in _MULTIPLIERS:
            out.append(f"\\times 10^{{{_MULTIPLIERS[lw]}}}")
            meaningful = True
        elif lw in _PERCENT:
            out.append("\\%")
            meaningful = True
        elif w in _LOOKUP or lw in _LOOKUP:
            out.append(f"\\cdot u_{{{UNIT_PREFIX}{_LOOKUP.get(w, _LOOKUP.get(lw))}}}")
            meaningful = True
        elif lw in _FILLER:
            continue
        else:
            return None
    return " ".join(out) if meaningful else None


def _replace_text(m: re.Match) -> str:
    words = re.findall(r"[A-Za-z]+|%", m.group(1))
    if not words:
        return m.group(0)
    replaced = _classify(["percent" if w == "%" else w for w in words])
    return m.group(0) if replaced is None else " " + replaced + " "


def _replace_bare(m: re.Match) -> str:
    words = m.group(1).split()
    if not all(w.lower() in _BARE_WORDS or w.lower() in _FILLER for w in words):
        return m.group(0)
    replaced = _classify(words)
    return m.group(0) if replaced is None else " " + replaced


def annotate(latex: str) -> str:
    """``latex`` with unit / multiplier / percent words rewritten (see the module docstring)."""
    out = _TEXT_CMD.sub(_replace_text, latex)
    return _BARE.sub(_replace_bare, out)


def has_units(latex: str) -> bool:
    return f"u_{{{UNIT_PREFIX}" in latex
