"""Fixtures for the SWE tests: a fresh snapshot cache per test session (so the shipped tasks'
repositories are rebuilt from their sdists and their base commits re-checked), and runtimes for
bwrap and Docker that skip, or fail under ASSAY_REQUIRE_ALL=1, where the backend is missing."""

from __future__ import annotations

import os

import pytest

from tests.conftest import missing_dependency, require_binary


@pytest.fixture(scope="session", autouse=True)
def swe_cache(tmp_path_factory):
    old = os.environ.get("ASSAY_CACHE")
    os.environ["ASSAY_CACHE"] = str(tmp_path_factory.mktemp("assay-cache"))
    yield
    if old is None:
        os.environ.pop("ASSAY_CACHE", None)
    else:
        os.environ["ASSAY_CACHE"] = old


@pytest.fixture(scope="session")
def bwrap_runtime():
    require_binary("bwrap")
    require_binary("git")
    require_binary("patch")
    from assay.sandbox.bwrap_backend import BwrapBackend
    from assay.verifiers.swe.workspace import Runtime

    reason = BwrapBackend().check()
    if reason is not None:
        missing_dependency(f"bwrap backend unavailable: {reason}")
    return Runtime("bwrap")


@pytest.fixture(scope="session")
def docker_runtime():
    """The Docker backend with the SWE image, built here from the sandbox image when missing."""
    require_binary("docker")
    require_binary("git")
    require_binary("patch")
    from assay.sandbox.docker_backend import DockerBackend
    from assay.verifiers.swe.image import build_swe_image, default_swe_tag
    from assay.verifiers.swe.workspace import Runtime

    reason = DockerBackend().check()  # the base sandbox image and the daemon
    if reason is not None:
        missing_dependency(reason)
    if DockerBackend(image=default_swe_tag()).check() is not None:
        build_swe_image(quiet=True)
    return Runtime("docker")


@pytest.fixture(params=["bwrap", "docker"])
def runtime(request):
    return request.getfixturevalue(f"{request.param}_runtime")
