"""The agent that lives inside a long-lived bwrap sandbox (pooled workers and sessions).

Runs as ``python3 -I -S /.assay/agent.py pool|session REQ_FD ANS_FD`` with this file and
``pump.py`` bind-mounted read-only; stdlib only, never imports assay. It reads framed requests
on REQ_FD and answers on ANS_FD, echoing each request's ``id``. Only the agent holds these fds
(bwrap's pid 1 does not, and the agent's children close them), and the agent is non-dumpable,
so no program can open them through /proc and forge or steal frames.

Per program it forks a fresh child (``setsid``, rlimits, ``oom_score_adj`` 1000, cwd /work) that
either ``exec``s a command or, for Python source, runs it in the forked interpreter without an
``exec`` (no interpreter start-up: that is the pooled path's speed). After the child ends it
kills every other process in the sandbox's pid namespace (``kill(-1)``: all but pid 1 and
itself), reaps them (it is a child subreaper), and in ``pool`` mode empties /work, /tmp and
/dev/shm, so the next program sees no files, processes or environment of the last one. The agent
is non-dumpable, so a program (same uid) cannot ptrace it or read its memory; a program that
kills or stops the agent only destroys this sandbox, which the host then replaces.
Not covered: a forked program shares the agent's hash seed (``PYTHONHASHSEED``) and already
imported stdlib modules; ``sys.argv``/``__file__`` are synthetic.
"""

import builtins
import ctypes
import errno
import io
import json
import math
import os
import resource
import shutil
import signal
import struct
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pump import pump  # noqa: E402  (bind-mounted next to this file)

WORK = "/work"
SCRATCH = (WORK, "/tmp", "/dev/shm")
PR_SET_DUMPABLE, PR_SET_CHILD_SUBREAPER = 4, 36
HDR = struct.Struct(">I")


def read_exact(fd, n):
    parts = []
    while n:
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            raise EOFError
        parts.append(chunk)
        n -= len(chunk)
    return b"".join(parts)


def recv(fd):
    header = json.loads(read_exact(fd, HDR.unpack(read_exact(fd, HDR.size))[0]))
    blobs = [read_exact(fd, n) for n in header.pop("blobs", [])]
    return header, blobs


def send(fd, header, blobs=()):
    header = dict(header, blobs=[len(b) for b in blobs])
    data = json.dumps(header).encode()
    os.write(fd, HDR.pack(len(data)) + data)
    for blob in blobs:
        view = memoryview(blob)
        while view:
            view = view[os.write(fd, view):]


def safe_path(path):
    parts = path.split("/")
    if path.startswith("/") or ".." in parts or "\0" in path or not path:
        raise ValueError(f"bad path {path!r}")
    return os.path.join(WORK, path)


def write_file(path, data):
    full = safe_path(path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "wb") as f:
        f.write(data)
    os.chmod(full, 0o755)


def kill_others():
    """SIGKILL every process in this pid namespace but pid 1 and the agent; reap them."""
    me = os.getpid()
    for _ in range(1000):
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            pass
        reap()
        alive = [p for p in os.listdir("/proc") if p.isdigit() and int(p) not in (1, me)]
        if not alive:
            return
        time.sleep(0.001)
    raise RuntimeError("processes survive kill(-1)")


REAPED = {}  # pid -> wait status of children reaped while cleaning up


def reap():
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        REAPED[pid] = status


def wait_for(pid):
    if pid not in REAPED:
        try:
            _, status = os.waitpid(pid, 0)
            return status
        except ChildProcessError:
            pass
    return REAPED.pop(pid)


def wipe():
    for top in SCRATCH:
        for name in os.listdir(top):
            path = os.path.join(top, name)
            try:
                if os.path.isdir(path) and not os.path.islink(path):
                    for root, dirs, _ in os.walk(path):  # undo chmod 000 tricks
                        os.chmod(root, 0o700)
                        for d in dirs:
                            os.chmod(os.path.join(root, d), 0o700)
                    shutil.rmtree(path)
                else:
                    os.unlink(path)
            except FileNotFoundError:
                pass


def child(req, fds, env):
    """In the forked child: become the program. Never returns."""
    in_r, out_w, err_w = fds
    try:
        os.setsid()
        os.dup2(in_r, 0)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        os.closerange(3, 1 << 16)
        limits = req["limits"]
        cpu = max(1, math.ceil(limits["cpu_s"]))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if limits.get("address_space"):
            resource.setrlimit(resource.RLIMIT_AS, (limits["address_space"],) * 2)
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("1000")
        os.chdir(WORK)
        os.umask(0o022)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        if req.get("cmd") is not None:
            # Python ignores SIGPIPE and SIGXFSZ, and ignored signals survive exec: without this
            # `yes | head -1` would print "Broken pipe" here but not in a one-shot run
            for sig in (signal.SIGPIPE, signal.SIGXFSZ):
                signal.signal(sig, signal.SIG_DFL)
            try:
                os.execvpe(req["cmd"][0], req["cmd"], env)
            except OSError as e:
                os.write(2, f"{req['cmd'][0]}: {e.strerror}\n".encode())
                os._exit(127 if e.errno == errno.ENOENT else 126)
        os._exit(run_source(req["code"], env))
    except BaseException:  # noqa: BLE001  (the child must never fall back into the agent loop)
        os._exit(125)


def run_source(code, env):
    """Run Python source as ``python3 main.py`` would, in this already-started interpreter."""

    os.environ.clear()
    os.environ.update(env)
    sys.stdin = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "r", closefd=False)))
    sys.stdout = io.TextIOWrapper(io.BufferedWriter(io.FileIO(1, "w", closefd=False)))
    sys.stderr = io.TextIOWrapper(io.BufferedWriter(io.FileIO(2, "w", closefd=False)),
                                  line_buffering=True, errors="backslashreplace")
    sys.argv = ["main.py"]
    sys.path[0] = WORK
    status = 0
    try:
        exec(compile(code, "main.py", "exec"), {"__name__": "__main__", "__builtins__": builtins,
                                                 "__file__": os.path.join(WORK, "main.py")})
    except SystemExit as e:
        if e.code is None:
            status = 0
        elif isinstance(e.code, int):
            status = e.code & 0xFF
        else:
            print(e.code, file=sys.stderr)
            status = 1
    except BaseException as e:  # noqa: BLE001  (what python3 prints for an uncaught exception)
        tb = e.__traceback__.tb_next  # drop this function's frame
        traceback.print_exception(type(e), e, tb, file=sys.stderr)
        status = 1
    if "threading" in sys.modules:
        try:
            sys.modules["threading"]._shutdown()
        except BaseException:  # noqa: BLE001
            pass
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001
            status = status or 120
    return status


def run(req, blobs, env, mode):
    start = time.monotonic()
    stdin, file_blobs = blobs[0], blobs[1:]
    for name, data in zip(req["files"], file_blobs):
        write_file(name, data)
    (in_r, in_w), (out_r, out_w), (err_r, err_w) = os.pipe(), os.pipe(), os.pipe()
    pid = os.fork()
    if pid == 0:
        child(req, (in_r, out_w, err_w), env)
    for fd in (in_r, out_w, err_w):
        os.close(fd)
    exit_fd = os.pidfd_open(pid)
    limits = req["limits"]
    try:
        got = pump(in_w, out_r, err_r, stdin, limits["output_bytes"], start + limits["wall_s"], exit_fd,
                   on_exit=kill_others)
    finally:
        os.close(exit_fd)
    if got.timed_out or got.truncated or not got.exited:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    status = wait_for(pid)
    kill_others()
    REAPED.clear()
    if mode == "pool":
        wipe()
    code = -signal.SIGKILL if (got.timed_out or got.truncated) else os.waitstatus_to_exitcode(status)
    return {"exit_code": code, "timed_out": got.timed_out, "truncated": got.truncated,
            "wall_s": time.monotonic() - start}, [bytes(got.out), bytes(got.err)]


def main():
    mode = sys.argv[1]
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    ctrl_in, ctrl_out = int(sys.argv[2]), int(sys.argv[3])
    for fd in (ctrl_in, ctrl_out):
        os.set_inheritable(fd, False)  # belt and braces: child() closes every fd above 2 anyway
    null = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    env = dict(os.environ)
    send(ctrl_out, {"ready": True, "pid": os.getpid()})
    while True:
        try:
            req, blobs = recv(ctrl_in)
        except EOFError:
            return
        op = req["op"]
        try:
            if op == "run":
                header, out = run(req, blobs, env, mode)
            elif op == "read":
                with open(safe_path(req["path"]), "rb") as f:
                    header, out = {"ok": True}, [f.read()]
            elif op == "write":
                write_file(req["path"], blobs[0])
                header, out = {"ok": True}, []
            else:
                header, out = {"error": f"unknown op {op!r}"}, []
        except (OSError, ValueError) as e:
            header, out = {"error": f"{type(e).__name__}: {e}"}, []
        send(ctrl_out, dict(header, id=req.get("id")), out)


if __name__ == "__main__":
    main()
