"""A repository that lives in a Docker image (``repo_source`` kind ``image``, as SWE-bench,
SWE-smith and R2E-Gym ship theirs): the SWE image built with a task's snapshot baked in grades
that task with no host snapshot."""

from __future__ import annotations

import dataclasses

import pytest

from assay.errors import AssayError
from assay.verifiers.swe.grader import grade
from assay.verifiers.swe.image import REPOS, build_swe_image
from assay.verifiers.swe.instance import RepoSource
from tests.verifiers.swe.patches import ORDINAL, task

TAG = "assay-swe:test-repos"


@pytest.fixture(scope="module")
def image_instance(docker_runtime):
    inst = task(ORDINAL)
    build_swe_image(TAG, [inst], quiet=True)
    yield dataclasses.replace(inst, repo_source=RepoSource("image", f"{REPOS}/{inst.instance_id}", TAG))
    from assay.sandbox.docker_backend import DockerBackend

    DockerBackend().client().images.remove(TAG, force=True)


def test_gold_resolves_and_empty_does_not_from_the_image(image_instance, docker_runtime):
    assert grade(image_instance, image_instance.patch, docker_runtime).outcome.resolved
    assert not grade(image_instance, "", docker_runtime).outcome.resolved


def test_image_sources_need_docker(image_instance, bwrap_runtime):
    with pytest.raises(AssayError, match="docker backend"):
        grade(image_instance, "", bwrap_runtime)
