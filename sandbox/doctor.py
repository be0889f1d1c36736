"""``assay sandbox doctor``: which backends work on this machine, and why the others do not."""

from __future__ import annotations

from dataclasses import dataclass

from assay.sandbox.backend import SandboxUnavailable


@dataclass(frozen=True)
class BackendStatus:
    name: str
    works: bool
    detail: str  # what it enforces when it works; why not and the fix when it does not


def diagnose(image: str | None = None) -> list[BackendStatus]:
    from assay.sandbox.sandbox import make_backend

    report = []
    for name in ("bwrap", "docker"):
        try:
            reason = make_backend(name, image).check()
        except SandboxUnavailable as e:
            reason = str(e)
        except Exception as e:  # noqa: BLE001  (a broken backend is a finding, not a crash)
            reason = f"{type(e).__name__}: {e}"
        report.append(BackendStatus(name, reason is None, reason or _works(name)))
    return report


def _works(name: str) -> str:
    if name == "bwrap":
        from assay.sandbox import bwrap_backend

        caps = "pids+memory cgroups" if bwrap_backend.use_cgroups() else "RLIMIT_NPROC/RLIMIT_AS (no cgroups)"
        return f"namespaces user/pid/net/ipc/uts/cgroup, {caps}, python3 = {bwrap_backend.python_bin()}/python3"
    return "containers with no network, read-only root, dropped capabilities"


def auto_choice(report: list[BackendStatus]) -> str | None:
    return next((s.name for s in report if s.works), None)
