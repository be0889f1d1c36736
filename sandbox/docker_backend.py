"""Docker backend: each run in a fresh container of a locally built image (see ``image.py``).

How a run goes. A container is created from the image with every limit set on it and a holder
process (``sleep``) under Docker's init as PID 1; the work directory ``/work`` is an anonymous
volume backed by a size-capped tmpfs, so files go in with ``put_archive`` (a read-only root
refuses anything else). The command then runs with ``exec`` as the unprivileged ``sandbox`` user
(uid 1000), stdin written and stdout/stderr read on the exec's socket, and the container is
removed. The session form keeps one container alive and execs each call in it.

What is enforced, and how:

- wall time: the caller's clock; at the limit a one-shot container is removed (every process in
  it dies with it), a session kills every process of uid 1000 in its container (``kill -9 -1``).
- memory: ``mem_limit`` = ``memswap_limit`` (no swap) on the container's cgroup; an OOM kill is
  read from Docker's ``oom`` event for the container and reported as ``memory_exceeded``.
- pids: ``pids_limit`` on the cgroup: ``limits.pids`` for the program (itself included), plus 2 for
  init and holder (a session reserves 1 more, for the helper that kills its processes).
- CPU: ``RLIMIT_CPU`` = ``cpu_s`` per process (a tree of processes can use more in total, up to
  the wall limit), and ``nano_cpus`` caps the container at ``cpus`` cores (default 1).
- output: each stream keeps ``output_bytes``; the rest is read and dropped (``output_truncated``).
  Container logs are off (``log_config=none``), so nothing reaches the daemon's disk.
- disk: ``/work``, ``/tmp`` and ``/dev/shm`` are tmpfs, each capped at ``disk_mb``; the root file
  system is read-only. tmpfs pages count against ``memory_mb`` too.
- network: ``network_mode="none"`` (loopback only) unless ``network=True`` (Docker's bridge).
- privilege: ``cap_drop=ALL``, ``no-new-privileges``, Docker's default seccomp profile, its own
  pid/ipc/uts/mount namespaces, no host environment variables.
- leaks: every container is labelled with its owner (host, pid, process start time) and removed
  after the run, at ``close()``, and by :meth:`DockerBackend.reap` (run when a backend first
  connects) once its owner process is gone, also after the owner was SIGKILLed. A one-shot holder
  also exits by itself shortly after the wall limit, and the container then removes itself.

Not covered: user namespaces are off (the daemon runs as root; a kernel or runc escape is host
root, as for any ``docker run``); exit codes above 128 are passed through as Docker reports them
(it cannot tell ``exit(137)`` from SIGKILL), except that runs the backend killed report -9;
``cpu_s`` is per process, not per tree; within a session, ``memory_mb``, ``pids``, ``disk_mb`` and
``network`` are fixed when it opens and a call's ``limits`` only change wall time and output caps.
"""

from __future__ import annotations

import io
import math
import os
import select
import socket
import tarfile
import threading
import time
from pathlib import PurePosixPath

from assay.sandbox.backend import SandboxUnavailable
from assay.sandbox.image import SANDBOX_UID, WORKDIR, default_tag
from assay.sandbox.limits import ExecResult, Limits

LABEL = "assay.sandbox"
OWNER_LABEL = "assay.owner"  # "<hostname>:<pid>:<process start time in clock ticks>"
_EXTRA_PIDS = 2  # docker-init and the holder (a session reserves one more for its kill helper)
_GRACE_S = 1.0  # after a kill, how long to wait for the exec's stream to end
_USER = f"{SANDBOX_UID}:{SANDBOX_UID}"


def _start_time(pid: int) -> str | None:
    """The process's start time (clock ticks since boot), or None when it does not exist."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return None


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{_start_time(os.getpid())}"


def _owner_alive(owner: str) -> bool:
    host, _, rest = owner.partition(":")
    pid, _, started = rest.partition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True  # another machine's container (remote daemon): not ours to judge
    return _start_time(int(pid)) == started


def _tar(files: dict[str, bytes]) -> bytes:
    """A tar of ``files`` (paths relative to the work dir), owned by the sandbox user."""
    buf = io.BytesIO()
    dirs: set[str] = set()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path, data in files.items():
            parts = PurePosixPath(path).parts
            for i in range(1, len(parts)):
                d = "/".join(parts[:i])
                if d not in dirs:
                    dirs.add(d)
                    info = tarfile.TarInfo(d)
                    info.type, info.mode, info.uid, info.gid = tarfile.DIRTYPE, 0o755, SANDBOX_UID, SANDBOX_UID
                    tar.addfile(info)
            info = tarfile.TarInfo("/".join(parts))
            info.size, info.mode, info.uid, info.gid = len(data), 0o644, SANDBOX_UID, SANDBOX_UID
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _work_path(path: str) -> str:
    """An absolute path inside the work dir for a session's read/write; ValueError otherwise."""
    if not isinstance(path, str) or not path or "\0" in path:
        raise ValueError(f"path must be a non-empty string without NUL, got {path!r}")
    p = PurePosixPath(path)
    rel = p.relative_to(WORKDIR) if p.is_absolute() and p.is_relative_to(WORKDIR) else p
    if rel.is_absolute() or ".." in rel.parts or not rel.parts or str(rel) == ".":
        raise ValueError(f"path must name a file inside {WORKDIR}, got {path!r}")
    return f"{WORKDIR}/{rel}"


class _Stream:
    """Demultiplexes Docker's exec stream (8-byte frame headers) into capped stdout/stderr."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.out = [bytearray(), bytearray()]
        self.truncated = False
        self._buf = bytearray()

    def feed(self, data: bytes) -> None:
        self._buf += data
        pos = 0
        while len(self._buf) - pos >= 8:
            kind, size = self._buf[pos], int.from_bytes(self._buf[pos + 4 : pos + 8], "big")
            if len(self._buf) - pos - 8 < size:
                break
            dest = self.out[1 if kind == 2 else 0]
            room = self.cap - len(dest)
            if size > room:
                self.truncated = True
            if room > 0:
                dest += self._buf[pos + 8 : pos + 8 + min(size, room)]
            pos += 8 + size
        del self._buf[:pos]


def _exec(api, container_id: str, cmd: list[str], stdin: bytes, limits: Limits, kill) -> ExecResult:
    """Run ``cmd`` in a running container; call ``kill()`` at the wall limit."""
    exec_id = api.exec_create(container_id, cmd, stdin=True, user=_USER, workdir=WORKDIR)["Id"]
    start = time.monotonic()
    deadline = start + limits.wall_s
    sock = api.exec_start(exec_id, socket=True)
    raw = getattr(sock, "_sock", sock)
    stream = _Stream(limits.output_bytes)
    pending, timed_out = memoryview(stdin), False
    try:
        raw.setblocking(False)
        if not pending:
            raw.shutdown(socket.SHUT_WR)
        while True:
            now = time.monotonic()
            if not timed_out and now >= deadline:
                timed_out = True
                kill()
                deadline = now + _GRACE_S
            elif timed_out and now >= deadline:
                break
            want_write = [raw] if pending else []
            readable, writable, _ = select.select([raw], want_write, [], max(0.0, deadline - now))
            if writable:
                try:
                    pending = pending[raw.send(pending[: 1 << 16]) :]
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:  # the program exited without reading all of stdin
                    pending = memoryview(b"")
                if not pending:
                    try:
                        raw.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
            if readable:
                try:
                    data = raw.recv(1 << 20)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    break
                if not data:
                    break
                stream.feed(data)
    finally:
        raw.close()
        sock.close()
    wall = time.monotonic() - start
    code = None if timed_out else _exit_code(api, exec_id)
    out, err = bytes(stream.out[0]), bytes(stream.out[1])
    if code in (126, 127) and out.startswith(b"OCI runtime exec failed"):
        out, err = b"", out + err  # Docker's own "executable not found" arrives on stdout
    return ExecResult(
        exit_code=-9 if timed_out or code is None else code,
        stdout=out,
        stderr=err,
        wall_s=wall,
        timed_out=timed_out,
        output_truncated=stream.truncated,
    )


def _exit_code(api, exec_id: str) -> int | None:
    """The exec's exit code; None when its container is gone (removed at a timeout)."""
    import docker.errors

    try:
        for _ in range(100):  # the stream can end a moment before Docker records the exit
            info = api.exec_inspect(exec_id)
            if not info.get("Running"):
                return info.get("ExitCode")
            time.sleep(0.01)
    except docker.errors.NotFound:
        pass
    return None


class _Box:
    """One labelled container with its limits: created, started, killed, removed."""

    def __init__(self, backend: DockerBackend, limits: Limits, holder: list[str], extra_pids: int = 0,
                 ro_mounts: dict[str, str] | None = None) -> None:
        import docker.errors
        import docker.types as dt

        self.backend = backend
        self.api = backend.client().api
        self.created = time.time()
        self.ooms = 0
        tmpfs_opts = f"size={limits.disk_mb}m,uid={SANDBOX_UID},gid={SANDBOX_UID},mode=0700,nosuid,nodev"
        work = dt.Mount(
            target=WORKDIR, source=None, type="volume", labels={LABEL: "1"},
            driver_config=dt.DriverConfig("local", {"type": "tmpfs", "device": "tmpfs", "o": tmpfs_opts}),
        )
        cpu = max(1, math.ceil(limits.cpu_s))
        host_config = self.api.create_host_config(
            init=True,
            auto_remove=True,
            read_only=True,
            mounts=[work],
            binds={src: {"bind": dest, "mode": "ro"} for dest, src in (ro_mounts or {}).items()},
            tmpfs={"/tmp": f"size={limits.disk_mb}m,mode=1777,nosuid,nodev"},
            shm_size=f"{limits.disk_mb}m",
            network_mode="bridge" if limits.network else "none",
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            mem_limit=limits.memory_mb << 20,
            memswap_limit=limits.memory_mb << 20,
            pids_limit=limits.pids + _EXTRA_PIDS + extra_pids,
            nano_cpus=int(backend.cpus * 1e9),
            # No core files: a crash must not write to the host (core_pattern may pipe to a helper).
            ulimits=[dt.Ulimit(name="cpu", soft=cpu, hard=cpu + 1), dt.Ulimit(name="core", soft=0, hard=0)],
            log_config=dt.LogConfig(type="none"),
            ipc_mode="private",
        )
        try:
            self.id = self.api.create_container(
                backend.image, holder, user="0:0", working_dir=WORKDIR, hostname="sandbox",
                labels={LABEL: "1", OWNER_LABEL: backend.owner}, host_config=host_config,
            )["Id"]
        except docker.errors.ImageNotFound as e:
            raise SandboxUnavailable(backend.check() or str(e)) from e
        try:
            self.api.start(self.id)
        except Exception:
            self.remove()
            raise

    def put(self, files: dict[str, bytes]) -> None:
        if files:
            self.api.put_archive(self.id, WORKDIR, _tar(files))

    def run(self, cmd: list[str], stdin: bytes, limits: Limits, kill) -> ExecResult:
        result = _exec(self.api, self.id, cmd, stdin, limits, kill)
        # An exec'd process's OOM kill shows only as an "oom" event (State.OOMKilled is set when
        # the container's init dies). The event can trail the exit by a moment.
        ooms, waited = self._count_ooms(), 0.0
        while ooms <= self.ooms and result.exit_code == 137 and not result.timed_out and waited < 1.0:
            time.sleep(0.05)
            ooms, waited = self._count_ooms(), waited + 0.05
        exceeded, self.ooms = ooms > self.ooms, ooms
        if not exceeded:
            return result
        return ExecResult(-9, result.stdout, result.stderr, result.wall_s, result.timed_out, True, result.output_truncated)

    def _count_ooms(self) -> int:
        events = self.backend.client().events(
            since=f"{self.created - 1:.6f}", until=f"{time.time():.6f}",
            filters={"container": self.id, "event": "oom"}, decode=True,
        )
        return sum(1 for _ in events)

    def kill(self) -> None:
        import docker.errors

        try:
            self.api.kill(self.id)
        except docker.errors.APIError:  # gone already, or stopping
            pass

    def remove(self) -> None:
        import docker.errors

        try:
            self.api.remove_container(self.id, force=True, v=True)
        except docker.errors.NotFound:
            return
        except docker.errors.APIError as e:
            if e.status_code != 409:
                raise
            # Docker's own auto-removal is under way: wait for it, so "removed" means gone.
            for _ in range(200):
                try:
                    self.api.inspect_container(self.id)
                except docker.errors.NotFound:
                    return
                time.sleep(0.05)


class DockerSession:
    """A long-lived container for a multi-turn agent: files persist across ``run`` calls.

    Calls are serialized. A call ends when its program exits (Docker closes the output stream
    about 2 s later if a background child still holds it; the child keeps running). A call that
    times out kills every process the session's programs started; the files stay. If even the
    kill helper cannot start (pids exhausted), the container is killed and the session closes.
    ``close()`` (or leaving the ``with`` block) removes the container.
    """

    def __init__(self, backend: DockerBackend, limits: Limits, files: dict[str, bytes],
                 ro_mounts: dict[str, str] | None = None) -> None:
        self.limits = limits
        self._lock = threading.Lock()
        self._box = _Box(backend, limits, ["sleep", "infinity"], extra_pids=1, ro_mounts=ro_mounts)
        self._closed = False
        self._killer = None
        try:
            self._box.put(files)
        except Exception:
            self.close()
            raise

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("this sandbox session is closed")

    def _arm_killer(self):
        """A resident shell of the sandbox user that runs ``kill -9 -1`` per line it reads.

        ``read`` and ``kill`` are shell builtins, so killing needs no new process: it works when
        a fork bomb holds every pid slot (the shell itself holds the one reserved for it).
        ``kill -9 -1`` signals every process of the user but the caller, so it survives.
        """
        if self._killer is not None:
            readable, _, _ = select.select([self._killer], [], [], 0)
            if not readable:
                return self._killer
            self._killer.close()  # it printed nothing unasked: it is dead (a program killed it)
            self._killer = None
        script = "while read _; do kill -9 -1; kill -9 -1; kill -9 -1; echo killed; done"
        exec_id = self._box.api.exec_create(self._box.id, ["sh", "-c", script], stdin=True, user=_USER)["Id"]
        self._killer_io = self._box.api.exec_start(exec_id, socket=True)  # keeps the socket open
        self._killer = getattr(self._killer_io, "_sock", self._killer_io)
        return self._killer

    def _kill_all(self) -> None:
        """Kill every process of the sandbox user; if that fails, the container (and session)."""
        try:
            killer = self._killer
            killer.sendall(b"k\n")
            got, deadline = b"", time.monotonic() + 2
            while b"killed" not in got and time.monotonic() < deadline:
                if select.select([killer], [], [], max(0.0, deadline - time.monotonic()))[0]:
                    chunk = killer.recv(4096)
                    if not chunk:
                        break
                    got += chunk
            if b"killed" in got:
                return
        except (OSError, AttributeError):
            pass
        self._box.kill()
        self._closed = True

    def run(self, cmd: list[str], stdin: bytes = b"", limits: Limits | None = None) -> ExecResult:
        with self._lock:
            self._check_open()
            self._arm_killer()
            return self._box.run(cmd, stdin, limits or self.limits, self._kill_all)

    def read_file(self, path: str) -> bytes:
        import docker.errors

        target = _work_path(path)
        with self._lock:
            self._check_open()
            try:
                chunks, _ = self._box.api.get_archive(self._box.id, target)
            except docker.errors.NotFound:
                raise FileNotFoundError(path) from None
            data = b"".join(chunks)
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            member = tar.next()
            if member is None or not member.isfile():
                raise IsADirectoryError(path) if member is not None and member.isdir() else FileNotFoundError(path)
            return tar.extractfile(member).read()

    def write_file(self, path: str, data: bytes) -> None:
        if isinstance(data, str):
            data = data.encode()
        rel = _work_path(path)[len(WORKDIR) + 1 :]
        with self._lock:
            self._check_open()
            self._box.put({rel: bytes(data)})

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._killer is not None:
                self._killer.close()
            self._box.remove()

    def __enter__(self) -> DockerSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class DockerBackend:
    """Runs commands in containers of ``image`` (default :func:`assay.sandbox.image.default_tag`)."""

    name = "docker"

    def __init__(self, image: str | None = None, cpus: float = 1.0) -> None:
        if not 0 < cpus <= (os.cpu_count() or 1) * 4:
            raise ValueError(f"cpus must be in (0, {(os.cpu_count() or 1) * 4}], got {cpus!r}")
        self.image = image or default_tag()
        self.cpus = cpus
        self.owner = _owner()
        self._client = None
        self._lock = threading.Lock()

    def client(self):
        """The Docker client, connected on first use (which also reaps orphaned containers)."""
        with self._lock:
            if self._client is None:
                try:
                    import docker

                    client = docker.from_env(max_pool_size=64)
                    self._reap(client)
                except Exception as e:
                    raise SandboxUnavailable(self.check() or f"docker backend: {e}") from e
                self._client = client
            return self._client

    def check(self) -> str | None:
        try:
            import docker
        except ImportError:
            return "docker backend: the Docker SDK is missing; install it: pip install 'docker>=7'"
        where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        try:
            probe = docker.from_env(timeout=5)
            probe.ping()
        except Exception as e:
            why = str(e).splitlines()[0][:120] if str(e) else type(e).__name__
            return (f"docker backend: no Docker daemon answers at {where} ({why}); start it as root: "
                    "`dockerd &` (`make test` does: .ci/start-dockerd.sh)")
        try:
            probe.images.get(self.image)
        except docker.errors.ImageNotFound:
            return f"docker backend: image {self.image} is missing; run: assay sandbox build-image"
        except Exception as e:
            return f"docker backend: cannot inspect image {self.image}: {e}"
        finally:
            probe.close()
        return None

    def run(self, cmd: list[str], files: dict[str, bytes], stdin: bytes, limits: Limits) -> ExecResult:
        # The holder outlives the wall limit a little, then the container removes itself even if
        # this process died and no reaper ran.
        box = _Box(self, limits, ["sleep", str(math.ceil(limits.wall_s) + 60)])
        try:
            box.put(files)
            return box.run(cmd, stdin, limits, box.remove)
        finally:
            box.remove()

    def session(self, limits: Limits, files: dict[str, bytes], ro_mounts: dict[str, str] | None = None) -> DockerSession:
        """``ro_mounts`` are host directories bind-mounted read-only (the daemon must share this host)."""
        return DockerSession(self, limits, files, ro_mounts)

    def reap(self) -> int:
        """Remove sandbox containers whose owner process is gone; returns how many."""
        return self._reap(self.client())

    @staticmethod
    def _reap(client) -> int:
        import docker.errors

        removed = 0
        for c in client.api.containers(all=True, filters={"label": LABEL}):
            owner = c.get("Labels", {}).get(OWNER_LABEL, "")
            if owner and _owner_alive(owner):
                continue
            try:
                client.api.remove_container(c["Id"], force=True, v=True)
                removed += 1
            except docker.errors.APIError:
                pass  # removed meanwhile (auto-remove) or by another reaper
        for v in client.api.volumes(filters={"label": LABEL, "dangling": True}).get("Volumes") or []:
            try:
                client.api.remove_volume(v["Name"])
            except docker.errors.APIError:
                pass
        return removed
