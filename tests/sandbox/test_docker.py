"""The Docker backend against a real engine: one property per test.

Needs a running daemon and the locally built image (`make test` provides both); without them
these tests skip, or fail under ASSAY_REQUIRE_ALL=1.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from assay.sandbox.docker_backend import LABEL, OWNER_LABEL, DockerBackend
from assay.sandbox.limits import Limits
from tests.conftest import missing_dependency, require_binary

FAST = Limits(wall_s=10, cpu_s=10, memory_mb=256, pids=32, output_bytes=1 << 20, disk_mb=16)


@pytest.fixture(scope="module")
def backend() -> DockerBackend:
    require_binary("docker")
    b = DockerBackend()
    reason = b.check()
    if reason is not None:
        missing_dependency(reason)
    return b


def py(backend: DockerBackend, code: str, limits: Limits = FAST, files: dict | None = None, stdin: bytes = b""):
    return backend.run(["python3", "-c", textwrap.dedent(code)], files or {}, stdin, limits)


def containers(backend: DockerBackend, owner: str | None = None) -> list[dict]:
    label = f"{OWNER_LABEL}={owner or backend.owner}"
    return backend.client().api.containers(all=True, filters={"label": [LABEL, label]})


def test_trivial_program(backend):
    r = py(backend, "print('hello')")
    assert (r.exit_code, r.stdout, r.stderr) == (0, b"hello\n", b"")
    assert not (r.timed_out or r.memory_exceeded or r.output_truncated)


def test_exit_code_and_stderr_pass_through(backend):
    r = py(backend, "import sys; sys.stderr.write('bad'); sys.exit(3)")
    assert (r.exit_code, r.stdout, r.stderr) == (3, b"", b"bad")


def test_files_and_binary_stdin_arrive(backend):
    stdin = bytes(range(256)) * 1000  # not UTF-8, larger than a socket buffer
    files = {"data/in.txt": b"gold", "main.py": b"import sys\nsys.stdout.buffer.write(sys.stdin.buffer.read())"}
    r = backend.run(["sh", "-c", "cat data/in.txt && python3 main.py"], files, stdin, FAST)
    assert r.exit_code == 0
    assert r.stdout == b"gold" + stdin


def test_runs_as_unprivileged_user_without_host_env(backend, monkeypatch):
    monkeypatch.setenv("ASSAY_TEST_SECRET", "hunter2")
    r = backend.run(["sh", "-c", "id -u; env; cat /proc/1/environ"], {}, b"", FAST)
    assert r.stdout.splitlines()[0] == b"1000"
    assert b"hunter2" not in r.stdout + r.stderr


def test_root_filesystem_is_read_only(backend):
    r = py(backend, """
        for path in ('/usr/local/bin/python3', '/bin/sh', '/etc/passwd', '/newfile'):
            try:
                open(path, 'ab').write(b'x')
                print('wrote', path)
            except OSError:
                pass
    """)
    assert r.exit_code == 0 and r.stdout == b""


def test_wall_timeout_kills_the_run(backend):
    start = time.monotonic()
    r = backend.run(["sleep", "60"], {}, b"", Limits(wall_s=1))
    assert r.timed_out and r.exit_code == -9
    assert time.monotonic() - start < 1 + 2  # wall limit + container start and removal


def test_cpu_time_limit_stops_a_busy_loop(backend):
    start = time.monotonic()
    r = py(backend, "while True: pass", Limits(wall_s=20, cpu_s=1))
    assert not r.timed_out and r.exit_code != 0  # SIGXCPU (152) or SIGKILL (137)
    assert time.monotonic() - start < 8


def test_memory_blowup_is_reported(backend):
    r = py(backend, "a = []\nwhile True: a.append(b'x' * 10**7)", Limits(memory_mb=64))
    assert r.memory_exceeded and not r.timed_out and r.exit_code == -9


def test_pids_limit_caps_process_count(backend):
    r = py(backend, """
        import subprocess
        procs = []
        try:
            for _ in range(100):
                procs.append(subprocess.Popen(['sleep', '30']))
        except OSError:
            pass
        print(len(procs))
    """, Limits(pids=16, wall_s=10))
    assert r.exit_code == 0
    assert 0 < int(r.stdout) < 16


def test_shell_fork_bomb_ends_cleanly(backend):
    start = time.monotonic()
    r = backend.run(["sh", "-c", "f() { f | f & }; f; sleep 30"], {}, b"", Limits(pids=32, wall_s=2))
    assert r.timed_out or r.exit_code != 0
    assert time.monotonic() - start < 2 + 3


def test_output_is_capped_and_flagged(backend):
    r = py(backend, "import sys\nfor _ in range(100): print('x' * 100000); sys.stderr.write('y' * 100000)",
           Limits(output_bytes=1000))
    assert r.exit_code == 0 and r.output_truncated
    assert (r.stdout, r.stderr) == (b"x" * 1000, b"y" * 1000)


def test_filling_the_work_dir_stops_at_disk_limit(backend):
    r = py(backend, """
        import os
        for path in ('/work/fill', '/tmp/fill'):
            written = 0
            try:
                with open(path, 'wb') as f:
                    while True:
                        f.write(b'x' * (1 << 20))
                        f.flush()
                        written += 1 << 20
            except OSError as e:
                print(path, written, e.errno)
    """, Limits(disk_mb=8, memory_mb=256))
    lines = [line.split() for line in r.stdout.decode().splitlines()]
    assert [line[0] for line in lines] == ["/work/fill", "/tmp/fill"]
    for _, written, errno in lines:
        assert int(written) <= 8 << 20 and int(errno) == 28  # ENOSPC


def test_no_network_but_own_loopback_works(backend):
    r = py(backend, """
        import socket
        for addr in (('1.1.1.1', 53), ('172.17.0.1', 2375)):  # the internet; the Docker host
            try:
                socket.create_connection(addr, timeout=2)
                print('connected', addr)
            except OSError:
                pass
        server = socket.create_server(('127.0.0.1', 0))
        client = socket.create_connection(server.getsockname(), timeout=2)
        conn, _ = server.accept()
        client.sendall(b'ping')
        print(conn.recv(4).decode())
    """)
    assert r.exit_code == 0 and r.stdout == b"ping\n", r.stderr


def test_missing_program_is_a_result_not_an_exception(backend):
    r = backend.run(["no-such-program"], {}, b"", FAST)
    assert r.exit_code in (126, 127) and b"no-such-program" in r.stderr


def test_no_container_is_left_after_runs(backend):
    backend.run(["true"], {}, b"", FAST)
    backend.run(["sleep", "30"], {}, b"", Limits(wall_s=0.5))
    assert containers(backend) == []


def test_twenty_concurrent_runs_from_threads(backend):
    results: dict[int, object] = {}

    def one(i: int) -> None:
        results[i] = backend.run(["python3", "-c", "import sys; print(int(sys.stdin.read()) * 2)"],
                                 {}, str(i).encode(), FAST)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sorted(results) == list(range(20))
    assert all(results[i].stdout == f"{2 * i}\n".encode() for i in range(20))
    assert containers(backend) == []


def test_reaper_removes_containers_of_a_sigkilled_caller(backend):
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        from assay.sandbox.docker_backend import DockerBackend
        from assay.sandbox.limits import Limits
        b = DockerBackend()
        print(b.owner, flush=True)
        b.run(['sleep', '60'], {}, b'', Limits(wall_s=60))
    """)], stdout=subprocess.PIPE, text=True)
    try:
        owner = child.stdout.readline().strip()
        deadline = time.monotonic() + 30
        while not containers(backend, owner) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert containers(backend, owner), "the child's container never appeared"
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
        assert containers(backend, owner), "the container should outlive its killed owner"
        assert backend.reap() >= 1
        assert containers(backend, owner) == []
        # The work dir's tmpfs volume goes with its container.
        assert not backend.client().api.volumes(filters={"label": LABEL, "dangling": True})["Volumes"]
    finally:
        child.kill()
        child.wait()


def test_reaper_spares_containers_of_live_owners(backend):
    with backend.session(FAST, {}) as s:
        backend.reap()
        assert s.run(["true"]).exit_code == 0


def test_session_keeps_files_across_runs(backend):
    with backend.session(FAST, {"a.txt": b"A"}) as s:
        assert s.run(["sh", "-c", "cat a.txt; echo B > b.txt"]).stdout == b"A"
        s.write_file("dir/c.txt", b"C")
        assert s.run(["sh", "-c", "cat b.txt dir/c.txt"]).stdout == b"B\nC"
        assert s.read_file("b.txt") == b"B\n"
        assert s.read_file("/work/dir/c.txt") == b"C"
        with pytest.raises(FileNotFoundError):
            s.read_file("missing.txt")
        with pytest.raises(ValueError):
            s.read_file("../etc/passwd")


def test_session_timeout_kills_its_processes_but_keeps_files(backend):
    with backend.session(FAST, {"keep.txt": b"kept"}) as s:
        start = time.monotonic()
        r = s.run(["sh", "-c", "sleep 60 & sleep 60"], limits=Limits(wall_s=1))
        assert r.timed_out and time.monotonic() - start < 1 + 2
        ps = s.run(["ps", "-e", "-o", "user=,comm="]).stdout.decode()
        assert "sleep" not in [line.split()[1] for line in ps.splitlines() if line.split()[0] == "sandbox"]
        assert s.read_file("keep.txt") == b"kept"


def test_session_container_is_removed_on_close(backend):
    s = backend.session(FAST, {})
    assert len(containers(backend)) == 1
    s.close()
    assert containers(backend) == []
    with pytest.raises(RuntimeError):
        s.run(["true"])


def test_check_names_the_fix_for_a_missing_image(backend):
    reason = DockerBackend(image="assay-sandbox:no-such-tag").check()
    assert reason is not None and "assay sandbox build-image" in reason


def test_check_names_the_fix_for_an_unreachable_daemon(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    reason = DockerBackend().check()
    assert reason is not None and "dockerd" in reason


def test_run_without_the_image_raises_sandbox_unavailable(backend):
    from assay.sandbox.backend import SandboxUnavailable

    with pytest.raises(SandboxUnavailable, match="build-image"):
        DockerBackend(image="assay-sandbox:no-such-tag").run(["true"], {}, b"", FAST)


def test_session_survives_a_fork_bomb_that_times_out(backend):
    bomb = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass"
    with backend.session(Limits(pids=16), {}) as s:
        start = time.monotonic()
        r = s.run(["python3", "-c", bomb], limits=Limits(wall_s=1))
        assert r.timed_out and time.monotonic() - start < 1 + 2
        assert s.run(["echo", "alive"]).stdout == b"alive\n"
