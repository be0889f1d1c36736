"""Feed a child's stdin and collect its stdout/stderr under a byte cap and a deadline.

Stdlib only: the in-sandbox agent (``agent.py``) imports this same file, so the host's one-shot
path and the pooled path cap output the same way. Covers: non-blocking stdin writes (a program
that never reads its stdin cannot block us), per-stream caps (stop reading at the cap, report
truncation, the caller kills the run), a wall deadline, and an exit fd (pidfd) so a daemon that
keeps the pipes open cannot hold a finished run until the deadline. With an exit fd, closed
pipes alone do not end the pump: coreutils close stdout just before they exit, so the caller
would otherwise see a live process and kill it, reporting SIGKILL for a clean exit.
"""

from __future__ import annotations

import errno
import os
import selectors
import time
from dataclasses import dataclass, field

CHUNK = 1 << 16
EXIT_GRACE_S = 0.5  # after the main process exits, how long its pipes may stay open


@dataclass
class Pumped:
    out: bytearray = field(default_factory=bytearray)
    err: bytearray = field(default_factory=bytearray)
    truncated: bool = False
    timed_out: bool = False
    exited: bool = False


def pump(stdin_fd: int | None, out_fd: int, err_fd: int, data: bytes, cap: int, deadline: float,
         exit_fd: int | None = None, on_exit=None) -> Pumped:
    """Run until both output pipes close (and, given ``exit_fd``, the main process has exited), a
    stream passes ``cap``, or ``deadline`` (monotonic). A process that closes its pipes but
    lives on to the deadline is reported as timed out.

    When ``exit_fd`` turns readable (the main process ended) ``on_exit()`` is called, e.g. to
    kill what the program left behind so that its pipes close now.

    Closes ``stdin_fd``, ``out_fd`` and ``err_fd``; never closes ``exit_fd``.
    """
    result = Pumped()
    sel = selectors.DefaultSelector()
    view = memoryview(data)
    for fd in (out_fd, err_fd) + ((stdin_fd,) if stdin_fd is not None else ()):
        os.set_blocking(fd, False)
    sel.register(out_fd, selectors.EVENT_READ, result.out)
    sel.register(err_fd, selectors.EVENT_READ, result.err)
    if stdin_fd is not None:
        if view:
            sel.register(stdin_fd, selectors.EVENT_WRITE, None)
        else:
            os.close(stdin_fd)
            stdin_fd = None
    if exit_fd is not None:
        sel.register(exit_fd, selectors.EVENT_READ, "exit")
    open_readers = 2
    try:
        while open_readers or (exit_fd is not None and not result.exited):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                result.timed_out = not result.exited
                break
            for key, _ in sel.select(remaining):
                if key.data == "exit":
                    result.exited = True
                    sel.unregister(exit_fd)
                    deadline = min(deadline, time.monotonic() + EXIT_GRACE_S)
                    if on_exit is not None:
                        on_exit()
                elif key.data is None:  # stdin is writable
                    try:
                        n = os.write(stdin_fd, view[:CHUNK])
                        view = view[n:]
                    except OSError as e:  # the program closed its stdin: the rest is dropped
                        if e.errno not in (errno.EPIPE, errno.EAGAIN):
                            raise
                        if e.errno == errno.EAGAIN:
                            continue
                        view = view[:0]
                    if not view:
                        sel.unregister(stdin_fd)
                        os.close(stdin_fd)
                        stdin_fd = None
                else:
                    buf = key.data
                    try:
                        chunk = os.read(key.fd, CHUNK)
                    except BlockingIOError:
                        continue
                    if not chunk:
                        sel.unregister(key.fd)
                        open_readers -= 1
                        continue
                    buf += chunk
                    if len(buf) > cap:
                        del buf[cap:]
                        result.truncated = True
                        return result
    finally:
        sel.close()
        for fd in (stdin_fd, out_fd, err_fd):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
    return result
