"""A small pool of worker processes that run sympy with a hard, thread-safe timeout.

Why processes: sympy cannot be interrupted from another thread, and math-verify's own timeout
uses ``signal.alarm``, which only works on the main thread (off it, verl and TRL scored every
sample 0). A process can always be killed. Each caller thread takes an idle worker, sends the job
over a pipe, waits with ``poll(timeout)``, and on timeout kills that worker; the next caller that
needs one starts a fresh one. Workers start lazily and are shut down when the pool is collected
or the interpreter exits.

Why not ``multiprocessing.Process``: its spawn and forkserver start methods re-import the
caller's ``__main__`` in the child, and a trainer's ``__main__`` imports torch. Here the child is
a fresh interpreter (like spawn, never fork) that loads only :mod:`worker`, :mod:`compare`,
:mod:`annotations`, sympy and math_verify, under a private package alias.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import weakref
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

_PACKAGE_DIR = str(Path(__file__).resolve().parent)
_BOOTSTRAP = (
    "import sys, types\n"
    "pkg = types.ModuleType('_assay_math_worker')\n"
    "pkg.__path__ = [sys.argv[1]]\n"
    "sys.modules['_assay_math_worker'] = pkg\n"
    "from _assay_math_worker.worker import main\n"
    "main(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))\n"
)


class _Worker:
    """One child process and its two pipe ends."""

    def __init__(self, memory_mb: int, start_timeout_s: float) -> None:
        req_r, req_w = os.pipe()
        rep_r, rep_w = os.pipe()
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", _BOOTSTRAP, _PACKAGE_DIR, str(req_r), str(rep_w), str(memory_mb)],
                pass_fds=(req_r, rep_w),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
            )
        finally:
            os.close(req_r)
            os.close(rep_w)
        self.requests = Connection(req_w, readable=False)
        self.replies = Connection(rep_r, writable=False)
        if not self.replies.poll(start_timeout_s):
            self.kill()
            raise RuntimeError(f"math worker did not start within {start_timeout_s} s")
        tag, self.modules = self.replies.recv()
        if tag != "ready":
            self.kill()
            raise RuntimeError(f"math worker sent {tag!r} instead of 'ready'")

    def kill(self) -> None:
        try:
            self.proc.kill()
            self.proc.wait(timeout=10)
        except Exception:
            pass
        for conn in (self.requests, self.replies):
            try:
                conn.close()
            except Exception:
                pass


def _shutdown(workers: set[_Worker]) -> None:
    for w in list(workers):
        w.kill()
    workers.clear()


class WorkerPool:
    """At most ``size`` workers; ``call`` blocks for a free one (queueing time is not counted
    against ``timeout_s``), then bounds the job itself by ``timeout_s``."""

    def __init__(self, size: int = 2, memory_mb: int = 1536, start_timeout_s: float = 60.0) -> None:
        if size < 1:
            raise ValueError(f"WorkerPool size must be >= 1, got {size}")
        self.size = size
        self.memory_mb = memory_mb
        self.start_timeout_s = start_timeout_s
        self._slots = threading.BoundedSemaphore(size)
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []
        self._all: set[_Worker] = set()
        self.started = 0  # workers started so far (a respawn after a timeout counts)
        self._finalizer = weakref.finalize(self, _shutdown, self._all)

    def _take(self) -> _Worker:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        worker = _Worker(self.memory_mb, self.start_timeout_s)  # slow: outside the lock
        with self._lock:
            self._all.add(worker)
            self.started += 1
        return worker

    def _discard(self, worker: _Worker) -> None:
        worker.kill()
        with self._lock:
            self._all.discard(worker)

    def call(self, job: tuple, timeout_s: float) -> tuple[str, Any]:
        """Run ``job`` in a worker. Returns ``("ok", result)``, ``("error", message)`` for an
        exception inside the worker, ``("timeout", message)`` or ``("crash", message)``."""
        with self._slots:
            try:
                worker = self._take()
            except Exception as e:
                return "crash", f"could not start a math worker: {e}"
            try:
                worker.requests.send(job)
                if not worker.replies.poll(timeout_s):
                    self._discard(worker)
                    return "timeout", f"comparison exceeded {timeout_s:g} s"
                tag, payload = worker.replies.recv()
            except (EOFError, OSError) as e:  # killed by RLIMIT/segfault, or the pipe broke
                self._discard(worker)
                return "crash", f"math worker died ({type(e).__name__}); it was restarted"
            with self._lock:
                self._idle.append(worker)
            return tag, payload

    def worker_modules(self) -> list[str]:
        """``sys.modules`` of a worker right after start-up (to check what it imports)."""
        with self._slots:
            worker = self._take()
            with self._lock:
                self._idle.append(worker)
            return list(worker.modules)

    def close(self) -> None:
        with self._lock:
            self._idle.clear()
        _shutdown(self._all)
