"""Read-only mounts into a session (``Sandbox.session(ro_mounts=...)``): the SWE environment's
prepared repository snapshots. Each test checks one property, on bwrap and on Docker."""

from __future__ import annotations

import pytest

from assay.sandbox import Limits, Sandbox
from tests.conftest import missing_dependency, require_binary

LIMITS = Limits(wall_s=10, memory_mb=256, pids=32, disk_mb=16)


@pytest.fixture(params=["bwrap", "docker"])
def box(request) -> Sandbox:
    require_binary(request.param)
    box = Sandbox(request.param)
    try:
        box.backend
    except Exception as e:  # SandboxUnavailable: no daemon, no image
        missing_dependency(str(e))
    return box


@pytest.fixture
def snapshot(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "mod.py").write_text("X = 1\n")
    tmp_path.chmod(0o755)
    return tmp_path


def test_mount_is_visible_and_copyable(box, snapshot):
    with box.session(LIMITS, ro_mounts={"/opt/snap": str(snapshot)}) as s:
        r = s.run(["sh", "-c", "cp -a /opt/snap/. /work/ && cat /work/pkg/mod.py"])
        assert (r.exit_code, r.stdout) == (0, b"X = 1\n"), r
        s.write_file("pkg/mod.py", b"X = 2\n")  # the copy is writable
        assert s.read_file("pkg/mod.py") == b"X = 2\n"


def test_mount_cannot_be_written(box, snapshot):
    with box.session(LIMITS, ro_mounts={"/opt/snap": str(snapshot)}) as s:
        r = s.run(["sh", "-c", "echo evil > /opt/snap/pkg/mod.py; echo new > /opt/snap/new; rm -f /opt/snap/pkg/mod.py"])
        assert r.exit_code != 0
    assert (snapshot / "pkg" / "mod.py").read_text() == "X = 1\n"
    assert not (snapshot / "new").exists()


@pytest.mark.parametrize("dest", ["/work/x", "/tmp", "relative", "/", "/proc/x", "/opt/../work"])
def test_reserved_or_bad_destinations_are_refused(dest, snapshot):
    with pytest.raises(ValueError):
        Sandbox("bwrap").session(LIMITS, ro_mounts={dest: str(snapshot)})


def test_missing_host_directory_is_refused(tmp_path):
    with pytest.raises(ValueError, match="not an existing host directory"):
        Sandbox("bwrap").session(LIMITS, ro_mounts={"/opt/x": str(tmp_path / "nope")})
