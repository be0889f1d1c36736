"""Hostile programs against the bwrap one-shot path. One property per test; each attack must end
as a clean ExecResult within wall_s + 1 s, and the ``sandbox`` fixture then checks that no
process or cgroup of the run is left on the host."""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time

import pytest

from assay.sandbox import Limits
from tests.sandbox.conftest import PY, assert_clean

FAST = Limits(wall_s=2.0, cpu_s=2.0, memory_mb=256, pids=32, output_bytes=1 << 16, disk_mb=8)


def py(sandbox, code: str, limits: Limits = FAST, **kw):
    result = sandbox.run(["python3", "-c", code], limits=limits, **kw)
    assert_clean(result, limits)
    return result


# -- runaway resources -------------------------------------------------------------------

def test_infinite_cpu_loop_is_killed_at_wall_limit(sandbox):
    r = py(sandbox, "while True: pass", Limits(wall_s=0.5, cpu_s=5))
    assert r.timed_out and r.exit_code == -9


def test_sleep_past_wall_limit_is_killed(sandbox):
    r = sandbox.run(["sleep", "30"], limits=Limits(wall_s=0.3))
    assert_clean(r, Limits(wall_s=0.3))
    assert r.timed_out


def test_cpu_limit_kills_a_busy_process_before_wall(sandbox):
    r = py(sandbox, "while True: pass", Limits(wall_s=5, cpu_s=1))
    assert r.timed_out and r.exit_code in (-24, -9) and r.wall_s < 4


def test_python_fork_bomb_is_capped_by_pids(sandbox):
    r = py(sandbox, "import os\nwhile True:\n    try: os.fork()\n    except OSError: pass", Limits(wall_s=1, pids=16))
    assert not r.ok


def test_shell_fork_bomb_is_capped_by_pids(sandbox):
    lim = Limits(wall_s=1, pids=16)
    r = sandbox.run(["sh", "-c", "b() { b | b & }; b"], limits=lim)
    assert_clean(r, lim)


def test_huge_string_allocation_is_reported_as_memory(sandbox):
    r = py(sandbox, "x = ' ' * 10**11")
    assert r.memory_exceeded and not r.ok


def test_growing_memory_is_oom_killed_by_the_cgroup(sandbox):
    r = py(sandbox, "a = []\nwhile True: a.append(bytearray(10**7))", Limits(wall_s=5, memory_mb=64))
    assert r.memory_exceeded and r.exit_code == -9


def test_huge_bigint_does_not_escape_the_memory_cap(sandbox):
    lim = Limits(wall_s=3, memory_mb=64)
    r = py(sandbox, "x = 3 ** (10 ** 10)\nprint(len(str(x)))", lim)
    assert not r.ok and (r.memory_exceeded or r.timed_out)


def test_unbounded_stdout_is_truncated_at_the_cap(sandbox):
    r = py(sandbox, "import sys\nwhile True: sys.stdout.write('x' * 4096)")
    assert r.output_truncated and len(r.stdout) == FAST.output_bytes


def test_unbounded_stderr_is_truncated_at_the_cap(sandbox):
    r = py(sandbox, "import sys\nwhile True: sys.stderr.write('y' * 4096)")
    assert r.output_truncated and len(r.stderr) == FAST.output_bytes


def test_filling_the_work_dir_stops_at_disk_cap(sandbox):
    code = ("import os\nn = 0\ntry:\n    with open('big', 'wb') as f:\n        while True:\n"
            "            f.write(b'0' * 65536); n += 65536\nexcept OSError as e:\n    print('full', n)")
    r = py(sandbox, code)
    assert r.stdout.startswith(b"full") and int(r.stdout.split()[1]) <= FAST.disk_mb << 20


def test_many_threads_are_capped_by_pids(sandbox):
    code = ("import threading, time\nn = 0\ntry:\n    while True:\n"
            "        threading.Thread(target=time.sleep, args=(5,), daemon=True).start(); n += 1\n"
            "except RuntimeError:\n    print('capped', n)")
    r = py(sandbox, code, Limits(wall_s=3, pids=20))
    assert r.stdout.startswith(b"capped") and int(r.stdout.split()[1]) < 20


def test_writing_dev_full_fails_cleanly(sandbox):
    r = sandbox.run(["sh", "-c", "echo x > /dev/full"], limits=FAST)
    assert_clean(r, FAST)
    assert r.exit_code != 0 and r.stderr  # ENOSPC surfaces as a write error


# -- network -----------------------------------------------------------------------------

def test_connecting_out_fails(sandbox):
    code = ("import socket\ntry:\n    socket.create_connection(('1.1.1.1', 53), timeout=1)\n    print('connected')\n"
            "except OSError as e:\n    print('blocked', e.errno)")
    assert py(sandbox, code).stdout.startswith(b"blocked")


def test_host_loopback_service_is_unreachable(sandbox):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(0.1)
    port = server.getsockname()[1]
    code = (f"import socket\ntry:\n    socket.create_connection(('127.0.0.1', {port}), timeout=1)\n    print('connected')\n"
            "except OSError:\n    print('blocked')")
    try:
        assert py(sandbox, code).stdout == b"blocked\n"
        with pytest.raises(socket.timeout):
            server.accept()
    finally:
        server.close()


def test_server_on_the_sandbox_loopback_works(sandbox):
    code = ("import socket, threading\ns = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(1)\n"
            "threading.Thread(target=lambda: s.accept()[0].sendall(b'pong'), daemon=True).start()\n"
            "c = socket.create_connection(s.getsockname()); print(c.recv(4).decode())")
    assert py(sandbox, code).stdout == b"pong\n"


def test_unix_socket_of_the_host_is_not_reachable(sandbox):
    r = py(sandbox, "import os; print(os.path.exists('/run') or os.path.exists('/var/run/docker.sock'))")
    assert r.stdout == b"False\n"


# -- escaping the kill -------------------------------------------------------------------

def test_killing_the_parent_ends_the_run_cleanly(sandbox):
    r = py(sandbox, "import os, time\nos.kill(os.getppid(), 9)\ntime.sleep(0.2)\nprint('alive')")
    assert r.exit_code == 0 or r.exit_code < 0
    assert os.getpid() and threading.main_thread().is_alive()  # the caller survives


def test_killpg_zero_ends_the_run_cleanly(sandbox):
    r = py(sandbox, "import os\nos.killpg(0, 9)")
    assert r.exit_code == -9


def test_killing_pid_1_of_the_namespace_does_not_reach_the_host(sandbox):
    r = py(sandbox, "import os\ntry:\n    os.kill(1, 9)\nexcept OSError as e: print(e)\nprint('done')")
    assert b"done" in r.stdout


def test_setsid_double_fork_daemon_does_not_outlive_the_run(sandbox):
    code = ("import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
            "        os.closerange(0, 3)\n        time.sleep(60)\n    os._exit(0)\nprint('parent done')")
    start = time.monotonic()
    r = py(sandbox, code, Limits(wall_s=10))
    assert r.stdout == b"parent done\n" and not r.timed_out and time.monotonic() - start < 5
    # the fixture asserts no process is left on the host


def test_nohup_background_job_is_killed_at_exit(sandbox):
    r = sandbox.run(["sh", "-c", "nohup sleep 60 >/dev/null 2>&1 & echo started"], limits=FAST)
    assert_clean(r, FAST)
    assert r.stdout == b"started\n" and r.wall_s < 2


# -- reaching the host -------------------------------------------------------------------

def test_host_environment_is_not_visible(sandbox, monkeypatch):
    monkeypatch.setenv("ASSAY_TEST_SECRET", "hunter2")
    r = py(sandbox, "import os; print(sorted(os.environ))")
    assert b"ASSAY_TEST_SECRET" not in r.stdout and b"hunter2" not in r.stdout


def test_proc_1_environ_holds_no_host_secret(sandbox, monkeypatch):
    monkeypatch.setenv("ASSAY_TEST_SECRET", "hunter2")
    r = sandbox.run(["sh", "-c", "cat /proc/1/environ; cat /proc/*/environ"], limits=FAST)
    assert b"hunter2" not in r.stdout


def test_home_directories_are_not_visible(sandbox):
    home = os.path.expanduser("~")
    r = py(sandbox, f"import os; print(os.path.exists('/home'), os.path.exists({home + '/.bashrc'!r}))")
    assert r.stdout == b"False False\n"


def test_hidden_expected_output_on_the_host_is_unreadable(sandbox, tmp_path):
    secret = tmp_path / "expected_output.txt"
    secret.write_text("the gold answer 42")
    r = sandbox.run(["sh", "-c", f"cat {secret}; grep -rs 'gold answer' /work /tmp /root /proc/1/cwd 2>/dev/null | head -1"],
                    limits=Limits(wall_s=5))
    assert b"gold answer" not in r.stdout


def test_repository_is_not_visible(sandbox):
    import assay

    r = py(sandbox, f"import os; print(os.path.exists({os.path.dirname(assay.__file__)!r}))")
    assert r.stdout == b"False\n"


def test_writing_outside_the_work_dir_fails(sandbox):
    r = sandbox.run(["sh", "-c", "for p in /x /etc/x /usr/x /proc/x /dev/x; do echo 1 > $p 2>/dev/null && echo wrote $p; done; true"],
                    limits=FAST)
    assert r.stdout == b""


def test_overwriting_the_interpreter_fails(sandbox):
    before = hashlib.sha256(open(os.path.realpath(PY), "rb").read()).hexdigest()
    r = py(sandbox, "import sys\ntry:\n    open(sys.executable, 'wb').write(b'pwned')\nexcept OSError as e: print('denied')")
    assert r.stdout == b"denied\n"
    assert hashlib.sha256(open(os.path.realpath(PY), "rb").read()).hexdigest() == before


def test_overwriting_bin_sh_fails(sandbox):
    before = os.stat("/bin/sh").st_mtime_ns
    r = sandbox.run(["sh", "-c", "cp /bin/true /bin/sh 2>/dev/null || echo denied"], limits=FAST)
    assert r.stdout == b"denied\n" and os.stat("/bin/sh").st_mtime_ns == before


def test_host_sysctls_are_read_only(sandbox):
    r = sandbox.run(["sh", "-c", "echo 1 > /proc/sys/vm/drop_caches 2>/dev/null && echo wrote || echo denied"], limits=FAST)
    assert r.stdout == b"denied\n"


def test_mounting_needs_privileges_the_program_lacks(sandbox):
    r = py(sandbox, "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
                    "print(libc.mount(b'none', b'/tmp', b'tmpfs', 0, None), ctypes.get_errno())")
    assert r.stdout.split()[0] == b"-1"


def test_nested_user_namespaces_are_disabled(sandbox):
    r = sandbox.run(["unshare", "--user", "--map-root-user", "true"], limits=FAST)
    assert r.exit_code != 0


def test_hostname_change_stays_inside(sandbox):
    host = socket.gethostname()
    py(sandbox, "import socket\ntry:\n    socket.sethostname('pwned')\nexcept OSError: pass")
    assert socket.gethostname() == host


def test_concurrent_sandboxes_do_not_see_each_other(sandbox):
    results = {}

    def writer():
        results["w"] = sandbox.run(["sh", "-c", "echo secret > mine; sleep 1; cat mine"], limits=FAST)

    t = threading.Thread(target=writer)
    t.start()
    time.sleep(0.3)
    results["r"] = sandbox.run(["sh", "-c", "ls /work; ps -e -o comm= | grep -c sleep || true"], limits=FAST)
    t.join()
    assert results["w"].stdout == b"secret\n"
    assert b"mine" not in results["r"].stdout and results["r"].stdout.split()[-1] == b"0"


# -- odd bytes ---------------------------------------------------------------------------

def test_non_utf8_stdin_round_trips_as_bytes(sandbox):
    data = bytes(range(256)) * 4
    r = sandbox.run(["cat"], stdin=data, limits=FAST)
    assert r.stdout == data and r.exit_code == 0


def test_odd_characters_in_arguments_arrive_intact(sandbox):
    arg = "a b\n'\"$(rm -rf /)`;\té\u2603"
    r = sandbox.run(["python3", "-c", "import sys; sys.stdout.buffer.write(sys.argv[1].encode())", arg], limits=FAST)
    assert r.stdout.decode() == arg


def test_program_that_never_reads_a_large_stdin_does_not_block(sandbox):
    r = sandbox.run(["true"], stdin=b"x" * (8 << 20), limits=FAST)
    assert_clean(r, FAST)
    assert r.exit_code == 0


def test_files_land_in_the_work_dir_with_subdirectories(sandbox):
    r = sandbox.run(["sh", "-c", "cat a/b/c.txt main.py"], files={"a/b/c.txt": "deep ", "main.py": b"x"}, limits=FAST)
    assert r.stdout == b"deep x"


@pytest.mark.parametrize("kwargs, match", [
    ({"cmd": ["echo", "a\0b"]}, "NUL"),
    ({"cmd": ["cat"], "files": {"a\0b": "x"}}, "NUL"),
    ({"cmd": ["cat"], "files": {"/etc/passwd": "x"}}, "absolute"),
    ({"cmd": ["cat"], "files": {"../escape": "x"}}, r"\.\."),
    ({"cmd": ["cat"], "files": {"a/../../b": "x"}}, r"\.\."),
    ({"cmd": ["echo", 1]}, "must be a str"),
    ({"cmd": []}, "empty"),
    ({"cmd": "echo hi"}, "list of strings"),
    ({"cmd": ["cat"], "stdin": 12}, "stdin must be str or bytes"),
    ({"cmd": ["cat"], "files": {"x": 3}}, "must be str or bytes"),
    ({"cmd": ["cat"], "limits": {"wall_s": 1}}, "Limits"),
])
def test_bad_inputs_raise_a_clear_value_error(sandbox, kwargs, match):
    with pytest.raises(ValueError, match=match):
        sandbox.run(**kwargs)


@pytest.mark.parametrize("field, value", [("wall_s", 1e12), ("wall_s", float("nan")), ("memory_mb", -1),
                                          ("pids", 0), ("output_bytes", 1 << 40), ("disk_mb", 0.5)])
def test_absurd_limits_raise_a_clear_value_error(field, value):
    with pytest.raises(ValueError, match=field):
        Limits(**{field: value})


def test_files_larger_than_the_disk_cap_are_refused_before_running(sandbox):
    with pytest.raises(ValueError, match="disk_mb"):
        sandbox.run(["true"], files={"big": b"0" * (2 << 20)}, limits=Limits(disk_mb=1))
