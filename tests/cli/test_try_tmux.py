"""`assay try` as a person uses it: in a real terminal (tmux), typing an answer at the prompt."""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
import uuid

from tests.conftest import require_binary


def capture(session: str) -> str:
    return subprocess.run(["tmux", "capture-pane", "-p", "-J", "-S", "-200", "-t", session],
                          capture_output=True, text=True).stdout


def wait_for(session: str, text: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = capture(session)
        if text in screen:
            return screen
        time.sleep(0.2)
    raise AssertionError(f"{text!r} did not appear within {timeout}s; screen:\n{screen}")


def test_try_interactive_in_a_terminal():
    require_binary("tmux")
    session = f"assay-try-{uuid.uuid4().hex[:8]}"
    cmd = f"{shlex.quote(sys.executable)} -m assay.cli.main try assay/modchain-v0 --seed 4 --show-gold"
    # `; sleep` keeps the pane alive after assay exits so its last screen can be read
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "160", "-y", "50", f"{cmd}; sleep 60"], check=True)
    try:
        wait_for(session, "Your response")
        subprocess.run(["tmux", "send-keys", "-t", session, r"my answer is \boxed{12345}", "Enter", "Enter"], check=True)
        screen = wait_for(session, "Another episode?")
        assert "FAILED" in screen and "reward = 0" in screen and "gold:" in screen
        gold = screen.split("gold:")[-1].split()[0]
        subprocess.run(["tmux", "send-keys", "-t", session, "y", "Enter"], check=True)
        wait_for(session, "seed 5")
        # answer the second episode right: read its gold by replaying seed 5 in-process
        import assay

        env = assay.make("assay/modchain-v0")
        task = env.reset(seed=5)[1]["task"]
        subprocess.run(["tmux", "send-keys", "-t", session, f"\\boxed{{{task.answer}}}", "Enter", "Enter"], check=True)
        screen = wait_for(session, "PASSED")
        assert gold != "" and "reward = 1" in screen
        subprocess.run(["tmux", "send-keys", "-t", session, "n", "Enter"], check=True)
        screen = wait_for(session, "2 episodes, mean reward 0.500")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
