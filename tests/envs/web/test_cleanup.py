"""A caller killed with SIGKILL takes its browser and its site server with it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import require_binary

CHILD = """
import os, sys, time
import assay
env = assay.make("assay/web-v0", mode="browser")
env.reset(seed=0)
print(os.getpid(), env.unwrapped._episode.server.base_url.rsplit(":", 1)[1], flush=True)
time.sleep(120)
"""


def descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, stack = set(), [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.add(child)
            stack.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited; only its parent's reaping is left


def test_sigkilled_caller_leaves_no_browser_or_server():
    require_binary("chromium")
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True)
    try:
        line = child.stdout.readline().split()
        assert line, "the child did not start an episode"
        pid, port = int(line[0]), int(line[1])
        helpers = descendants(pid)
        names = {Path(f"/proc/{p}/comm").read_text().strip() for p in helpers if alive(p)}
        assert any("chrom" in n for n in names), names
        os.kill(pid, signal.SIGKILL)
        child.wait(10)
        deadline = time.monotonic() + 15
        while any(alive(p) for p in helpers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [p for p in helpers if alive(p)], "browser processes outlived their caller"
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
    finally:
        if child.poll() is None:
            child.kill()
