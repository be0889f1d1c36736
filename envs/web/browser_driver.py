"""Browser mode: Playwright driving Debian's ``chromium`` (headless), one context per episode.

:class:`BrowserHost` owns one Chromium for an environment's lifetime (a launch costs ~0.6 s); each
episode gets a fresh context (its own cookies, storage and cache) that is closed when the episode
ends. Playwright talks to Chromium over a pipe (``--remote-debugging-pipe``) through its node
driver, which exits when the Python process's pipe to it closes; Chromium exits when its pipe
closes. So a caller that dies, even by SIGKILL, takes the browser with it
(tests/envs/web/test_cleanup.py checks this).

Playwright's sync API is bound to the thread that started it: use an env from one thread, and run
concurrent browser episodes in separate envs (each its own host), e.g. one per worker process.
"""

from __future__ import annotations

import os
import shutil
import threading

from assay.envs.web.actions import Action, ActionError
from assay.envs.web.drivers import option_value, resolve_url, target
from assay.envs.web.observe import MARK_VALUES_JS, observe
from assay.errors import AssayError

CHROMIUM_NAMES = ("chromium", "chromium-browser")
# Every request that is not to loopback goes to a proxy on the discard port, where nothing
# listens, and fails; Chromium never proxies loopback. Actions are checked to stay on the site
# already (drivers.resolve_url); this holds for whatever a page itself might load or open.
LOOPBACK_ONLY = ["--proxy-server=http://127.0.0.1:9"]


def find_chromium(executable: str | None = None) -> str:
    path = executable or os.environ.get("ASSAY_CHROMIUM") or next(filter(None, map(shutil.which, CHROMIUM_NAMES)), None)
    if not path or not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise AssayError("browser mode needs Chromium: apt-get install chromium (or pass executable= / set "
                         "ASSAY_CHROMIUM); assay does not download browsers. Text mode (mode='text') needs none.")
    return path


# Playwright's sync API allows one running instance per thread, so the envs of a thread share it
# (counted) and each launches its own browser from it.
_per_thread = threading.local()


def _acquire_playwright():
    if getattr(_per_thread, "users", 0) == 0:
        from playwright.sync_api import sync_playwright

        _per_thread.playwright = sync_playwright().start()
        _per_thread.users = 0
    _per_thread.users += 1
    return _per_thread.playwright


def _release_playwright() -> None:
    _per_thread.users -= 1
    if _per_thread.users == 0:
        playwright, _per_thread.playwright = _per_thread.playwright, None
        playwright.stop()


class BrowserHost:
    def __init__(self, executable: str | None = None, headless: bool = True) -> None:
        self.executable = find_chromium(executable)
        self.headless = headless
        self._browser = None

    @property
    def browser(self):
        if self._browser is None:
            playwright = _acquire_playwright()
            try:
                self._browser = playwright.chromium.launch(executable_path=self.executable, headless=self.headless,
                                                           args=LOOPBACK_ONLY)
            except BaseException:
                _release_playwright()
                raise
        return self._browser

    def close(self) -> None:
        browser, self._browser = self._browser, None
        if browser is not None:
            try:
                browser.close()
            finally:
                _release_playwright()


class BrowserDriver:
    def __init__(self, host: BrowserHost, base_url: str, timeout_ms: int = 5000) -> None:
        self.base = base_url
        self.context = host.browser.new_context(service_workers="block", viewport={"width": 1280, "height": 800})
        self.context.set_default_timeout(timeout_ms)
        self.context.set_default_navigation_timeout(timeout_ms)
        self.tab = self.context.new_page()
        self.focus: str | None = None
        self.page, self.nodes = observe("", "")

    def _errors(self):
        from playwright.sync_api import Error

        return Error

    def refresh(self) -> None:
        self.tab.wait_for_load_state("load")
        self.page, self.nodes = observe(self.tab.evaluate(MARK_VALUES_JS), self.tab.url)

    def open(self, url: str) -> None:
        self.tab.goto(url)
        self.refresh()

    def login(self, path: str, fields: dict[str, str]) -> None:
        response = self.context.request.post(self.base + path, form=fields, max_redirects=0)
        if response.status >= 400:
            raise ActionError(f"login failed: HTTP {response.status}")

    def tabs(self) -> tuple[list[str], int]:
        pages = self.context.pages
        titles = [self.page.title if p is self.tab else (p.title() or p.url) for p in pages]
        return titles, pages.index(self.tab) if self.tab in pages else 0

    def screenshot(self) -> bytes:
        return self.tab.screenshot(type="png")

    def close(self) -> None:
        context, self.context = self.context, None
        if context is not None:
            context.close()

    def act(self, action: Action) -> None:
        element = target(self.page, action)
        try:
            self._act(action, element)
            self.refresh()
        except self._errors() as e:  # a Playwright failure (timeout, detached element) is the agent's error to see
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            try:
                self.refresh()
            except self._errors():
                pass
            raise ActionError(f"{action.name} failed in the browser: {first[:200]}") from None

    def _act(self, action: Action, element) -> None:
        locator = self.tab.locator(f"xpath={element.path}") if element is not None else None
        if action.name == "goto":
            self.tab.goto(resolve_url(self.base, self.tab.url, action.text))
        elif action.name == "back":
            if self.tab.go_back() is None:
                raise ActionError("there is no previous page")
        elif action.name == "scroll":
            self.tab.mouse.wheel(action.dx, action.dy)
        elif action.name == "fill":
            locator.fill(action.text)
            self.focus = element.path
        elif action.name == "select":
            locator.select_option(value=option_value(element, action.text))
            self.focus = element.path
        elif action.name == "click":
            if element.role == "link":  # the same check as text mode: links off the site are refused
                node = self.nodes[element.bid - 1]
                if not node.attrs.get("href", "").startswith("#"):
                    resolve_url(self.base, self.tab.url, node.attrs.get("href", ""))
            locator.click()
            self.focus = element.path
        elif action.name == "press":
            path = element.path if element is not None else self.focus
            if path is not None:
                self.tab.locator(f"xpath={path}").press(action.text)
            else:
                self.tab.keyboard.press(action.text)
