"""The worker process's main loop: receive ``(gold, answer, rel_tol)``, reply with the result of
:func:`compare.judge`. Started by :mod:`pool` as a fresh interpreter.

It is loaded under a private package alias (see ``pool._BOOTSTRAP``) so that it imports the
sibling modules, sympy and math_verify, and not ``assay`` (whose ``__init__`` pulls in the env
registry) nor whatever the trainer's ``__main__`` imports (torch): hence relative imports only.
"""

from __future__ import annotations

import resource
import sys
from multiprocessing.connection import Connection


def _limit_memory(memory_mb: int) -> None:
    # RLIMIT_AS turns a memory bomb (a huge exact integer) into MemoryError inside this process
    # instead of the kernel's OOM killer choosing a victim on the host.
    if memory_mb > 0:
        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def main(read_fd: int, write_fd: int, memory_mb: int) -> None:
    requests = Connection(read_fd, writable=False)
    replies = Connection(write_fd, readable=False)
    from . import compare  # the slow import (sympy, math_verify) happens before "ready"

    compare.install()
    _limit_memory(memory_mb)
    sys.setrecursionlimit(10_000)  # deep but legal LaTeX; the guards cap nesting at 40 anyway
    replies.send(("ready", sorted(sys.modules)))
    while True:
        try:
            job = requests.recv()
        except (EOFError, OSError):
            return  # the pool closed its end: exit quietly
        if job is None:
            return
        gold, answer, rel_tol = job
        try:
            replies.send(("ok", compare.judge(gold, answer, rel_tol)))
        except compare.ResourceExhausted as e:
            replies.send(("error", f"{e} (memory cap {memory_mb} MiB)"))
        except MemoryError:
            replies.send(("error", f"memory limit ({memory_mb} MiB) exceeded while comparing"))
        except RecursionError:
            replies.send(("error", "expression too deeply nested for the parser"))
        except Exception as e:  # a parser bug must cost one sample, not the worker
            replies.send(("error", f"{type(e).__name__}: {str(e)[:300]}"))
