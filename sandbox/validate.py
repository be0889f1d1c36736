"""Input checks shared by ``Sandbox``, sessions and pools: bad input is a clear ``ValueError``
before anything starts, never a crash inside a backend."""

from __future__ import annotations

from collections.abc import Mapping

from assay.sandbox.limits import Limits

MAX_FILES = 10_000


def to_bytes(value: object, what: str) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8", errors="surrogateescape")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise ValueError(f"{what} must be str or bytes, got {type(value).__name__}")


def check_cmd(cmd: object) -> list[str]:
    if isinstance(cmd, (str, bytes)) or not isinstance(cmd, (list, tuple)):
        raise ValueError(f"cmd must be a list of strings such as ['python3', 'main.py'], got {type(cmd).__name__}")
    if not cmd:
        raise ValueError("cmd is empty: give the program to run, e.g. ['python3', 'main.py']")
    for i, arg in enumerate(cmd):
        if not isinstance(arg, str):
            raise ValueError(f"cmd[{i}] must be a str, got {type(arg).__name__}: {arg!r}")
        if "\0" in arg:
            raise ValueError(f"cmd[{i}] contains a NUL byte, which no program argument can hold")
    if not cmd[0]:
        raise ValueError("cmd[0] is empty")
    return list(cmd)


def check_path(path: object) -> str:
    """A relative path inside the work directory: no NUL, not absolute, no '..' component."""
    if not isinstance(path, str):
        raise ValueError(f"file name must be a str, got {type(path).__name__}: {path!r}")
    if not path or "\0" in path:
        raise ValueError(f"file name {path!r} is empty or contains a NUL byte")
    if path.startswith("/"):
        raise ValueError(f"file name {path!r} is absolute: give a path relative to the work directory")
    parts = path.split("/")
    if ".." in parts:
        raise ValueError(f"file name {path!r} contains '..': files must stay inside the work directory")
    if any(p in ("", ".") for p in parts):
        raise ValueError(f"file name {path!r} has an empty or '.' component")
    if len(path.encode("utf-8", errors="surrogateescape")) > 4000 or any(len(p) > 255 for p in parts):
        raise ValueError(f"file name {path[:60]!r}... is too long")
    return path


def check_files(files: object, limits: Limits) -> dict[str, bytes]:
    if not isinstance(files, Mapping):
        raise ValueError(f"files must be a dict of name -> str | bytes, got {type(files).__name__}")
    if len(files) > MAX_FILES:
        raise ValueError(f"{len(files)} files is more than {MAX_FILES}")
    out = {check_path(k): to_bytes(v, f"files[{k!r}]") for k, v in files.items()}
    names = set(out)
    for name in out:  # 'a' and 'a/b' cannot both be files
        parts = name.split("/")
        for i in range(1, len(parts)):
            if "/".join(parts[:i]) in names:
                raise ValueError(f"file {name!r} needs {'/'.join(parts[:i])!r} to be a directory, but it is a file")
    total = sum(len(v) for v in out.values())
    if total > limits.disk_mb << 20:
        raise ValueError(f"files total {total} bytes, more than Limits.disk_mb={limits.disk_mb} MiB")
    return out


# Sandbox paths a read-only mount may not cover: the work dirs, the runtime and the kernel's views.
_RESERVED_MOUNTS = ("/work", "/tmp", "/dev", "/proc", "/sys", "/usr", "/etc", "/bin", "/lib", "/.assay")


def check_ro_mounts(mounts: object) -> dict[str, str]:
    """``{sandbox path: host directory}`` for read-only mounts into a session. The sandbox path is
    absolute, normalised and outside the reserved trees; the host path is an existing directory."""
    import os

    if not isinstance(mounts, Mapping):
        raise ValueError(f"ro_mounts must be a dict of sandbox path -> host directory, got {type(mounts).__name__}")
    out = {}
    for dest, src in mounts.items():
        if not isinstance(dest, str) or not dest.startswith("/") or "\0" in dest or os.path.normpath(dest) != dest or dest == "/":
            raise ValueError(f"ro_mounts key {dest!r} must be a normalised absolute path such as /opt/data")
        if any(dest == r or dest.startswith(r + "/") for r in _RESERVED_MOUNTS):
            raise ValueError(f"ro_mounts key {dest!r} is inside a reserved tree ({', '.join(_RESERVED_MOUNTS)}): use e.g. /opt/...")
        if not isinstance(src, (str, os.PathLike)) or not os.path.isdir(src):
            raise ValueError(f"ro_mounts[{dest!r}] = {src!r} is not an existing host directory")
        out[dest] = os.path.realpath(src)
    return out


def check_limits(limits: object) -> Limits:
    if not isinstance(limits, Limits):
        raise ValueError(f"limits must be an assay.sandbox.Limits, got {type(limits).__name__}")
    return limits


def check_session_limits(limits: object, opened: Limits) -> Limits:
    """Per-call limits of a long-lived sandbox: the work dir size and network are fixed at open."""
    limits = check_limits(limits)
    if limits.disk_mb != opened.disk_mb or limits.network != opened.network:
        raise ValueError("disk_mb and network are fixed when the sandbox opens "
                         f"(disk_mb={opened.disk_mb}, network={opened.network}); open another for different ones")
    return limits
