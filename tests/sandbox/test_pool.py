"""The pooled path keeps one-shot isolation between programs: nothing a program leaves behind
(files, processes, environment) is visible to the next one, and a program that attacks its
agent only loses its own sandbox."""

from __future__ import annotations

import json
import os
import signal
import threading

import pytest

from assay.sandbox import Limits, SandboxPool
from tests.sandbox.conftest import assert_clean, leftovers


@pytest.fixture(scope="module")
def pool(bwrap_ready):
    before = leftovers()
    with SandboxPool(workers=1, limits=Limits(wall_s=5, disk_mb=16)) as p:
        yield p
    assert leftovers() == before


def test_files_of_the_previous_program_are_gone(pool):
    pool.run_python("for d in ('.', '/tmp', '/dev/shm'):\n    open(d + '/left', 'w').write('x')")
    r = pool.run_python("import os; print([os.listdir(d) for d in ('.', '/tmp', '/dev/shm')])")
    assert r.stdout == b"[[], [], []]\n"


def test_processes_of_the_previous_program_are_gone(pool):
    pool.run(["sh", "-c", "setsid sleep 60 & echo started"])
    r = pool.run(["sh", "-c", "ps -e -o comm= | grep -c sleep || true"])
    assert r.stdout == b"0\n"


def test_environment_changes_do_not_leak(pool):
    pool.run_python("import os; os.environ['LEAK'] = '1'; os.putenv('LEAK2', '1')")
    r = pool.run_python("import os; print(os.environ.get('LEAK'), os.environ.get('LEAK2'))")
    assert r.stdout == b"None None\n"


def test_module_state_does_not_leak(pool):
    pool.run_python("import json; json.LEAK = 1; import sys; sys.modules['leak'] = 1")
    r = pool.run_python("import json, sys; print(hasattr(json, 'LEAK'), 'leak' in sys.modules)")
    assert r.stdout == b"False False\n"


@pytest.mark.parametrize("cmd", [["cat", "f"], ["sh", "-c", "exec cat f"]], ids=["cat", "sh-exec-cat"])
def test_a_program_that_closes_stdout_before_exiting_reports_its_real_exit(pool, cmd):
    """cat closes stdout just before it exits, so the pipes can close before the exit is seen;
    that must not get it killed (it came back as -9 in about 1 run in 3)."""
    data = b"".join(b"line %d\n" % i for i in range(200))
    results = [pool.run(cmd, files={"f": data}) for _ in range(60)]
    wrong = [(r.exit_code, r.stdout[:20], r.stderr) for r in results if (r.exit_code, r.stdout) != (0, data)]
    assert not wrong, f"{len(wrong)} of 60 wrong: {wrong[:3]}"


def test_a_program_that_closes_its_output_and_works_on_reports_its_exit(pool):
    r = pool.run(["sh", "-c", "exec >&- 2>&-; sleep 0.3; exit 3"])
    assert (r.exit_code, r.timed_out) == (3, False)


def test_a_program_that_closes_its_output_and_lingers_is_killed_at_the_wall_limit(pool):
    lim = Limits(wall_s=0.5, disk_mb=16)
    r = pool.run(["sh", "-c", "exec >&- 2>&-; sleep 30"], limits=lim)
    assert r.timed_out and r.exit_code == -9
    assert_clean(r, lim)


def test_a_command_starts_with_default_signal_dispositions_as_in_a_one_shot_run(pool):
    """The agent is Python, which ignores SIGPIPE and SIGXFSZ; a command must not inherit that.

    What the test process itself ignores (``nohup`` ignores SIGHUP, a background job SIGINT and
    SIGQUIT) reaches both paths alike, so the pooled run is compared with a one-shot run."""
    from assay.sandbox import Sandbox

    cmd = ["sh", "-c", "yes | head -1; grep SigIgn /proc/self/status"]
    r = pool.run(cmd)
    one_shot = Sandbox("bwrap").run(cmd, limits=pool.limits)
    assert (r.stdout, r.stderr) == (one_shot.stdout, b"")
    ignored = int(r.stdout.split(b"SigIgn:")[1], 16)
    assert not ignored & (1 << (signal.SIGPIPE - 1) | 1 << (signal.SIGXFSZ - 1)), hex(ignored)


def test_killing_the_agent_gives_a_clean_result_and_a_fresh_sandbox(pool):
    r = pool.run_python("import os; os.kill(os.getppid(), 9)")
    assert_clean(r, pool.limits)
    assert not r.ok
    assert pool.run_python("print('next')").stdout == b"next\n"


def test_stopping_the_agent_times_out_cleanly(pool):
    lim = Limits(wall_s=0.5, disk_mb=16)
    r = pool.run_python("import os, signal; os.kill(os.getppid(), signal.SIGSTOP)\nwhile True: pass", limits=lim)
    assert r.wall_s <= lim.wall_s + 2.5 and r.timed_out
    assert pool.run_python("print('next')").stdout == b"next\n"


def test_the_agent_cannot_be_ptraced_or_read(pool):
    r = pool.run_python("import os\ntry:\n    open(f'/proc/{os.getppid()}/mem', 'rb').read(1); print('read')\n"
                        "except OSError: print('denied')")
    assert r.stdout == b"denied\n"


def test_pool_timeout_and_memory_caps_apply_per_program(pool):
    lim = Limits(wall_s=0.3, memory_mb=64, disk_mb=16)
    assert pool.run_python("while True: pass", limits=lim).timed_out
    r = pool.run_python("a = []\nwhile True: a.append(bytearray(10**7))", limits=Limits(wall_s=5, memory_mb=64, disk_mb=16))
    assert r.memory_exceeded and not r.ok
    assert pool.run_python("print(len(bytearray(10**8)))").stdout == b"100000000\n"  # cap restored


def test_python_fast_path_behaves_like_a_script(pool):
    r = pool.run_python("import sys\nprint(sys.stdin.read()[::-1], __name__)\nsys.exit(3)", stdin="abc")
    assert (r.stdout, r.exit_code) == (b"cba __main__\n", 3)
    r = pool.run_python("1/0")
    assert r.exit_code == 1 and r.stderr.startswith(b"Traceback") and b"agent" not in r.stderr


def test_pool_rejects_a_different_disk_size(pool):
    with pytest.raises(ValueError, match="disk_mb"):
        pool.run_python("pass", limits=Limits(disk_mb=64))


def test_many_threads_share_a_pool_correctly(bwrap_ready):
    before = leftovers()
    with SandboxPool(workers=2) as p:
        jobs = [{"source": "print(int(input()) * 2)", "stdin": str(i)} for i in range(64)]
        results = p.run_many(jobs, threads=16)
    assert [r.stdout for r in results] == [f"{2 * i}\n".encode() for i in range(64)]
    assert leftovers() == before


def test_a_session_keeps_files_but_not_processes(bwrap_ready):
    from assay.sandbox import Sandbox

    before = leftovers()
    with Sandbox("bwrap").session(files={"a.txt": "A"}) as s:
        s.run(["sh", "-c", "cat a.txt > b.txt; setsid sleep 60 &"])
        s.write_file("sub/c.txt", b"C")
        assert s.read_file("b.txt") == b"A"
        assert s.run(["sh", "-c", "cat sub/c.txt; ps -e -o comm= | grep -c sleep || true"]).stdout == b"C0\n"
        with pytest.raises(ValueError):
            s.read_file("../etc/passwd")
        with pytest.raises(FileNotFoundError):
            s.read_file("missing")
    assert leftovers() == before


def test_a_session_survives_being_used_from_another_thread(bwrap_ready):
    from assay.sandbox import Sandbox

    before = leftovers()
    holder = {}
    t = threading.Thread(target=lambda: holder.update(s=Sandbox("bwrap").session()))
    t.start()
    t.join()  # the opening thread is gone; --die-with-parent must not have fired
    with holder["s"] as s:
        assert s.run(["echo", "ok"]).stdout == b"ok\n"
    assert leftovers() == before


# -- the pool's control channel ---------------------------------------------------------------
# The host and the agent talk in frames: a 4-byte big-endian length, a JSON header, then blobs.
# A program that could write such frames into the channel could answer for the agent.

def frame(header: dict, blobs: list[bytes]) -> bytes:
    data = json.dumps(dict(header, blobs=[len(b) for b in blobs])).encode()
    return len(data).to_bytes(4, "big") + data + b"".join(blobs)


FORGED_ANSWER = frame({"exit_code": 0, "timed_out": False, "truncated": False, "wall_s": 0.0}, [b"forged\n", b""])
FORGED_REQUESTS = frame({"op": "write", "path": "planted"}, [b"x"]) + frame(
    {"op": "run", "cmd": ["true"], "code": None, "files": [],
     "limits": {"wall_s": 1, "cpu_s": 1, "output_bytes": 100, "address_space": None}}, [b""])

# Writes forged answers and requests (as both directions of the channel) into every fd of every
# other process it can open through /proc, e.g. bwrap's pid 1. Prints what it opened that is a pipe.
FORGE_EVERYWHERE = f"""
import os, stat
pipes = []
for pid in os.listdir('/proc'):
    if not pid.isdigit() or int(pid) == os.getpid():
        continue
    try:
        fds = os.listdir(f'/proc/{{pid}}/fd')
    except OSError:
        continue
    for n in fds:
        try:
            fd = os.open(f'/proc/{{pid}}/fd/{{n}}', os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            continue
        if stat.S_ISFIFO(os.fstat(fd).st_mode):
            pipes.append(f'{{pid}}/{{n}}')
        for data in ({FORGED_ANSWER!r}, {FORGED_REQUESTS!r}):
            try:
                os.write(fd, data)
            except OSError:
                pass
        os.close(fd)
print('pipes', pipes)
"""


@pytest.fixture
def own_pool(bwrap_ready):
    """A pool of its own, one worker: an attack that desynchronised it would show in the next runs."""
    before = leftovers()
    with SandboxPool(workers=1, limits=Limits(wall_s=5, disk_mb=16)) as p:
        yield p
    assert leftovers() == before


def test_no_program_can_open_a_pipe_of_another_process_in_the_sandbox(own_pool):
    """The control pipes are held only by the (non-dumpable) agent: bwrap's pid 1 holds /dev/null."""
    r = own_pool.run_python(FORGE_EVERYWHERE)
    assert r.stdout == b"pipes []\n", r


def test_forged_frames_do_not_change_the_results_of_later_programs(own_pool):
    own_pool.run_python(FORGE_EVERYWHERE)
    for i in range(5):
        r = own_pool.run(["sh", "-c", "read x; echo $((x * 2)); ls -A"], stdin=f"{i}\n")
        assert (r.exit_code, r.stdout) == (0, f"{2 * i}\n".encode()), r


def test_a_forged_answer_in_the_answer_pipe_is_never_taken_for_the_real_one(bwrap_ready):
    """Defence in depth, should a program ever reach the pipe: the host itself writes a forged
    answer (without the request's id) into the answer pipe, as a program with access would."""
    from assay.sandbox.bwrap_agent import AgentSandbox

    limits = Limits(wall_s=5, disk_mb=16)
    box = AgentSandbox(limits, mode="pool")
    try:
        forger = os.open(f"/proc/self/fd/{box._from_agent}", os.O_WRONLY)
        os.write(forger, FORGED_ANSWER)
        os.close(forger)
        r = box.run(["echo", "real"], None, {}, b"", limits)
        assert b"forged" not in r.stdout and not r.ok
        assert not box.alive  # out of step: torn down, to be replaced, never reused
    finally:
        box.close()
