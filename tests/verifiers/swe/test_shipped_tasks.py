"""Acceptance for the shipped task set: on bwrap and on Docker (locally built image), every task's
gold patch resolves it and an empty patch does not."""

from __future__ import annotations

import pytest

from assay.envs.swe.tasks import shipped_instances
from assay.verifiers.swe.grader import grade

INSTANCES = shipped_instances()


def test_the_set_covers_two_packages_and_every_mutation_kind():
    assert len({i.repo for i in INSTANCES}) >= 2
    kinds = {i.extra["mutation"]["kind"] for i in INSTANCES}
    assert kinds == {"flip_comparison", "off_by_one", "drop_branch", "swap_args"}
    for i in INSTANCES:
        assert i.FAIL_TO_PASS and i.PASS_TO_PASS and not set(i.FAIL_TO_PASS) & set(i.PASS_TO_PASS)
        assert i.patch.startswith("diff --git") and i.problem_statement.strip()


@pytest.mark.parametrize("instance", INSTANCES, ids=lambda i: i.instance_id)
def test_gold_resolves_and_empty_patch_does_not(instance, runtime):
    gold = grade(instance, instance.patch, runtime)
    assert gold.error is None and gold.outcome.resolved, (gold.outcome.problem, gold.log[-2000:])
    assert gold.answer["applied"] == "git apply"
    empty = grade(instance, "", runtime)
    assert empty.error is None and not empty.outcome.resolved
    assert not empty.outcome.problem  # it ran normally: the FAIL_TO_PASS tests fail
    f2p = [t for t in empty.outcome.tests if t.kind == "FAIL_TO_PASS"]
    assert f2p and all(t.status == "failed" for t in f2p)
    assert all(t.passed for t in empty.outcome.tests if t.kind == "PASS_TO_PASS")
