"""Serve a site on a free loopback port from a thread of the calling process.

A thread, not a child process: the server then cannot outlive its caller (it dies with the
process, however the process ends), starts in about a millisecond, and the verifier reads the
site's database in place. ``ThreadingMixIn`` lets Chromium's parallel connections (a page and its
favicon) proceed; the site itself handles one request at a time.
"""

from __future__ import annotations

import socket
import socketserver
import threading
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from assay.envs.web.framework import Site


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # one line per request is noise here
        pass


class _ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = False  # a fresh port per episode; never share one with a stale server


class SiteServer:
    """``SiteServer(site)`` listens on 127.0.0.1 at once; ``base_url``; ``close()`` stops it."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self._server = _ThreadingServer(("127.0.0.1", 0), _QuietHandler)
        self._server.set_app(site)
        self._address = self._server.server_address
        self.base_url = f"http://127.0.0.1:{self._address[1]}"
        self._stopping = False
        self.closed = False
        self._thread = threading.Thread(target=self._serve, name=f"assay-web-{site.name}", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        # handle_request() in a loop rather than serve_forever(): serve_forever polls for its stop
        # flag every poll_interval, so every episode's end would wait up to that long (measured
        # ~25 ms a text-mode episode); here close() wakes the loop at once with a connection
        while not self._stopping:
            self._server.handle_request()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._stopping = True
        try:
            socket.create_connection(self._address, timeout=1).close()
        except OSError:
            pass
        self._thread.join(timeout=5)
        self._server.server_close()
