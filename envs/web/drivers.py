"""What both drivers share: checking an action against the last observation, and URLs.

A driver turns actions into page changes and pages into observations. ``TextDriver``
(``text_driver.py``) speaks HTTP and parses HTML; ``BrowserDriver`` (``browser_driver.py``) drives
Chromium. Both check every action here first, so the same mistake gives the same error in both.
"""

from __future__ import annotations

from typing import Protocol
from urllib.parse import urljoin, urlsplit

from assay.envs.web.actions import Action, ActionError
from assay.envs.web.observe import Element, Page


class Driver(Protocol):
    page: Page  # the last observation

    def open(self, url: str) -> None: ...
    def login(self, path: str, fields: dict[str, str]) -> None: ...
    def act(self, action: Action) -> None: ...
    def tabs(self) -> tuple[list[str], int]: ...
    def close(self) -> None: ...


def same_origin(base: str, url: str) -> bool:
    a, b = urlsplit(base), urlsplit(url)
    return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)


def resolve_url(base: str, current: str, target: str) -> str:
    """An absolute URL on the site for ``target`` (a path or a full URL); anything that leaves the
    site (another host or port, ``javascript:``, ``file:``, ``data:``) is an ActionError."""
    url = urljoin(current or base, target.strip())
    if not same_origin(base, url):
        raise ActionError(f"{target[:80]!r} is not on this site ({base}); only its pages can be opened")
    return url


ROLES_FOR = {"fill": ("textbox",), "select": ("combobox",)}


def target(page: Page, action: Action) -> Element | None:
    """The element an action names, checked: it exists, is enabled and fits the action."""
    if action.bid is None:
        return None
    element = page.element(action.bid)
    if element is None:
        raise ActionError(f"no element [{action.bid}] on this page (ids run from 1 to {len(page.elements)})")
    if element.disabled:
        raise ActionError(f"[{action.bid}] is disabled")
    allowed = ROLES_FOR.get(action.name)
    if allowed and element.role not in allowed:
        raise ActionError(f"{action.name}() needs a {' or '.join(allowed)}; [{action.bid}] is a {element.role}")
    if action.name == "select":
        option_value(element, action.text)  # raises when the option does not exist
    return element


def option_value(element: Element, option: str) -> str:
    """The value of the option whose label (or else value) is ``option``."""
    for value, label in element.options:
        if label == option:
            return value
    for value, _ in element.options:
        if value == option:
            return value
    labels = ", ".join(repr(lab) for _, lab in element.options)
    raise ActionError(f"[{element.bid}] has no option {option!r}; options: {labels}")
