"""The few pieces every site shares: requests, responses, routing, pages, a database per instance.

The sites are WSGI apps served by the stdlib's ``wsgiref`` (see ``server.py``). A framework
(Flask, Bottle) is not a dependency of assay, and each site is a handful of routes over sqlite,
so ~150 lines of plumbing here cost less than a new dependency and keep request handling visible.

Each :class:`Site` instance owns one in-memory sqlite database, copied from a per-class seeded
template with sqlite's backup API (well under a millisecond), so every episode starts from the same
state and no file outlives the process. Requests are handled one at a time under the instance's
lock: a site serves one agent, and serial handling makes the database free of lock errors.
"""

from __future__ import annotations

import html
import re
import secrets
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from urllib.parse import parse_qsl, urlencode

MAX_BODY = 1 << 20  # a form post larger than this is refused (413), never read into memory


def e(value: object) -> str:
    """HTML-escape anything for text or an attribute value."""
    return html.escape(str(value), quote=True)


def money(cents: int) -> str:
    return f"${cents // 100}.{cents % 100:02d}"


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    cookies: dict[str, str]
    navigation: bool  # a top-level document load (Sec-Fetch-Dest: document), not fetch()/XHR

    def arg(self, name: str, default: str = "") -> str:
        return self.query.get(name, default).strip()

    def field(self, name: str, default: str = "") -> str:
        return self.form.get(name, default).strip()


@dataclass
class Response:
    body: str = ""
    status: str = "200 OK"
    headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def redirect(cls, location: str) -> Response:
        # 303: after a POST the browser loads the target with GET (and so does the text driver)
        return cls("", "303 See Other", [("Location", location)])

    @classmethod
    def not_found(cls, what: str = "Page") -> Response:
        return cls(f"<!DOCTYPE html><html><head><title>Not found</title></head><body><main><h1>{e(what)} not found</h1>"
                   f"<p><a href=\"/\">Home</a></p></main></body></html>", "404 Not Found")


Handler = Callable[..., Response]


class Site:
    """Subclasses set ``name``, ``title``, ``schema`` (SQL), ``seed(conn)``, ``nav`` and routes."""

    name = "site"
    title = "Site"
    schema = ""
    nav: tuple[tuple[str, str], ...] = ()  # (label, href) links shown on every page
    _templates: dict[str, sqlite3.Connection] = {}
    _template_lock = threading.Lock()

    def __init__(self) -> None:
        self.db = sqlite3.connect(":memory:", check_same_thread=False)
        self._template().backup(self.db)
        self.lock = threading.RLock()
        self.last_document = "/"  # path?query of the last top-level page served with 200
        self.routes: list[tuple[str, re.Pattern, Handler]] = [
            (method, re.compile(f"^{pattern}$"), handler) for method, pattern, handler in self.route_table()
        ]

    # -- subclass hooks ---------------------------------------------------------------------
    def route_table(self) -> list[tuple[str, str, Handler]]:
        raise NotImplementedError

    def seed(self, db: sqlite3.Connection) -> None:
        raise NotImplementedError

    def account_links(self, request: Request) -> str:
        """HTML for the header's account area (sign in / out), for sites with a login."""
        return ""

    # -- database -----------------------------------------------------------------------------
    @classmethod
    def _template(cls) -> sqlite3.Connection:
        with cls._template_lock:
            if cls.name not in cls._templates:
                db = sqlite3.connect(":memory:", check_same_thread=False)
                db.executescript(cls.schema)
                cls.seed(cls, db)
                db.commit()
                cls._templates[cls.name] = db
            return cls._templates[cls.name]

    def rows(self, sql: str, *args: object) -> list[tuple]:
        return self.db.execute(sql, args).fetchall()

    def one(self, sql: str, *args: object) -> tuple | None:
        return self.db.execute(sql, args).fetchone()

    def query_readonly(self, sql: str) -> list[tuple]:
        """Rows of one SELECT for the verifier. An authorizer refuses anything but reads, so a
        task's check cannot change the state it judges."""
        allowed = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION}

        def authorize(action: int, *_: object) -> int:
            return sqlite3.SQLITE_OK if action in allowed else sqlite3.SQLITE_DENY

        with self.lock:
            self.db.set_authorizer(authorize)
            try:
                return [tuple(r) for r in self.db.execute(sql).fetchall()]
            finally:
                self.db.set_authorizer(None)

    # -- pages ----------------------------------------------------------------------------------
    def page(self, request: Request, title: str, body: str) -> Response:
        links = "".join(f'<li><a href="{e(href)}">{e(label)}</a></li>' for label, href in self.nav)
        who = self.account_links(request)
        return Response(
            f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{e(title)} - {e(self.title)}</title></head>'
            f'<body><header><nav><ul>{links}</ul></nav>{who}</header><main><h1>{e(title)}</h1>{body}</main></body></html>'
        )

    # -- WSGI -----------------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        with self.lock:
            for method, pattern, handler in self.routes:
                m = pattern.match(request.path)
                if m and method == request.method:
                    try:
                        response = handler(request, *m.groups())
                        self.db.commit()
                    except Exception:  # a site bug: keep the database as it was and show an error page
                        self.db.rollback()
                        response = Response("<!DOCTYPE html><html><head><title>Server error</title></head><body><main>"
                                            "<h1>Server error</h1></main></body></html>", "500 Internal Server Error")
                    break
            else:
                response = Response.not_found()
            if request.navigation and request.method == "GET" and response.status.startswith("200"):
                qs = urlencode(request.query)
                self.last_document = request.path + (f"?{qs}" if qs else "")
            return response

    def fetch(self, path_and_query: str) -> str:
        """The page a fresh anonymous visitor gets for ``path_and_query`` now, served in-process.
        Used by the verifier; it does not count as a navigation."""
        path, _, qs = path_and_query.partition("?")
        return self.handle(Request("GET", path, dict(parse_qsl(qs)), {}, {}, navigation=False)).body

    def __call__(self, environ: dict, start_response: Callable) -> list[bytes]:
        method = environ["REQUEST_METHOD"].upper()
        form: dict[str, str] = {}
        if method == "POST":
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if length > MAX_BODY:
                start_response("413 Content Too Large", [("Content-Type", "text/plain")])
                return [b"request body too large"]
            form = dict(parse_qsl(environ["wsgi.input"].read(length).decode("utf-8", "replace"), keep_blank_values=True))
        cookies = {k: m.value for k, m in SimpleCookie(environ.get("HTTP_COOKIE", "")).items()}
        request = Request(method, environ.get("PATH_INFO", "/") or "/",
                          dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)), form, cookies,
                          navigation=environ.get("HTTP_SEC_FETCH_DEST", "") == "document")
        response = self.handle(request)
        body = response.body.encode()
        # no-store: the browser must ask the server again on back(), or the server's record of the
        # last page shown (which the URL check reads) would miss it
        headers = [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body))),
                   ("Cache-Control", "no-store"), *response.headers]
        start_response(response.status, headers)
        return [body]


def new_token() -> str:
    return secrets.token_hex(16)


def session_cookie(token: str) -> tuple[str, str]:
    # HttpOnly: page script can neither read nor overwrite the session
    return ("Set-Cookie", f"sid={token}; Path=/; HttpOnly; SameSite=Lax")


def link(href: str, text: str, label: str | None = None) -> str:
    aria = f' aria-label="{e(label)}"' if label else ""
    return f'<a href="{e(href)}"{aria}>{e(text)}</a>'


def options(choices: list[tuple[str, str]], selected: str) -> str:
    return "".join(f'<option value="{e(v)}"{" selected" if v == selected else ""}>{e(label)}</option>' for v, label in choices)
