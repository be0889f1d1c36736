"""Conformance of the built-in problems: every reference passes its own testbench and every
known-buggy variant fails it, through the real verifier. A testbench too weak to catch its own
planted bug would teach a policy nothing, so this is the test that keeps the set honest."""

from __future__ import annotations

import json
from collections import Counter
from importlib import resources

import pytest

from assay.envs.verilog_catalog import PROBLEMS
from assay.envs.verilog_problems import tasks
from tests.conftest import require_binary


def test_at_least_twenty_problems_across_the_kinds():
    assert len(PROBLEMS) >= 20
    kinds = Counter(p.category for p in PROBLEMS)
    assert set(kinds) == {"combinational", "arithmetic", "sequential", "counter", "shift", "fsm"}
    assert len({p.name for p in PROBLEMS}) == len(PROBLEMS)


def test_shipped_jsonl_matches_the_generator():
    path = resources.files("assay.envs.data") / "verilog_problems.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    want = [{"id": t.id, "prompt": t.prompt, "answer": t.answer, **t.meta} for t in tasks()]
    assert rows == want, "regenerate: python -m assay.envs.verilog_problems > envs/data/verilog_problems.jsonl"


@pytest.fixture(scope="module")
def verdicts(verifier):
    """(gold verdict, buggy verdict) per problem, checked in one concurrent batch."""
    all_tasks = tasks()
    responses = [verifier.gold_response(t) for t in all_tasks] + [t.meta["buggy"] for t in all_tasks]
    results = verifier.verify_batch(all_tasks + all_tasks, responses)
    n = len(all_tasks)
    return {t.id: (results[i], results[n + i]) for i, t in enumerate(all_tasks)}


@pytest.mark.parametrize("name", [p.name for p in PROBLEMS])
def test_reference_passes(verdicts, name):
    gold, _ = verdicts[f"verilog/{name}"]
    assert gold.passed and gold.reward == 1.0 and gold.error is None, gold.feedback


@pytest.mark.parametrize("name", [p.name for p in PROBLEMS])
def test_buggy_variant_fails_on_the_outputs(verdicts, name):
    _, buggy = verdicts[f"verilog/{name}"]
    # It must fail by mismatching, not by being rejected for some unrelated reason.
    assert not buggy.passed and buggy.error is None and buggy.details["stage"] == "judged", buggy.feedback
    assert buggy.details["mismatches"] > 0


@pytest.mark.parametrize("name", [p.name for p in PROBLEMS])
def test_references_lint_clean(verdicts, name):
    require_binary("verilator")
    gold, _ = verdicts[f"verilog/{name}"]
    assert gold.components["lint"] == 1.0, gold.details["lint"]["messages"]
