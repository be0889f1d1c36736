"""Text mode: the browser-free driver. HTTP with a cookie jar, HTML parsed into the same
observation the browser mode shows, forms submitted the way a browser submits them.

What it does not do: run JavaScript (the sites need none), lay out the page (``scroll`` changes
nothing; the observation is the whole page), or open more than one tab. Requests go only to the
site's origin on loopback, with proxies off, at most ``MAX_REDIRECTS`` redirects and a timeout each.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from http.cookiejar import CookieJar
from urllib.parse import urlencode, urlsplit, urlunsplit

from assay.envs.web.actions import Action, ActionError
from assay.envs.web.drivers import option_value, resolve_url, same_origin, target
from assay.envs.web.observe import BUTTON_INPUTS, current_value, is_checked, observe
from assay.verifiers.web.html_tree import Node

MAX_PAGE_BYTES = 4 << 20
MAX_REDIRECTS = 5
# sent on every page load, as a browser sends it for a top-level navigation: the site records
# the last page it served to the agent from these requests
NAVIGATION_HEADERS = {"Sec-Fetch-Dest": "document", "Accept": "text/html", "User-Agent": "assay-text-driver"}


class _SiteOnlyRedirects(urllib.request.HTTPRedirectHandler):
    max_redirections = MAX_REDIRECTS

    def __init__(self, base: str) -> None:
        self.base = base

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if not same_origin(self.base, newurl):
            raise urllib.error.URLError(f"redirect to {newurl!r} leaves the site")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class TextDriver:
    def __init__(self, base_url: str, timeout_s: float = 10.0) -> None:
        self.base = base_url
        self.timeout_s = timeout_s
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),  # loopback only, never a proxy
                                                  urllib.request.HTTPCookieProcessor(CookieJar()),
                                                  _SiteOnlyRedirects(base_url))
        self.url = ""
        self.html = ""
        self.history: list[str] = []
        self.overrides: dict[str, str] = {}  # element path -> value the agent set (checkbox: "1"/"0")
        self.focus: str | None = None
        self.page, self.nodes = observe("", "")

    # -- loading ----------------------------------------------------------------------------------
    def _load(self, method: str, url: str, body: bytes | None = None, remember: bool = True) -> None:
        headers = dict(NAVIGATION_HEADERS)
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        request = urllib.request.Request(url, data=body, method=method, headers=headers)
        try:
            with self.opener.open(request, timeout=self.timeout_s) as response:
                html, final = response.read(MAX_PAGE_BYTES), response.geturl()
        except urllib.error.HTTPError as e:  # an error page is still a page (404 "not found")
            html, final = e.read(MAX_PAGE_BYTES), e.geturl()
        except (urllib.error.URLError, TimeoutError, OSError) as e:
            raise ActionError(f"could not load {url}: {getattr(e, 'reason', e)}") from None
        self.url, self.html = final, html.decode("utf-8", "replace")
        self.overrides, self.focus = {}, None
        if remember and (not self.history or self.history[-1] != final):
            self.history.append(final)
        self.refresh()

    def refresh(self) -> None:
        self.page, self.nodes = observe(self.html, self.url, self.overrides)

    def open(self, url: str) -> None:
        self._load("GET", url)

    def login(self, path: str, fields: dict[str, str]) -> None:
        request = urllib.request.Request(self.base + path, data=urlencode(fields).encode(), method="POST",
                                         headers={"Content-Type": "application/x-www-form-urlencoded"})
        try:
            self.opener.open(request, timeout=self.timeout_s).close()
        except urllib.error.URLError as e:
            raise ActionError(f"login failed: {e}") from None

    def tabs(self) -> tuple[list[str], int]:
        return [self.page.title or self.url], 0

    def close(self) -> None:
        self.opener = None

    # -- actions ----------------------------------------------------------------------------------
    def act(self, action: Action) -> None:
        element = target(self.page, action)
        node = self.nodes[element.bid - 1] if element is not None else None
        if action.name == "goto":
            self._load("GET", resolve_url(self.base, self.url, action.text))
        elif action.name == "back":
            if len(self.history) < 2:
                raise ActionError("there is no previous page")
            self.history.pop()
            self._load("GET", self.history[-1], remember=False)
        elif action.name == "scroll":
            pass  # the observation already holds the whole page
        elif action.name == "fill":
            self.overrides[node.path], self.focus = action.text, node.path
            self.refresh()
        elif action.name == "select":
            self.overrides[node.path], self.focus = option_value(element, action.text), node.path
            self.refresh()
        elif action.name == "click":
            self._click(element.role, node)
        elif action.name == "press":
            self._press(action.text, node)

    def _click(self, role: str, node: Node) -> None:
        if role == "link":
            href = node.attrs.get("href", "")
            if href.startswith("#"):
                return
            self._load("GET", resolve_url(self.base, self.url, href))
        elif role == "button":
            form = node.ancestor("form")
            kind = node.attrs.get("type", "submit" if node.tag == "button" else "").lower()
            if form is not None and kind in ("submit", "image"):
                self._submit(form, node)
        elif role == "checkbox":
            self.overrides[node.path] = "0" if is_checked(node, self.overrides) else "1"
            self.refresh()
        elif role == "radio":
            form = node.ancestor("form") or node.ancestor("body")
            for other in form.elements():
                if other.tag == "input" and other.attrs.get("type") == "radio" and other.attrs.get("name") == node.attrs.get("name"):
                    self.overrides[other.path] = "0"
            self.overrides[node.path] = "1"
            self.refresh()
        else:
            self.focus = node.path

    def _press(self, key: str, node: Node | None) -> None:
        if node is None and self.focus is not None:
            node = next((n for n in self.nodes if n.path == self.focus), None)
        if key != "Enter" or node is None or node.tag != "input":
            return  # keys other than Enter in a one-line field change nothing a page shows without script
        form = node.ancestor("form")
        if form is not None:  # implicit submission: as if its first submit button were clicked
            submitter = next((n for n in form.elements() if (n.tag == "button" and n.attrs.get("type", "submit").lower() == "submit")
                              or (n.tag == "input" and n.attrs.get("type", "").lower() in ("submit", "image"))), None)
            self._submit(form, submitter)

    def _submit(self, form: Node, submitter: Node | None) -> None:
        """Build the form data set (HTML's rules, for the controls the sites use) and send it."""
        pairs: list[tuple[str, str]] = []
        for node in form.elements():
            name = node.attrs.get("name")
            if not name or "disabled" in node.attrs:
                continue
            kind = node.attrs.get("type", "").lower()
            if node.tag == "button" or (node.tag == "input" and kind in BUTTON_INPUTS):
                if node is submitter:
                    pairs.append((name, node.attrs.get("value", "")))
            elif node.tag == "input" and kind in ("checkbox", "radio"):
                if is_checked(node, self.overrides):
                    pairs.append((name, node.attrs.get("value", "on")))
            elif node.tag in ("input", "select", "textarea"):
                pairs.append((name, current_value(node, self.overrides)))
        action = resolve_url(self.base, self.url, form.attrs.get("action") or self.url)
        if form.attrs.get("method", "get").lower() == "post":
            self._load("POST", action, urlencode(pairs).encode())
        else:
            parts = urlsplit(action)
            self._load("GET", urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(pairs), "")))
