"""Bug injection by AST mutation, in the spirit of SWE-smith's procedural bugs.

Each mutation is one small text edit at the exact source span of an AST node, so the rest of the
file keeps its formatting and the task's diff is a line or two (``ast.unparse`` would rewrite the
whole file). Kinds:

- ``flip_comparison``: ``<`` <-> ``>=``, ``<=`` <-> ``>``, ``==`` <-> ``!=``, ``in`` <-> ``not in``,
  ``is`` <-> ``is not``;
- ``off_by_one``: an integer literal ``n`` in a comparison, subscript, slice, range() or
  arithmetic becomes ``n + 1`` (or ``n - 1``);
- ``drop_branch``: an ``if`` whose test becomes ``False`` (its body never runs; else still does);
- ``swap_args``: the first two positional arguments of a call trade places.
"""

from __future__ import annotations

import ast
import random
from dataclasses import dataclass

KINDS = ("flip_comparison", "off_by_one", "drop_branch", "swap_args")
_FLIP = {ast.Lt: ">=", ast.GtE: "<", ast.LtE: ">", ast.Gt: "<=", ast.Eq: "!=", ast.NotEq: "==",
         ast.In: "not in", ast.NotIn: "in", ast.Is: "is not", ast.IsNot: "is"}


@dataclass(frozen=True)
class Mutation:
    path: str  # repo-relative file
    kind: str
    line: int
    start: int  # character offsets into the file's text
    end: int
    replacement: str
    description: str

    def apply(self, text: str) -> str:
        return text[: self.start] + self.replacement + text[self.end :]


def _offsets(text: str) -> list[int]:
    starts, pos = [0], 0
    for line in text.splitlines(keepends=True):
        pos += len(line)
        starts.append(pos)
    return starts


def _span(node: ast.AST, line_starts: list[int], text: str) -> tuple[int, int]:
    # ast offsets are UTF-8 byte columns; convert through the line's bytes
    def at(lineno: int, col: int) -> int:
        line = text[line_starts[lineno - 1] : line_starts[lineno] if lineno < len(line_starts) else len(text)]
        return line_starts[lineno - 1] + len(line.encode()[:col].decode(errors="ignore"))

    return at(node.lineno, node.col_offset), at(node.end_lineno, node.end_col_offset)


def candidates(path: str, text: str) -> list[Mutation]:
    """Every mutation of ``text`` (a module at ``path``) this module knows, in source order."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return []
    starts = _offsets(text)
    out: list[Mutation] = []
    int_parents: dict[int, ast.AST] = {}
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            int_parents[id(child)] = node
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _FLIP:
            left_end = _span(node.left, starts, text)[1]
            right_start = _span(node.comparators[0], starts, text)[0]
            gap = text[left_end:right_start]
            new_op = _FLIP[type(node.ops[0])]
            stripped = gap.strip()
            if stripped and "\n" not in gap and "#" not in gap:
                lead = gap[: len(gap) - len(gap.lstrip())]
                trail = gap[len(gap.rstrip()):]
                out.append(Mutation(path, "flip_comparison", node.lineno, left_end, right_start,
                                    f"{lead}{new_op}{trail}", f"`{stripped}` became `{new_op}`"))
        elif isinstance(node, ast.Constant) and type(node.value) is int and 0 <= node.value <= 64:
            parent = int_parents.get(id(node))
            call_range = isinstance(parent, ast.Call) and isinstance(parent.func, ast.Name) and parent.func.id == "range"
            if isinstance(parent, (ast.Compare, ast.Subscript, ast.Slice, ast.BinOp)) or call_range:
                a, b = _span(node, starts, text)
                if text[a:b] == str(node.value):
                    new = node.value + 1 if node.value in (0, 1) or node.lineno % 2 else node.value - 1
                    out.append(Mutation(path, "off_by_one", node.lineno, a, b, str(new), f"`{node.value}` became `{new}`"))
        elif isinstance(node, ast.If):
            a, b = _span(node.test, starts, text)
            if "\n" not in text[a:b]:
                out.append(Mutation(path, "drop_branch", node.lineno, a, b, "False", f"branch `if {text[a:b]}` dropped"))
        elif isinstance(node, ast.Call) and len(node.args) >= 2 and not any(isinstance(x, ast.Starred) for x in node.args[:2]):
            (a0, b0), (a1, b1) = _span(node.args[0], starts, text), _span(node.args[1], starts, text)
            first, between, second = text[a0:b0], text[b0:a1], text[a1:b1]
            if first != second and "\n" not in text[a0:b1]:
                out.append(Mutation(path, "swap_args", node.lineno, a0, b1, f"{second}{between}{first}",
                                    f"arguments `{first}` and `{second}` swapped"))
    out.sort(key=lambda m: (m.start, m.kind))
    return out


def sample(mutations: list[Mutation], n: int, seed: int) -> list[Mutation]:
    """Up to ``n`` mutations, spread over kinds (round robin) and files, reproducibly."""
    rng = random.Random(seed)
    by_kind = {k: [m for m in mutations if m.kind == k] for k in KINDS}
    for ms in by_kind.values():
        rng.shuffle(ms)
    picked: list[Mutation] = []
    while len(picked) < n and any(by_kind.values()):
        for k in KINDS:
            if by_kind[k] and len(picked) < n:
                picked.append(by_kind[k].pop())
    return picked
