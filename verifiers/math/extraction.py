"""Find the final answer in a model's free-text response. Pure string code: no sympy, so it runs
in the calling process on any input size in linear time.

Order of preference (the first that finds something wins):

1. ``boxed``       the last ``\\boxed{...}`` / ``\\fbox{...}`` (nested braces handled; also the
                   brace-less ``\\boxed 5``). Only this method earns the format component.
2. ``answer_line`` the last line holding ``Answer:`` / ``final answer is`` / ``answer is``; the text
                   after the marker, with math delimiters and a trailing full stop removed.
3. ``last_math``   the last math span (``$...$``, ``$$...$$``, ``\\(...\\)``, ``\\[...\\]``): what
                   math-verify falls back to, and what "Therefore $x \\geq 5$." means.
4. ``last_number`` the last number in the text (``-3``, ``1,000``, ``2.5``, ``3/4``, ``1.2e5``).
5. ``none``        nothing answer-like.

Several boxes in a row separated only by commas, "and", ``\\quad`` and the like
(``\\boxed{1}, \\boxed{2}``) are one answer, joined with commas; boxes separated by prose are not
(the last one is the answer). An ``Answer:`` line written after the last box wins over the box.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

BOXED = "boxed"
ANSWER_LINE = "answer_line"
LAST_MATH = "last_math"
LAST_NUMBER = "last_number"
NONE = "none"

_BOX_COMMANDS = ("\\boxed", "\\fbox")
# A tail of this size holds any sane final answer; scanning only the tail keeps a 1 MB response
# cheap for the regex-based methods (boxed search is a linear rfind over the whole text).
_TAIL_CHARS = 20_000

_ANSWER_MARKER = re.compile(r"(?i)(?:final\s+answer\s*(?:is|:)|\banswer\s*(?:is|:))[ \t]*:?")
# A number may be followed by a unit ("1,000.99m"), never preceded by a letter ("XY2K" has none).
_NUMBER = re.compile(
    r"-?\\[dt]?frac\{\d+\}\{\d+\}"
    r"|(?<![\w.])-?(?:\d{1,3}(?:,\d{3})+(?![\d])|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?(?:\s*/\s*\d+)?(?!\d|\.\d)"
    r"|(?<![\w.])-?\.\d+(?![\d])"
)


_MATH_SPAN = re.compile(
    r"(?<!\\)\$\$(.+?)(?<!\\)\$\$|\\\[(.+?)\\\]|\\\((.+?)\\\)|(?<![\\$])\$((?:\\\$|[^$\n])+?)(?<!\\)\$",
    re.DOTALL,
)
# What may sit between two boxes that together form one answer.
_BOX_SEPARATOR = re.compile(r"(?:\s|[,;$]|\\quad|\\qquad|\\[,;! ]|\\[()\[\]]|\\text\{\s*(?:and|or|,)?\s*\}|\band\b|\bor\b)*")


@dataclass(frozen=True)
class Extraction:
    """What was taken from the response and how. ``text`` is ``""`` when ``method == "none"``;
    ``source`` is the literal span it came from (e.g. ``\\boxed{5}``), for feedback."""

    text: str
    method: str
    source: str = ""

    @property
    def found(self) -> bool:
        return self.method != NONE and bool(self.text.strip())


def _match_brace(text: str, open_pos: int) -> int:
    """Index of the ``}`` closing the ``{`` at ``open_pos``, or -1 when unbalanced."""
    depth = 0
    i = open_pos
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\":  # an escaped brace \{ \} does not count
            i += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def find_boxed(text: str) -> list[tuple[int, str, str]]:
    """All ``(start, content, source)`` of boxed answers, in order of appearance."""
    found: list[tuple[int, str, str]] = []
    for cmd in _BOX_COMMANDS:
        start = text.find(cmd)
        while start != -1:
            after = start + len(cmd)
            # \boxedfoo is another command, not a box
            if after < len(text) and (text[after].isalpha()):
                start = text.find(cmd, after)
                continue
            j = after
            while j < len(text) and text[j] in " \t":
                j += 1
            if j < len(text) and text[j] == "{":
                end = _match_brace(text, j)
                if end != -1:
                    found.append((start, text[j + 1 : end].strip(), text[start : end + 1]))
                    start = text.find(cmd, end)
                    continue
            elif j > after:  # \boxed 5: a single token follows the space
                m = re.match(r"[^\s$.,;]+", text[j:])
                if m:
                    found.append((start, m.group(0), text[start : j + m.end()]))
            start = text.find(cmd, after)
    found.sort(key=lambda t: t[0])
    return found


def _last_box_group(text: str, boxes: list[tuple[int, str, str]]) -> tuple[str, str, int]:
    """The last box joined with the boxes just before it that only separators divide from it;
    returns (content, source, end offset)."""
    start, content, source = boxes[-1]
    end = start + len(source)
    group = [content]
    for prev_start, prev_content, prev_source in reversed(boxes[:-1]):
        between = text[prev_start + len(prev_source) : start]
        if _BOX_SEPARATOR.fullmatch(between) is None:
            break
        group.insert(0, prev_content)
        start = prev_start
    return ", ".join(group), text[start:end], end


def _strip_math(s: str) -> str:
    """Remove surrounding math delimiters, bold markers and a trailing full stop."""
    s = s.strip()
    for _ in range(3):
        before = s
        s = s.strip().strip("*").strip()
        if s.endswith("."):
            s = s[:-1].rstrip()
        for left, right in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
            if s.startswith(left) and s.endswith(right) and len(s) >= len(left) + len(right):
                s = s[len(left) : len(s) - len(right)].strip()
                break
        if s == before:
            break
    return s


def find_answer_line(text: str) -> tuple[str, str] | None:
    """The answer after the last ``Answer:`` / ``final answer is`` marker (rest of that line)."""
    tail = text[-_TAIL_CHARS:]
    last = None
    for m in _ANSWER_MARKER.finditer(tail):
        last = m
    if last is None:
        return None
    rest = tail[last.end() :]
    line = rest.split("\n", 1)[0]
    # "The final answer is $5$. I hope it is correct." (the Minerva format)
    line = re.split(r"(?i)\.\s+I hope", line)[0]
    answer = _strip_math(line)
    if not answer:
        return None
    return answer, (tail[last.start() : last.end()] + line).strip()


def find_last_math(text: str) -> tuple[str, str] | None:
    tail = text[-_TAIL_CHARS:]
    last = None
    for m in _MATH_SPAN.finditer(tail):
        if next(g for g in m.groups() if g is not None).strip():
            last = m
    if last is None:
        return None
    return _strip_math(next(g for g in last.groups() if g is not None)), last.group(0)


def find_last_number(text: str) -> str | None:
    tail = text[-_TAIL_CHARS:]
    last = None
    for m in _NUMBER.finditer(tail):
        last = m
    return None if last is None else last.group(0)


def extract_answer(text: str) -> Extraction:
    """The response's final answer (see the module docstring for the order)."""
    boxed = find_boxed(text)
    line = find_answer_line(text)
    if boxed:
        content, source, end = _last_box_group(text, boxed)
        if line is None or text.rfind(line[1]) < end:
            return Extraction(content, BOXED, source)
    if line is not None:
        return Extraction(line[0], ANSWER_LINE, line[1])
    math = find_last_math(text)
    if math is not None:
        return Extraction(math[0], LAST_MATH, math[1])
    number = find_last_number(text)
    if number is not None:
        return Extraction(number, LAST_NUMBER, number)
    return Extraction("", NONE)


def extract_gold(gold: str) -> str:
    """The gold as one answer string: the last boxed content if the gold is written as a solution
    with a box, else the gold without surrounding math delimiters."""
    boxed = find_boxed(gold)
    if boxed:
        return _last_box_group(gold, boxed)[0]
    return _strip_math(gold)
