"""Which part of a response is the program: the last fenced code block, else the whole text."""

from __future__ import annotations

import re
from dataclasses import dataclass

# A fence is three or more backticks or tildes at the start of a line; it closes with the same
# character, at least as long (CommonMark). The info string's first word is the language.
_OPEN = re.compile(r"^[ \t]{0,3}(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\n`]*)$", re.MULTILINE)

_ALIASES = {"python": "python", "py": "python", "python3": "python", "c": "c", "cpp": "cpp", "c++": "cpp",
            "cc": "cpp", "cxx": "cpp"}


@dataclass(frozen=True)
class Program:
    source: str
    fenced: bool  # False: no complete fenced block, the whole response is the program
    language: str | None  # from the fence's info string, when it names a known language


def extract_program(response: str) -> Program:
    blocks = []
    pos = 0
    while True:
        m = _OPEN.search(response, pos)
        if m is None:
            break
        fence = m.group("fence")
        close = re.compile(rf"^[ \t]{{0,3}}{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$", re.MULTILINE)
        end = close.search(response, m.end())
        if end is None:
            break
        body = response[m.end() + 1: end.start()] if m.end() < len(response) else ""
        info = m.group("info").strip().split()
        blocks.append((body, _ALIASES.get(info[0].lower()) if info else None))
        pos = end.end()
    if not blocks:
        return Program(response, False, None)
    body, language = blocks[-1]
    return Program(body, True, language)
