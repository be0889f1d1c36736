"""Pooled execution: pre-started bwrap sandboxes, each with an agent that forks one fresh child
per program (see ``agent.py``), for many small programs without paying namespace and
interpreter start-up each time.

Isolation between programs: each runs in a fresh fork with a fresh, empty /work, /tmp and
/dev/shm; before the next program every process the previous one left is killed and the
directories are emptied; environment changes die with the fork. Between concurrent programs:
each worker sandbox runs one program at a time and has its own namespaces and cgroups.
A program that kills or stops its agent only loses its own sandbox; the pool replaces it.
``disk_mb`` and ``network`` are fixed per pool; wall, CPU, memory, pids and output caps apply
per program. Not covered: the limits of ``agent.py`` (shared hash seed, preloaded stdlib).
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor

from assay.sandbox.bwrap_agent import AgentSandbox
from assay.sandbox.limits import ExecResult, Limits
from assay.sandbox.validate import check_cmd, check_files, check_session_limits, to_bytes


class SandboxPool:
    """``workers`` long-lived sandboxes (default: one per CPU core), shared by any number of threads."""

    def __init__(self, workers: int | None = None, limits: Limits = Limits()) -> None:
        if workers is not None and (not isinstance(workers, int) or isinstance(workers, bool) or workers < 1):
            raise ValueError(f"workers must be a positive int, got {workers!r}")
        from assay.sandbox.bwrap_backend import BwrapBackend

        BwrapBackend()._require()
        self.limits = limits
        self.size = workers or os.cpu_count() or 1
        self._idle: queue.LifoQueue[AgentSandbox] = queue.LifoQueue()
        self._started = 0
        self._lock = threading.Lock()
        self._closed = False
        self._all: set[AgentSandbox] = set()

    def _acquire(self) -> AgentSandbox:
        while True:
            if self._closed:
                raise RuntimeError("pool is closed")
            try:
                box = self._idle.get_nowait()
            except queue.Empty:
                with self._lock:
                    grow = self._started < self.size
                    if grow:
                        self._started += 1
                if grow:
                    try:
                        box = AgentSandbox(self.limits, mode="pool")
                    except BaseException:
                        with self._lock:
                            self._started -= 1
                        raise
                    with self._lock:
                        self._all.add(box)
                else:
                    box = self._idle.get()
            if box.alive:
                return box
            self._retire(box)

    def _retire(self, box: AgentSandbox) -> None:
        box.close()
        with self._lock:
            self._started -= 1
            self._all.discard(box)

    def _release(self, box: AgentSandbox) -> None:
        if box.alive and not self._closed:
            self._idle.put(box)
        else:
            self._retire(box)

    def _run(self, cmd: list[str] | None, code: str | None, files: Mapping, stdin: object,
             limits: Limits | None) -> ExecResult:
        limits = check_session_limits(limits or self.limits, self.limits)
        files = check_files(files, limits)
        stdin = to_bytes(stdin, "stdin")
        box = self._acquire()
        try:
            return box.run(cmd, code, files, stdin, limits)
        finally:
            self._release(box)

    def run(self, cmd: list[str], files: Mapping[str, str | bytes] = {}, stdin: str | bytes = b"",
            limits: Limits | None = None) -> ExecResult:
        """Like ``Sandbox.run``: fork + exec ``cmd`` in a warm sandbox."""
        return self._run(check_cmd(cmd), None, files, stdin, limits)

    def run_python(self, source: str, stdin: str | bytes = b"", files: Mapping[str, str | bytes] = {},
                   limits: Limits | None = None) -> ExecResult:
        """Run Python source as ``python3 main.py`` would, in a fork of a warm interpreter."""
        if not isinstance(source, str):
            raise ValueError(f"source must be a str, got {type(source).__name__}")
        if "\0" in source:
            raise ValueError("source contains a NUL byte")
        return self._run(None, source, files, stdin, limits)

    def run_many(self, jobs: Iterable[Mapping], threads: int | None = None) -> list[ExecResult]:
        """Run jobs concurrently; each job is the keyword arguments of ``run`` (with ``cmd``) or
        of ``run_python`` (with ``source``). Results come back in job order."""
        jobs = list(jobs)

        def one(job: Mapping) -> ExecResult:
            job = dict(job)
            return self.run_python(**job) if "source" in job else self.run(**job)

        with ThreadPoolExecutor(max_workers=threads or self.size) as ex:
            return list(ex.map(one, jobs))

    def close(self) -> None:
        self._closed = True
        with self._lock:
            boxes = list(self._all)
            self._all.clear()
        for box in boxes:
            box.close()

    def __enter__(self) -> SandboxPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
