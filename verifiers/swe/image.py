"""The SWE Docker image: the sandbox image (``assay.sandbox.image``) plus what grading needs.

Adds, with no registry and no Dockerfile build (a container of the base image gets a tar put
into it and is committed): ``git`` and ``patch`` from the host with their shared libraries, the
pytest runtime at ``/opt/assay-swe/pylib`` (``snapshot.pylib_dir``), and optionally prepared
repository snapshots at ``/opt/assay-swe/repos/<instance_id>`` so instances whose
``repo_source`` is ``{"kind": "image"}`` find their repository inside the image.
"""

from __future__ import annotations

import io
import shutil
import sys
import tarfile
import time
from collections.abc import Iterable
from pathlib import Path

from assay.sandbox.image import _docker, _ldd, default_tag
from assay.verifiers.swe.instance import SWEInstance
from assay.verifiers.swe.snapshot import pylib_dir, snapshot_dir
from assay.verifiers.swe.workspace import PYLIB

REPOS = "/opt/assay-swe/repos"
TOOLS = ("git", "patch", "grep", "find", "diff", "xargs")


def default_swe_tag() -> str:
    return f"assay-swe:py{sys.version_info.major}.{sys.version_info.minor}"


def _add_tree(tar: tarfile.TarFile, src: Path, dest: str) -> None:
    def owned(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.mode |= 0o755 if info.isdir() else 0o644
        return info

    tar.add(str(src), arcname=dest.lstrip("/"), filter=owned)


def build_swe_image(tag: str | None = None, instances: Iterable[SWEInstance] = (), quiet: bool = False) -> str:
    tag = tag or default_swe_tag()
    client = _docker()
    start = time.monotonic()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tools = [Path(p) for name in TOOLS if (p := shutil.which(name, path="/usr/bin:/bin"))]
        for path in [*tools, *_ldd(tools)]:
            real = path.resolve()
            info = tar.gettarinfo(str(real), arcname=(f"usr/bin/{path.name}" if path in tools else str(path).lstrip("/")))
            info.uid = info.gid = 0
            with open(real, "rb") as f:
                tar.addfile(info, f)
        _add_tree(tar, pylib_dir(), PYLIB)
        for inst in instances:
            _add_tree(tar, snapshot_dir(inst), f"{REPOS}/{inst.instance_id}")
    container = client.api.create_container(default_tag(), ["true"], user="0:0")
    try:
        client.api.put_archive(container["Id"], "/", buf.getvalue())
        repository, _, version = tag.rpartition(":")
        client.api.commit(container["Id"], repository=repository, tag=version,
                          changes=["LABEL assay.swe.image=1", 'CMD ["/bin/sh"]'])
    finally:
        client.api.remove_container(container["Id"], force=True)
    if not quiet:
        print(f"built {tag} from {default_tag()} in {time.monotonic() - start:.1f} s")
    return tag
