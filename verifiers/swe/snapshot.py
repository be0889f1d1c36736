"""Prepared snapshots: a task's repository at ``base_commit``, built once on the host and cached.

An episode never copies the repository from the host: the snapshot directory is mounted
read-only into the session (``Sandbox.session(ro_mounts=...)``) and copied inside the sandbox's
own tmpfs, which for a small repository takes a few milliseconds (bench/results/swe.md). bwrap
0.8, the version here, has no overlay mounts; with bwrap >= 0.9 ``--tmp-overlay`` would make the
copy a true copy-on-write view.

Snapshots live under ``$ASSAY_CACHE`` (default ``~/.cache/assay``)/``swe/``, keyed by instance
id and base commit, written to a temporary directory and renamed into place, so concurrent
builders and crashed builds never leave a half-made snapshot behind. The pytest runtime that
grading uses (pytest and its dependencies, copied from the host's environment) is prepared the
same way (``pylib_dir``).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from assay.errors import AssayError
from assay.verifiers.swe.instance import SWEInstance

# Fixed identity and dates: the same tree and steps give the same commit hashes on every machine,
# so a generated task's ``base_commit`` can be checked when its snapshot is rebuilt.
GIT_ENV = {
    "GIT_AUTHOR_NAME": "assay", "GIT_AUTHOR_EMAIL": "assay@localhost", "GIT_AUTHOR_DATE": "2000-01-01T00:00:00Z",
    "GIT_COMMITTER_NAME": "assay", "GIT_COMMITTER_EMAIL": "assay@localhost",
    "GIT_COMMITTER_DATE": "2000-01-01T00:00:00Z", "GIT_CONFIG_NOSYSTEM": "1", "HOME": "/nonexistent",
}
PYLIB_PACKAGES = ("pytest", "_pytest", "pluggy", "iniconfig", "packaging", "pygments", "py")


def cache_root() -> Path:
    return Path(os.environ.get("ASSAY_CACHE") or Path.home() / ".cache" / "assay") / "swe"


def git(repo: Path, *args: str, check: bool = True, input: bytes | None = None) -> subprocess.CompletedProcess:
    env = {**{k: v for k, v in os.environ.items() if k in ("PATH", "LANG")}, **GIT_ENV}
    r = subprocess.run(["git", "-c", "core.hooksPath=/dev/null", "-c", "init.defaultBranch=main", *args], cwd=repo,
                       env=env, capture_output=True, input=input)
    if check and r.returncode != 0:
        raise AssayError(f"git {' '.join(args[:3])} failed in {repo}: {r.stderr.decode(errors='replace').strip()[-400:]}")
    return r


def commit_all(repo: Path, message: str) -> str:
    git(repo, "add", "-A", "-f")
    git(repo, "commit", "-q", "--allow-empty", "-m", message)
    return git(repo, "rev-parse", "HEAD").stdout.decode().strip()


def extract_sdist(tarball: Path, dest: Path) -> None:
    """The sdist's single top directory becomes ``dest``."""
    with tarfile.open(tarball) as tar:
        tops = {m.name.split("/")[0] for m in tar.getmembers()}
        if len(tops) != 1:
            raise AssayError(f"{tarball}: expected one top-level directory, found {sorted(tops)[:5]}")
        with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
            tar.extractall(tmp, filter="data")
            shutil.move(os.path.join(tmp, tops.pop()), dest)


def upstream_repo(tarball: Path, dest: Path) -> str:
    """``dest`` becomes a git repository of the sdist's tree; returns the upstream commit."""
    extract_sdist(tarball, dest)
    git(dest, "init", "-q")
    return commit_all(dest, f"upstream {tarball.name}")


def _build(instance: SWEInstance, dest: Path) -> None:
    source = instance.repo_source
    if source is None:
        raise AssayError(f"{instance.instance_id}: no repo_source: say where the repository lives")
    if source.kind == "sdist":
        upstream_repo(Path(source.location), dest)
        if instance.patch.strip():  # the task's base is the upstream tree with the gold fix undone
            git(dest, "apply", "-R", "--whitespace=nowarn", "-", input=instance.patch.encode())
        head = commit_all(dest, f"task {instance.instance_id}")
    elif source.kind in ("git", "path") and (source.kind == "git" or (Path(source.location) / ".git").exists()):
        git(Path(dest.parent), "clone", "-q", "--no-checkout", source.location, str(dest))
        git(dest, "checkout", "-q", instance.base_commit)
        head = git(dest, "rev-parse", "HEAD").stdout.decode().strip()
    elif source.kind == "path":  # a plain tree: its commit is whatever committing it gives
        shutil.copytree(source.location, dest, symlinks=True)
        git(dest, "init", "-q")
        commit_all(dest, f"task {instance.instance_id}")
        head = instance.base_commit
    else:
        raise AssayError(f"{instance.instance_id}: repo_source kind {source.kind!r} has no host snapshot (Docker only)")
    if not head.startswith(instance.base_commit) and not instance.base_commit.startswith(head):
        raise AssayError(f"{instance.instance_id}: the prepared repository is at {head[:12]}, "
                         f"not at base_commit {instance.base_commit[:12]} (wrong source or patch)")
    git(dest, "gc", "-q", "--prune=now", check=False)  # fewer, smaller files to copy per episode


def snapshot_dir(instance: SWEInstance) -> Path:
    """The cached snapshot of ``instance``'s repository at its base commit, built if missing."""
    key = hashlib.sha256(repr((instance.repo_source, instance.patch if instance.repo_source and
                               instance.repo_source.kind == "sdist" else "")).encode()).hexdigest()[:12]
    final = cache_root() / "snapshots" / f"{_safe(instance.instance_id)}-{instance.base_commit[:12]}-{key}"
    if final.is_dir():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=final.parent, prefix=".build-") as tmp:
        _build(instance, Path(tmp) / "repo")
        _publish(Path(tmp) / "repo", final)
    return final


def pylib_dir() -> Path:
    """A directory with pytest and its dependencies, copied from this interpreter's environment,
    for ``python3 -S`` in the sandbox (which sees no site-packages)."""
    import pytest

    final = cache_root() / f"pylib-pytest{pytest.__version__}"
    if final.is_dir():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=final.parent, prefix=".build-") as tmp:
        out = Path(tmp) / "pylib"
        out.mkdir()
        for name in PYLIB_PACKAGES:
            spec = importlib.util.find_spec(name)
            if spec is None or spec.origin is None:
                continue
            src = Path(spec.origin)
            if src.name == "__init__.py":
                shutil.copytree(src.parent, out / name, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(src, out / src.name)
        _publish(out, final)
    return final


def _publish(built: Path, final: Path) -> None:
    for p in [built, *built.rglob("*")]:  # readable by the sandbox user whatever the umask
        if not p.is_symlink():
            p.chmod(p.stat().st_mode | (0o755 if p.is_dir() else 0o644))
    try:
        built.rename(final)
    except OSError:
        if not final.is_dir():  # another builder won the race: theirs is as good as ours
            raise


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:80]
