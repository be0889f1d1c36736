"""Build the Docker image the sandbox runs in, locally, with no registry.

Registries cannot be reached where assay is tested, so nothing is pulled. Two ways to make the
image, both ending in ``docker import`` of a root filesystem tarball:

- ``method="host"`` (default, about 5 s): the Python runtime that runs assay (``sys.base_prefix``:
  interpreter, standard library, ``lib-dynload``), ``/bin/sh`` and a few coreutils copied from the
  host together with the closure of shared libraries ``ldd`` reports for them. The image's Python
  is exactly the host's (same version, same stdlib), which is what verifiers expect. No
  site-packages: model code gets the standard library only.
- ``method="debootstrap"`` (about 40 s with a nearby mirror): a Debian ``minbase`` made by
  ``debootstrap`` from the mirror apt already uses, with ``python3``. A real distribution
  (apt, dpkg, coreutils) for images that need more than a bare runtime.

Both images carry a ``sandbox`` user (uid 1000) whose home is the work directory ``/work``.
The default tag is :func:`default_tag` (``assay-sandbox:py3.11`` under Python 3.11), which is
what :class:`assay.sandbox.docker_backend.DockerBackend` uses when given no image.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import time
from pathlib import Path

SANDBOX_UID = 1000
WORKDIR = "/work"
IMAGE_LABEL = "assay.sandbox.image"

# Host programs copied into the "host" image when present (with their libraries). /bin/sh and
# Python are required; the rest makes shell-using tests and tools work.
_TOOLS = (
    "sh dash cat ls echo sleep head tail dd mkdir rm cp mv true false env yes wc sort uniq tr cut "
    "grep sed timeout id touch chmod ln seq tee uname stat kill ps printf test expr basename dirname"
).split()
# Parts of the standard library a sandboxed program never needs (tests, GUIs, the static lib).
_STDLIB_SKIP = {"site-packages", "test", "idlelib", "tkinter", "turtledemo", "ensurepip", "tests"}
_DYNLOAD_SKIP = re.compile(r"^(_test|xx|_tkinter|_ctypes_test)")


def default_tag() -> str:
    """The image the Docker backend uses by default: one per host Python minor version."""
    return f"assay-sandbox:py{sys.version_info.major}.{sys.version_info.minor}"


def _docker():
    try:
        import docker
    except ImportError as e:  # pragma: no cover - docker is a dependency of assay
        raise RuntimeError("the Docker SDK is missing: pip install 'docker>=7'") from e
    try:
        client = docker.from_env(timeout=600)
        client.ping()
    except docker.errors.DockerException as e:
        raise RuntimeError(f"no Docker daemon answers ({e}); start it as root: dockerd &") from e
    return client


def image_exists(tag: str | None = None) -> bool:
    import docker

    try:
        _docker().images.get(tag or default_tag())
        return True
    except docker.errors.ImageNotFound:
        return False


# --- method "host": the host's Python runtime --------------------------------------------------


def _ldd(paths: list[Path]) -> set[Path]:
    """Shared libraries (and the dynamic loader) the given ELF files need, transitively."""
    libs: set[Path] = set()
    for path in paths:
        out = subprocess.run(["ldd", str(path)], capture_output=True, text=True).stdout
        for line in out.splitlines():
            # "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)"
            m = re.search(r"(?:=>\s*)?(/\S+)\s+\(0x", line)
            if m:
                libs.add(Path(m.group(1)))
    return libs


def _copy_into(root: Path, src: Path, dest: str | None = None) -> None:
    """Copy ``src`` to ``root/dest`` (default: the same absolute path), resolving symlinks."""
    target = root / (dest or str(src)).lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        shutil.copy2(src.resolve(), target)


def _skip_stdlib(directory: str, names: list[str]) -> set[str]:
    skipped = {n for n in names if n in _STDLIB_SKIP or n.startswith("config-")}
    skipped |= {n for n in names if n.endswith((".opt-1.pyc", ".opt-2.pyc"))}
    if directory.endswith("lib-dynload"):
        skipped |= {n for n in names if _DYNLOAD_SKIP.match(n)}
    return skipped


def _host_rootfs(root: Path) -> None:
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    prefix = Path(sys.base_prefix)
    python = prefix / "bin" / f"python{version}"
    if not python.exists():
        python = Path(os.path.realpath(sys.executable))
    stdlib = Path(sysconfig.get_paths(vars={"installed_base": str(prefix), "base": str(prefix)})["stdlib"])

    # usr-merged layout: /bin, /lib, /lib64, /sbin point into /usr, as on Debian since bookworm.
    for d in ("usr/bin", "usr/sbin", "usr/lib", "usr/lib64", "usr/local/bin", "usr/local/lib"):
        (root / d).mkdir(parents=True, exist_ok=True)
    for link in ("bin", "sbin", "lib", "lib64"):
        (root / link).symlink_to(f"usr/{link}")

    shutil.copytree(stdlib, root / f"usr/local/lib/python{version}", ignore=_skip_stdlib, symlinks=False)
    (root / f"usr/local/lib/python{version}/site-packages").mkdir()
    _copy_into(root, python, f"/usr/local/bin/python{version}")
    for alias in ("python3", "python"):
        (root / "usr/local/bin" / alias).symlink_to(f"python{version}")

    tools = [Path(p) for name in _TOOLS if (p := shutil.which(name, path="/usr/bin:/bin"))]
    if not any(t.name == "sh" for t in tools):
        raise RuntimeError("no /bin/sh on this host to copy into the image")
    for tool in tools:
        _copy_into(root, tool, f"/usr/bin/{tool.name}")

    elves = [python, *tools, *(root / f"usr/local/lib/python{version}/lib-dynload").glob("*.so")]
    libs = _ldd(elves)
    if not libs:
        raise RuntimeError("ldd found no shared libraries; is ldd installed (libc-bin)?")
    libc = next((p for p in libs if p.name.startswith("libc.so")), None)
    libdir = str(libc.parent) if libc else "/usr/lib"
    for lib in libs:
        # Libraries from outside the system dirs (e.g. pyenv's libpython) go where the loader looks
        # by default, since the image has no ld.so.cache.
        system = str(lib).startswith(("/lib", "/usr/lib"))
        _copy_into(root, lib, None if system else f"{libdir}/{lib.name}")


# --- method "debootstrap": a Debian minbase --------------------------------------------------


def _apt_mirror() -> tuple[str, str]:
    """(suite, mirror URL) from the host's apt sources, so the build uses the mirror apt uses."""
    suite = "bookworm"
    osr = Path("/etc/os-release")
    if osr.exists():
        m = re.search(r"^VERSION_CODENAME=(\w+)", osr.read_text(), re.M)
        suite = m.group(1) if m else suite
    sources = [Path("/etc/apt/sources.list"), *Path("/etc/apt/sources.list.d").glob("*")]
    for src in sources:
        text = src.read_text() if src.is_file() else ""
        for url in re.findall(r"(?:^deb\s+(?:\[[^]]*\]\s+)?|^URIs:\s*)(\S+)", text, re.M):
            if url.rstrip("/").endswith("/debian"):
                return suite, url
    return suite, "http://deb.debian.org/debian"


def _debootstrap_rootfs(root: Path) -> None:
    if shutil.which("debootstrap") is None:
        raise RuntimeError("debootstrap is missing: apt-get install debootstrap")
    if os.geteuid() != 0:
        raise RuntimeError("debootstrap needs root; use --method host instead")
    suite, mirror = _apt_mirror()
    cmd = ["debootstrap", "--variant=minbase", "--include=python3", suite, str(root), mirror]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"debootstrap failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for f in (root / cache).glob("*"):
            if f.is_file():
                f.unlink()


# --- common: users, mount points, import ---------------------------------------------------


def _finish_rootfs(root: Path) -> None:
    etc = root / "etc"
    etc.mkdir(exist_ok=True)
    passwd = etc / "passwd"
    existing = passwd.read_text() if passwd.exists() else "root:x:0:0:root:/root:/bin/sh\n"
    passwd.write_text(existing + f"sandbox:x:{SANDBOX_UID}:{SANDBOX_UID}:sandbox:{WORKDIR}:/bin/sh\n")
    group = etc / "group"
    existing = group.read_text() if group.exists() else "root:x:0:\n"
    group.write_text(existing + f"sandbox:x:{SANDBOX_UID}:\n")
    for name in ("hosts", "hostname", "resolv.conf"):  # Docker bind-mounts over these
        (etc / name).touch()
    for d, mode in ((WORKDIR, 0o755), ("/tmp", 0o1777), ("/proc", 0o555), ("/sys", 0o555), ("/dev", 0o755), ("/root", 0o700), ("/run", 0o755)):
        path = root / d.lstrip("/")
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(mode)


def _as_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def build_image(tag: str | None = None, method: str = "host", quiet: bool = False) -> str:
    """Build the sandbox image and return its tag. ``method`` is ``"host"`` or ``"debootstrap"``."""
    if method not in ("host", "debootstrap"):
        raise ValueError(f"method must be 'host' or 'debootstrap', got {method!r}")
    tag = tag or default_tag()
    client = _docker()
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="assay-image-") as tmp:
        root = Path(tmp) / "root"
        root.mkdir()
        (_host_rootfs if method == "host" else _debootstrap_rootfs)(root)
        _finish_rootfs(root)
        archive = Path(tmp) / "rootfs.tar"
        with tarfile.open(archive, "w") as tar:
            for entry in sorted(root.iterdir()):
                tar.add(entry, arcname=entry.name, filter=_as_root)
        repository, _, version = tag.rpartition(":") if ":" in tag.split("/")[-1] else (tag, "", "latest")
        changes = [
            "ENV PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
            "ENV LANG=C.UTF-8",
            "ENV PYTHONDONTWRITEBYTECODE=1",
            f"ENV HOME={WORKDIR}",
            f"WORKDIR {WORKDIR}",
            f"LABEL {IMAGE_LABEL}={method}",
            'CMD ["/bin/sh"]',
        ]
        client.api.import_image(src=str(archive), repository=repository, tag=version, changes=changes)
    if not quiet:
        print(f"built {tag} (method {method}) in {time.monotonic() - start:.1f} s")
    return tag


# --- CLI: `assay sandbox build-image` -------------------------------------------------------


def add_build_image_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``build-image`` to the ``assay sandbox`` command group (sets ``func`` and ``run``)."""
    p = subparsers.add_parser(
        "build-image",
        help="build the Docker sandbox image locally (no registry needed)",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
    )
    p.add_argument("--tag", default=None, help=f"image tag (default: {default_tag()})")
    p.add_argument("--method", choices=("host", "debootstrap"), default="host",
                   help="host: copy this host's Python runtime (fast); debootstrap: Debian minbase + python3")
    p.add_argument("--if-missing", action="store_true", help="do nothing when the image exists already")
    p.set_defaults(func=_build_image_cmd, run=_build_image_cmd)  # `run`: assay's CLI dispatch
    return p


def _build_image_cmd(args: argparse.Namespace) -> int:
    try:
        if args.if_missing and image_exists(args.tag):
            print(f"{args.tag or default_tag()} exists already")
            return 0
        build_image(args.tag, args.method)
    except Exception as e:  # the CLI prints one line, not a traceback
        print(f"assay: error: build-image: {e}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m assay.sandbox.image`` works without the CLI wiring (used by `make test`)."""
    parser = argparse.ArgumentParser(prog="python -m assay.sandbox.image")
    add_build_image_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
