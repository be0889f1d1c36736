"""A page as the agent sees it: a simplified DOM with numbered elements, the URL and the tabs.

Both modes build the observation here from an HTML tree, so they agree element for element: text
mode from the HTML the server sent (plus the values the agent filled in), browser mode from the
live DOM (serialised by :data:`MARK_VALUES_JS` after it copies each control's current value into
an attribute, since serialised HTML holds only the initial ``value``).

Element ids are positions among the page's interactive elements in document order, so the same
page always numbers its elements the same way. Rendering::

    ## Search
    [3] textbox "Search products" value="mouse" [4] combobox "Category" value="All categories" options=...
    Wireless Mouse | Electronics | $19.99
"""

from __future__ import annotations

from dataclasses import dataclass

from assay.verifiers.web.html_tree import Node, parse, title

# Run in the page to read it: records live values that serialisation would lose, then returns the
# serialised DOM (one round trip instead of evaluate() then content(): ~20 ms a step under load).
MARK_VALUES_JS = """() => {
  for (const el of document.querySelectorAll('input, textarea, select')) {
    el.setAttribute('data-assay-value', el.value ?? '');
    if (el.type === 'checkbox' || el.type === 'radio') el.setAttribute('data-assay-checked', el.checked ? '1' : '0');
  }
  return document.documentElement.outerHTML;
}"""

BLOCK = frozenset("address article aside blockquote br caption dd div dl dt fieldset figure footer form h1 h2 h3 h4 h5 h6 "
                  "header hr legend li main nav ol p pre section table tbody thead tfoot tr ul".split())
HIDDEN = frozenset({"head", "script", "style", "template", "noscript", "option"})
TEXT_INPUTS = frozenset({"", "text", "search", "email", "password", "number", "tel", "url", "date"})
BUTTON_INPUTS = frozenset({"submit", "button", "reset", "image"})
MAX_VALUE = 200  # characters of a control's value shown (a long textarea is cut, with a mark)


@dataclass(frozen=True)
class Element:
    bid: int
    role: str  # link, button, textbox, combobox, checkbox, radio
    name: str
    path: str  # xpath of the element (Playwright's ``xpath=`` locator)
    value: str = ""  # current value (for a combobox: the selected option's value)
    options: tuple[tuple[str, str], ...] = ()  # combobox: (value, label)
    checked: bool = False
    disabled: bool = False

    def render(self) -> str:
        text = f'[{self.bid}] {self.role} "{_quote(self.name)}"'
        if self.role == "textbox":
            shown = self.value if len(self.value) <= MAX_VALUE else self.value[:MAX_VALUE] + "…"
            text += f' value="{_quote(shown)}"'
        elif self.role == "combobox":
            label = next((lab for val, lab in self.options if val == self.value), self.value)
            text += f' value="{_quote(label)}" options=[' + ", ".join(f'"{_quote(lab)}"' for _, lab in self.options) + "]"
        elif self.role in ("checkbox", "radio"):
            text += " checked" if self.checked else " unchecked"
        return text + (" disabled" if self.disabled else "")


@dataclass(frozen=True)
class Page:
    url: str
    title: str
    elements: tuple[Element, ...]
    text: str  # the rendered body

    def element(self, bid: int) -> Element | None:
        return self.elements[bid - 1] if 1 <= bid <= len(self.elements) else None


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def current_value(node: Node, overrides: dict[str, str]) -> str:
    if "data-assay-value" in node.attrs:
        return node.attrs["data-assay-value"]
    if node.path in overrides:
        return overrides[node.path]
    if node.tag == "textarea":
        return "".join(c for c in node.children if isinstance(c, str)).removeprefix("\n")
    if node.tag == "select":
        opts = [n for n in node.elements() if n.tag == "option"]
        chosen = next((o for o in opts if "selected" in o.attrs), opts[0] if opts else None)
        return _option_value(chosen) if chosen is not None else ""
    return node.attrs.get("value", "")


def is_checked(node: Node, overrides: dict[str, str]) -> bool:
    if "data-assay-checked" in node.attrs:
        return node.attrs["data-assay-checked"] == "1"
    if node.path in overrides:
        return overrides[node.path] == "1"
    return "checked" in node.attrs


def _option_value(option: Node) -> str:
    return option.attrs["value"] if "value" in option.attrs else option.text()


def role_of(node: Node) -> str | None:
    if node.tag == "a":
        return "link" if "href" in node.attrs else None
    if node.tag == "button":
        return "button"
    if node.tag == "select":
        return "combobox"
    if node.tag == "textarea":
        return "textbox"
    if node.tag == "input":
        kind = node.attrs.get("type", "").lower()
        if kind in TEXT_INPUTS:
            return "textbox"
        if kind in BUTTON_INPUTS:
            return "button"
        if kind in ("checkbox", "radio"):
            return kind
    return None


def _hidden(node: Node) -> bool:
    return (node.tag in HIDDEN or "hidden" in node.attrs or node.attrs.get("aria-hidden") == "true"
            or (node.tag == "input" and node.attrs.get("type", "").lower() == "hidden"))


class _Renderer:
    def __init__(self, root: Node, overrides: dict[str, str]) -> None:
        self.overrides = overrides
        self.labels: dict[str, str] = {n.attrs["for"]: n.text() for n in root.elements() if n.tag == "label" and "for" in n.attrs}
        self.elements: list[Element] = []
        self.nodes: list[Node] = []
        self.lines: list[str] = []
        self.buf: list[str] = []

    def name_of(self, node: Node, role: str) -> str:
        attrs = node.attrs
        if attrs.get("aria-label", "").strip():
            return " ".join(attrs["aria-label"].split())
        if role in ("link", "button") and node.tag != "input":
            return node.text() or attrs.get("title", "")
        if attrs.get("id") in self.labels:
            return self.labels[attrs["id"]]
        label = node.ancestor("label")
        if label is not None and label.text():
            return label.text()
        if role == "button":
            return attrs.get("value") or attrs.get("title") or "Submit"
        return attrs.get("placeholder") or attrs.get("title") or attrs.get("name", "")

    def flush(self, prefix: str = "") -> None:
        line = " ".join(self.buf).strip(" |")
        if line:
            self.lines.append(prefix + line)
        self.buf = []

    def walk(self, node: Node) -> None:
        for child in node.children:
            if isinstance(child, str):
                text = " ".join(child.split())
                if text:
                    self.buf.append(text)
                continue
            if _hidden(child):
                continue
            role = role_of(child)
            if role is not None:
                self.add(child, role)
            elif child.tag in ("td", "th"):
                if self.buf:
                    self.buf.append("|")
                self.walk(child)
            elif child.tag in BLOCK:
                self.flush()
                self.walk(child)
                self.flush("#" * int(child.tag[1]) + " " if child.tag in ("h1", "h2", "h3", "h4", "h5", "h6") else "")
            else:
                self.walk(child)

    def add(self, node: Node, role: str) -> None:
        options: tuple[tuple[str, str], ...] = ()
        if role == "combobox":
            options = tuple((_option_value(o), o.text()) for o in node.elements() if o.tag == "option")
        element = Element(
            bid=len(self.elements) + 1, role=role, name=self.name_of(node, role), path=node.path,
            value=current_value(node, self.overrides) if role in ("textbox", "combobox") else "",
            options=options, checked=is_checked(node, self.overrides) if role in ("checkbox", "radio") else False,
            disabled="disabled" in node.attrs,
        )
        self.elements.append(element)
        self.nodes.append(node)
        self.buf.append(element.render())


def observe(html: str, url: str, overrides: dict[str, str] | None = None) -> tuple[Page, list[Node]]:
    """The page, and the tree node behind each element (``nodes[bid - 1]``; the text driver
    submits forms from them)."""
    root = parse(html)
    renderer = _Renderer(root, overrides or {})
    body = next((n for n in root.elements() if n.tag == "body"), root)
    renderer.walk(body)
    renderer.flush()
    return Page(url, title(root), tuple(renderer.elements), "\n".join(renderer.lines)), renderer.nodes


def render_observation(page: Page, tabs: list[str], active: int, error: str = "") -> str:
    tab_line = "  ".join(f"[{i}]{'*' if i == active else ''} {t}" for i, t in enumerate(tabs))
    head = f"URL: {page.url}\nTabs: {tab_line}\n"
    if error:
        head += f"Last action error: {error}\n"
    return f"{head}\n{page.text}\n"
