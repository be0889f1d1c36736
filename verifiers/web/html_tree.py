"""A small HTML element tree, built with the stdlib's ``html.parser``, and CSS-like selection.

Shared by the web verifier (``program_html`` checks read a page fetched from the site) and the web
environment (both its text mode and its browser mode turn pages into observations with it, so the
two modes see the same tree). lxml or BeautifulSoup would do the parsing, but neither is a
dependency of assay and the sites' pages are small and well-formed by construction, so a ~150
line tree builder is enough.

Covers: void elements, implied closing of unclosed tags at their parent's end, text with entities
decoded, element paths (``/html[1]/body[1]/form[2]``) that Playwright's ``xpath=`` locator reads.
Does not cover: the HTML5 tree-construction quirks (foster parenting, implied ``<tbody>``); the
sites write explicit markup so a browser's DOM and this tree agree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

VOID = frozenset("area base br col embed hr img input link meta param source track wbr".split())
SKIP_TEXT = frozenset({"script", "style", "template", "head", "title"})


@dataclass(eq=False)
class Node:
    """One element. ``children`` mixes child Nodes and text strings in document order."""

    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    children: list = field(default_factory=list)
    parent: Node | None = None
    path: str = ""

    def elements(self):
        """This node's descendant elements in document order (not itself)."""
        for child in self.children:
            if isinstance(child, Node):
                yield child
                yield from child.elements()

    def text(self) -> str:
        """Visible text of the subtree, whitespace collapsed (script/style skipped)."""
        parts: list[str] = []
        self._gather(parts)
        return " ".join(" ".join(parts).split())

    def _gather(self, parts: list[str]) -> None:
        if self.tag in SKIP_TEXT:
            return
        for child in self.children:
            if isinstance(child, Node):
                child._gather(parts)
            else:
                parts.append(child)

    def ancestor(self, tag: str) -> Node | None:
        node = self.parent
        while node is not None and node.tag != tag:
            node = node.parent
        return node


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document")
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        parent = self.stack[-1]
        node = Node(tag, {k: (v if v is not None else "") for k, v in attrs}, parent=parent)
        parent.children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.stack.pop()

    def handle_endtag(self, tag: str) -> None:
        # close up to the matching open tag; a stray end tag with no open match is ignored
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(html: str) -> Node:
    """The document node of ``html``; every element gets its ``path`` (1-based xpath steps)."""
    builder = _Builder()
    builder.feed(html)
    builder.close()
    _number(builder.root, "")
    return builder.root


def _number(node: Node, prefix: str) -> None:
    seen: dict[str, int] = {}
    for child in node.children:
        if isinstance(child, Node):
            seen[child.tag] = seen.get(child.tag, 0) + 1
            child.path = f"{prefix}/{child.tag}[{seen[child.tag]}]"
            _number(child, child.path)


def title(root: Node) -> str:
    node = next((n for n in root.elements() if n.tag == "title"), None)
    if node is None:
        return ""
    return " ".join("".join(c for c in node.children if isinstance(c, str)).split())


# -- selection: a CSS subset (tag, #id, .class, [attr] / [attr="v"], descendant combinator) --------

_COMPOUND = re.compile(r"""^(?P<tag>[a-zA-Z][\w-]*|\*)?(?P<rest>(?:\#[\w-]+|\.[\w-]+|\[[\w-]+(?:=(?:"[^"]*"|'[^']*'|[\w-]+))?\])*)$""")
_PART = re.compile(r"""\#(?P<id>[\w-]+)|\.(?P<cls>[\w-]+)|\[(?P<attr>[\w-]+)(?:=(?P<val>"[^"]*"|'[^']*'|[\w-]+))?\]""")


@dataclass(frozen=True)
class _Compound:
    tag: str | None
    ids: tuple[str, ...]
    classes: tuple[str, ...]
    attrs: tuple[tuple[str, str | None], ...]

    def matches(self, node: Node) -> bool:
        if self.tag not in (None, "*") and node.tag != self.tag:
            return False
        if any(node.attrs.get("id") != i for i in self.ids):
            return False
        classes = node.attrs.get("class", "").split()
        if any(c not in classes for c in self.classes):
            return False
        return all(k in node.attrs and (v is None or node.attrs[k] == v) for k, v in self.attrs)


def compile_selector(selector: str) -> tuple[_Compound, ...]:
    """Parse a selector; raises ValueError naming what is not supported."""
    compounds = []
    for token in selector.split():
        m = _COMPOUND.match(token)
        if m is None or not token:
            raise ValueError(f"unsupported selector part {token!r} in {selector!r}: use tag, #id, .class, "
                             f"[attr] or [attr=value] joined by spaces (descendant)")
        ids, classes, attrs = [], [], []
        for part in _PART.finditer(m.group("rest")):
            if part.group("id"):
                ids.append(part.group("id"))
            elif part.group("cls"):
                classes.append(part.group("cls"))
            else:
                val = part.group("val")
                attrs.append((part.group("attr"), val.strip("\"'") if val is not None else None))
        compounds.append(_Compound(m.group("tag"), tuple(ids), tuple(classes), tuple(attrs)))
    if not compounds:
        raise ValueError("empty selector")
    return tuple(compounds)


def select(root: Node, selector: str) -> list[Node]:
    """Elements matching ``selector`` in document order."""
    chain = compile_selector(selector)
    out = []
    for node in root.elements():
        if chain[-1].matches(node) and _ancestors_match(node.parent, chain[:-1]):
            out.append(node)
    return out


def _ancestors_match(node: Node | None, chain: tuple[_Compound, ...]) -> bool:
    if not chain:
        return True
    while node is not None and node.tag != "#document":
        if chain[-1].matches(node) and _ancestors_match(node.parent, chain[:-1]):
            return True
        node = node.parent
    return False
