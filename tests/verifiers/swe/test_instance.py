"""Instance and prediction formats: SWE-bench fields (JSON strings or lists), SWE-smith and
R2E-Gym spellings, predictions round trip."""

from __future__ import annotations

import json

import pytest

from assay.errors import AssayError
from assay.verifiers.swe.instance import (Prediction, RepoSource, from_record, load_instances, read_predictions,
                                          write_predictions)
from assay.verifiers.swe.verifier import extract_patch

SWE_BENCH = {
    "instance_id": "astropy__astropy-12907", "repo": "astropy/astropy", "base_commit": "d16bfe05a744909de4b27f5875fe0d4ed41ce607",
    "problem_statement": "Modeling's separability_matrix ...", "patch": "diff --git a/x b/x\n", "test_patch": "diff --git a/t b/t\n",
    "FAIL_TO_PASS": "[\"astropy/modeling/tests/test_separable.py::test_separable[compound_model6-result6]\"]",
    "PASS_TO_PASS": "[]", "version": "4.3", "environment_setup_commit": "298ccb47",
}


def test_swe_bench_record_with_json_string_lists():
    inst = from_record(SWE_BENCH)
    assert inst.FAIL_TO_PASS == ("astropy/modeling/tests/test_separable.py::test_separable[compound_model6-result6]",)
    assert inst.PASS_TO_PASS == () and inst.repo_source is None
    assert inst.extra == {"version": "4.3", "environment_setup_commit": "298ccb47"}
    again = from_record(inst.to_record())
    assert again == inst


def test_lists_are_accepted_as_lists():
    inst = from_record({**SWE_BENCH, "FAIL_TO_PASS": ["a::b"], "PASS_TO_PASS": ["a::c"]})
    assert (inst.FAIL_TO_PASS, inst.PASS_TO_PASS) == (("a::b",), ("a::c",))


def test_swe_smith_and_r2e_gym_spellings_map():
    smith = {"instance_id": "x__y.abc.lm_rewrite__1", "repo": "swesmith/x__y.abc", "base_commit": "abc",
             "problem_statement": "p", "patch": "d", "FAIL_TO_PASS": ["t::a"], "PASS_TO_PASS": [], "image_name": "jyangballin/swesmith.x"}
    inst = from_record(smith)
    assert inst.repo_source == RepoSource("image", "/testbed", "jyangballin/swesmith.x")
    r2e = {"task_id": "r2e-1", "repo_name": "org/proj", "commit_hash": "c0ffee", "problem": "p", "gold_patch": "d",
           "fail_to_pass": ["t::a"], "pass_to_pass": ["t::b"], "docker_image": "namanjain12/proj:c0ffee"}
    inst = from_record(r2e)
    assert (inst.instance_id, inst.repo, inst.base_commit, inst.patch) == ("r2e-1", "org/proj", "c0ffee", "d")
    assert inst.repo_source.image == "namanjain12/proj:c0ffee"


@pytest.mark.parametrize("bad", [{}, {"instance_id": "x"}, {**SWE_BENCH, "FAIL_TO_PASS": "not json"},
                                 {**SWE_BENCH, "FAIL_TO_PASS": [1]}, {**SWE_BENCH, "repo_source": {"kind": "ftp", "location": "x"}}])
def test_malformed_records_say_what_is_wrong(bad):
    with pytest.raises(AssayError):
        from_record(bad)


def test_relative_sources_resolve_against_the_task_file(tmp_path):
    (tmp_path / "tasks.jsonl").write_text(json.dumps({**SWE_BENCH, "repo_source": {"kind": "sdist", "location": "src/p.tar.gz"}}) + "\n")
    (inst,) = load_instances(tmp_path / "tasks.jsonl")
    assert inst.repo_source.location == str(tmp_path / "src" / "p.tar.gz")


def test_predictions_round_trip_in_swe_bench_form(tmp_path):
    preds = [Prediction("a", "diff --git a/x b/x\n", "my-model"), Prediction("b", "", "my-model")]
    write_predictions(tmp_path / "p.jsonl", preds)
    first = json.loads((tmp_path / "p.jsonl").read_text().splitlines()[0])
    assert set(first) == {"instance_id", "model_name_or_path", "model_patch"}
    assert read_predictions(tmp_path / "p.jsonl") == preds
    (tmp_path / "p.json").write_text(json.dumps({"a": {"instance_id": "a", "model_patch": "x", "model_name_or_path": "m"}}))
    assert read_predictions(tmp_path / "p.json") == [Prediction("a", "x", "m")]


def test_patch_extraction():
    diff = "diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n"
    assert extract_patch(diff) == diff
    assert extract_patch(f"Here it is:\n```diff\n{diff}```\nthanks") == diff
    assert extract_patch("I could not do it") == ""
    assert extract_patch("") == ""
