"""`assay sandbox build-image`: the Docker sandbox image is built locally, with no registry."""

from __future__ import annotations

import argparse
import sys

import pytest

from assay.sandbox import image
from assay.sandbox.docker_backend import DockerBackend
from assay.sandbox.limits import Limits
from tests.conftest import missing_dependency, require_binary


@pytest.fixture(scope="module")
def docker_ready() -> None:
    require_binary("docker")
    reason = DockerBackend().check()
    if reason is not None and "build-image" not in reason:
        missing_dependency(reason)


def test_default_tag_names_the_host_python():
    assert image.default_tag() == f"assay-sandbox:py{sys.version_info.major}.{sys.version_info.minor}"


def test_build_image_parser_plugs_into_a_command_group():
    parser = argparse.ArgumentParser(prog="assay sandbox")
    image.add_build_image_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["build-image", "--method", "debootstrap", "--tag", "x:y", "--if-missing"])
    assert (args.method, args.tag, args.if_missing, args.func) == ("debootstrap", "x:y", True, image._build_image_cmd)
    with pytest.raises(SystemExit):
        parser.parse_args(["build-image", "--method", "pull"])


def test_host_image_builds_from_scratch_and_runs_the_host_python(docker_ready):
    tag = "assay-sandbox:test-build"
    client = DockerBackend().client()
    try:
        assert image.build_image(tag, method="host", quiet=True) == tag
        r = DockerBackend(image=tag).run(
            ["python3", "-c", "import sys, ssl, sqlite3, decimal, json; print(sys.version_info[:2])"], {}, b"", Limits()
        )
        assert r.exit_code == 0, r.stderr
        assert r.stdout == f"{tuple(sys.version_info[:2])}\n".encode()
        assert image.main(["build-image", "--tag", tag, "--if-missing"]) == 0
    finally:
        client.images.remove(tag, force=True)
