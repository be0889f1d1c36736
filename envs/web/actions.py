"""The agent's actions, parsed strictly from text (BrowserGym's names, one call per step).

``ast.parse`` reads the text as one call expression and only literal arguments are accepted: no
name lookup, attribute, operator or nested call is ever evaluated, so agent text cannot run code.
A fenced code block around the call is allowed (models write them); anything else around it is not.

    click(id)  fill(id, "text")  select(id, "option")  press("Enter") / press(id, "Enter")
    scroll("down") / scroll(dx, dy)  goto("/path" or "http://127.0.0.1:port/path")  back()  answer("text")
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

MAX_ACTION_CHARS = 10_000
KEYS = frozenset(["Enter", "Tab", "Escape", "Backspace", "Delete", "Space", "ArrowUp", "ArrowDown", "ArrowLeft",
                  "ArrowRight", "Home", "End", "PageUp", "PageDown"])
SCROLLS = {"down": (0, 600), "up": (0, -600), "right": (600, 0), "left": (-600, 0)}
_FENCE = re.compile(r"^```[a-zA-Z]*\n(.*?)\n?```$", re.S)


class ActionError(ValueError):
    """The action text is not a valid action; the message says what is accepted."""


@dataclass(frozen=True)
class Action:
    name: str
    bid: int | None = None
    text: str = ""  # fill text, select option, key, goto URL, answer
    dx: int = 0
    dy: int = 0


# name -> argument kinds in order ("id", "str", "int"); press and scroll have two forms
SIGNATURES: dict[str, tuple[tuple[str, ...], ...]] = {
    "click": (("id",),),
    "fill": (("id", "str"),),
    "select": (("id", "str"),),
    "press": (("str",), ("id", "str")),
    "scroll": (("str",), ("int", "int")),
    "goto": (("str",),),
    "back": ((),),
    "answer": (("str",),),
}
USAGE = ("one action such as click(3), fill(5, \"text\"), select(7, \"option\"), press(\"Enter\"), scroll(\"down\"), "
         "goto(\"/path\"), back() or answer(\"text\")")


def parse_action(text: str) -> Action:
    if not isinstance(text, str):
        raise ActionError(f"an action is text, got {type(text).__name__}")
    text = text.strip()
    if len(text) > MAX_ACTION_CHARS:
        raise ActionError(f"action is {len(text)} characters; the limit is {MAX_ACTION_CHARS}")
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1).strip()
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        raise ActionError(f"could not read {text[:60]!r}: write {USAGE}") from None
    call = tree.body
    if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name) or call.keywords:
        raise ActionError(f"expected a call like click(3), got {text[:60]!r}: write {USAGE}")
    name = call.func.id
    if name not in SIGNATURES:
        raise ActionError(f"unknown action {name!r}: write {USAGE}")
    args = []
    for arg in call.args:
        value = arg.operand.value if (isinstance(arg, ast.UnaryOp) and isinstance(arg.op, ast.USub)
                                      and isinstance(arg.operand, ast.Constant)) else getattr(arg, "value", None)
        if not isinstance(arg, (ast.Constant, ast.UnaryOp)) or isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ActionError(f"{name}(): arguments must be numbers or quoted strings")
        if isinstance(arg, ast.UnaryOp):
            value = -value
        args.append(value)
    for signature in SIGNATURES[name]:
        if len(signature) == len(args) and all(_fits(kind, v) for kind, v in zip(signature, args)):
            return _build(name, signature, args)
    forms = " or ".join(f"{name}({', '.join(s)})" for s in SIGNATURES[name])
    raise ActionError(f"{name}() takes {forms}; got {len(args)} argument(s)")


def _fits(kind: str, value: int | str) -> bool:
    if kind == "id":
        return (isinstance(value, int) and value >= 1) or (isinstance(value, str) and value.isdigit() and int(value) >= 1)
    if kind == "int":
        return isinstance(value, int) and abs(value) <= 100_000
    return isinstance(value, str)


def _build(name: str, signature: tuple[str, ...], args: list) -> Action:
    bid = int(args[0]) if signature and signature[0] == "id" else None
    if name == "press":
        key = args[-1]
        if key not in KEYS:
            raise ActionError(f"press(): unknown key {key!r}; keys: {', '.join(sorted(KEYS))}")
        return Action(name, bid, key)
    if name == "scroll":
        if signature == ("str",):
            if args[0] not in SCROLLS:
                raise ActionError(f"scroll(): direction must be one of {sorted(SCROLLS)}")
            dx, dy = SCROLLS[args[0]]
        else:
            dx, dy = args
        return Action(name, dx=dx, dy=dy)
    if name in ("goto", "answer"):
        return Action(name, text=args[0])
    if name in ("fill", "select"):
        return Action(name, bid, args[1])
    return Action(name, bid)
