"""The pooled path keeps one-shot isolation between programs: nothing a program leaves behind
(files, processes, environment) is visible to the next one, and a program that attacks its
agent only loses its own sandbox."""

from __future__ import annotations

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
