"""Scripted oracles (BrowserGym's ``cheat()``): each task's solution written as steps that name
elements by role and accessible name; the oracle turns the next step into an action for the page
the agent is on, with that page's element ids. It acts through the same actions an agent has.

Steps (JSON lists): ``["click", role, name]``, ``["fill", name, text]``, ``["select", name, option]``,
``["press", name, key]``, ``["goto", path]``, ``["back"]``, ``["answer", text]``.
"""

from __future__ import annotations

import json

from assay.envs.web.observe import Page

STEP_ARITY = {"click": 2, "fill": 2, "select": 2, "press": 2, "goto": 1, "back": 0, "answer": 1}


class OracleError(RuntimeError):
    """The scripted step does not fit the page (the task's oracle is out of date)."""


def check_steps(steps: object, where: str) -> list[list[str]]:
    if not isinstance(steps, list) or not steps:
        raise ValueError(f"{where}: oracle must be a non-empty list of steps")
    for i, step in enumerate(steps):
        if (not isinstance(step, list) or not step or step[0] not in STEP_ARITY or len(step) != STEP_ARITY[step[0]] + 1
                or not all(isinstance(x, str) for x in step)):
            raise ValueError(f"{where}: oracle step {i} {step!r} is not one of {sorted(STEP_ARITY)} with its arguments")
    if steps[-1][0] != "answer":
        raise ValueError(f"{where}: the oracle's last step must be answer(...), which ends the episode")
    return steps


def _find(page: Page, name: str, roles: tuple[str, ...]) -> int:
    for element in page.elements:
        if element.name == name and element.role in roles:
            return element.bid
    raise OracleError(f"no {'/'.join(roles)} named {name!r} on {page.url}")


def action_for(step: list[str], page: Page) -> str:
    kind, *args = step
    quote = json.dumps  # a JSON string is a valid Python string literal, which parse_action reads
    if kind == "click":
        return f"click({_find(page, args[1], (args[0],))})"
    if kind == "fill":
        return f"fill({_find(page, args[0], ('textbox',))}, {quote(args[1])})"
    if kind == "select":
        return f"select({_find(page, args[0], ('combobox',))}, {quote(args[1])})"
    if kind == "press":
        return f"press({_find(page, args[0], ('textbox', 'combobox', 'button', 'link'))}, {quote(args[1])})"
    if kind == "goto":
        return f"goto({quote(args[0])})"
    if kind == "back":
        return "back()"
    return f"answer({quote(args[0])})"
