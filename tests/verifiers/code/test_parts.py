"""The pure parts: value codec, program extraction, output comparison, dataset loaders."""

from __future__ import annotations

import base64
import json
import math
import os
import pickle
import zlib

import pytest

from assay.errors import AssayError
from assay.verifiers.code import harness
from assay.verifiers.code.compare import Comparison
from assay.verifiers.code.datasets import load_code_jsonl, row_to_task
from assay.verifiers.code.extract import extract_program
from assay.verifiers.code.gold import CallGold, CheckGold, StdioGold, parse_gold


# -- codec --------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [None, True, 0, -7, 1 << 100, -(1 << 70), 1.5, float("inf"), "é\n", b"\x00\xff",
                                   [1, [2, (3, 4)]], (), {1, 2}, frozenset({"a"}), {"a": 1, (1, 2): [3]}, 2 + 3j])
def test_codec_round_trips_plain_values(value):
    back = harness.decode(json.loads(json.dumps(harness.encode(value))))
    assert back == value and type(back) is (set if type(value) is frozenset else type(value))


def test_codec_keeps_nan_and_tells_int_from_float():
    assert math.isnan(harness.decode(harness.encode(float("nan"))))
    assert type(harness.decode(harness.encode(1.0))) is float and type(harness.decode(harness.encode(1))) is int


@pytest.mark.parametrize("value", [object(), type("S", (str,), {})("x"), type("I", (int,), {})(1), [lambda: 0]])
def test_codec_refuses_anything_but_exact_builtin_types(value):
    with pytest.raises(TypeError):
        harness.encode(value)


def test_codec_refuses_deep_nesting_and_unknown_tags():
    deep: list = []
    for _ in range(100):
        deep = [deep]
    with pytest.raises(ValueError):
        harness.encode(deep)
    with pytest.raises(ValueError):
        harness.decode({"$x": 1})


# -- extraction ---------------------------------------------------------------------------------

def test_last_complete_fence_wins_and_language_is_read():
    p = extract_program("a\n```python\none\n```\nb\n```cpp\ntwo\n```\n```\nunclosed")
    assert (p.source, p.fenced, p.language) == ("two\n", True, "cpp")


def test_no_fence_means_the_whole_text():
    assert extract_program("print(1)") == extract_program("print(1)")
    p = extract_program("print(1)")
    assert (p.source, p.fenced, p.language) == ("print(1)", False, None)


def test_longer_fences_and_tildes():
    p = extract_program("````py\nx = '```'\n````\n")
    assert (p.source, p.language) == ("x = '```'\n", "python")
    assert extract_program("~~~\nbody\n~~~").source == "body\n"


# -- comparison ---------------------------------------------------------------------------------

def test_text_comparison_modes():
    exact, ws, fl = Comparison("exact"), Comparison("whitespace"), Comparison("float", abs_tol=1e-3, rel_tol=0)
    assert exact.text("1 2\n", "1 2\n") and not exact.text("1 2", "1 2\n")
    assert ws.text("1   2  \r\n\n\n", "1 2\n") and not ws.text("1\n2\n", "1 2\n")
    assert fl.text("0.3334 x\n", "0.333 x\n") and not fl.text("0.335 x", "0.333 x")
    assert not fl.text("nan", "0") and not fl.text("1 2", "1") and fl.text("1.0005", "1")


def test_value_comparison():
    c, f = Comparison(), Comparison("float")
    assert c.value((1, [2]), [1, [2]]) and c.value({"a": [1]}, {"a": [1]})
    assert not c.value(1, True) and not c.value(True, 1)
    assert c.value(5, [5]) and not c.value(5, [5, 5])
    assert f.value([0.1 + 0.2], [0.3]) and not c.value(0.1 + 0.2, 0.3)


def test_bad_comparison_options():
    with pytest.raises(ValueError):
        Comparison("fuzzy")
    with pytest.raises(ValueError):
        Comparison("float", abs_tol=-1)


# -- gold ---------------------------------------------------------------------------------------

def test_gold_formats_parse():
    assert isinstance(parse_gold({"tests": [{"input": "", "output": "1"}]}), StdioGold)
    assert isinstance(parse_gold({"fn_name": "f", "inputs": [[1]], "outputs": [1]}), CallGold)
    assert isinstance(parse_gold({"entry_point": "f", "test": "assert f() == 1"}), CheckGold)


# -- dataset loaders (rows in each dataset's own layout) ----------------------------------------

def _lcb_private(tests: list) -> str:
    return base64.b64encode(zlib.compress(pickle.dumps(json.dumps(tests)))).decode()


ROWS = {
    "apps-stdio": {"problem_id": 7, "question": "Add.", "starter_code": "", "difficulty": "interview",
                   "solutions": json.dumps(["print(sum(map(int, input().split())))"]),
                   "input_output": json.dumps({"inputs": ["1 2\n", ["3 4"]], "outputs": ["3\n", ["7"]]})},
    "apps-call": {"problem_id": 8, "question": "Double.", "starter_code": "def double(x):",
                  "solutions": json.dumps(["def double(x):\n    return 2 * x"]),
                  "input_output": json.dumps({"fn_name": "double", "inputs": [[1], [5]], "outputs": [[2], [10]]})},
    "lcb-functional": {"question_id": "q1", "question_content": "Sum.", "starter_code": "class Solution:",
                       "public_test_cases": json.dumps([{"input": "[1, 2]\n3", "output": "6", "testtype": "functional"}]),
                       "private_test_cases": _lcb_private([{"input": "[]\n1", "output": "1", "testtype": "functional"}]),
                       "metadata": json.dumps({"func_name": "total"})},
    "lcb-stdin": {"question_id": "q2", "question_content": "Echo.", "starter_code": "",
                  "public_test_cases": json.dumps([{"input": "x\n", "output": "x\n", "testtype": "stdin"}]),
                  "private_test_cases": "[]", "metadata": "{}"},
    "humaneval": {"task_id": "HumanEval/0", "entry_point": "inc",
                  "prompt": "def helper(x):\n    return x + 1\n\ndef inc(x):\n    \"\"\"Add one.\"\"\"\n",
                  "canonical_solution": "    return helper(x)\n",
                  "test": "def check(candidate):\n    assert candidate(1) == helper(1)\n"},
    "mbpp": {"task_id": 11, "text": "Remove first and last occurrence of a char.", "code": "def remove_Occ(s, ch):\n    return s.replace(ch, '', 1)[::-1].replace(ch, '', 1)[::-1]",
             "test_list": ["assert remove_Occ(\"hello\",\"l\") == \"heo\"", "assert remove_Occ(\"abcda\",\"a\") == \"bcd\""],
             "test_setup_code": ""},
}


def test_loaders_build_the_gold_formats():
    apps = row_to_task(ROWS["apps-stdio"])
    assert apps.id == "apps-7" and apps.answer["tests"][1] == {"input": "3 4\n", "output": "7\n"}
    assert row_to_task(ROWS["apps-call"]).answer["fn_name"] == "double"
    lcb = row_to_task(ROWS["lcb-functional"])
    assert lcb.answer == {"fn_name": "total", "inputs": [[[1, 2], 3], [[], 1]], "outputs": [6, 1]}
    assert row_to_task(ROWS["lcb-stdin"]).answer == {"tests": [{"input": "x\n", "output": "x\n"}]}
    he = row_to_task(ROWS["humaneval"])
    assert he.answer["entry_point"] == "inc" and "def helper" in he.answer["test"] and "def helper" in he.answer["prelude"]
    assert row_to_task(ROWS["mbpp"]).answer["entry_point"] == "remove_Occ"


def test_loaded_tasks_accept_their_reference_solutions(verifier):
    for key in ("apps-stdio", "apps-call", "humaneval", "mbpp"):
        task = row_to_task(ROWS[key])
        verdict = verifier.verify(task, verifier.gold_response(task))
        assert verdict.passed, (key, verdict.feedback)
    lcb = row_to_task(ROWS["lcb-functional"])
    code = "class Solution:\n    def total(self, xs, k):\n        return sum(xs) + k"
    assert verifier.verify(lcb, f"```python\n{code}\n```").passed


def test_livecodebench_pickles_cannot_run_code():
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    row = dict(ROWS["lcb-functional"], private_test_cases=base64.b64encode(zlib.compress(pickle.dumps(Evil()))).decode())
    with pytest.raises(pickle.UnpicklingError):
        row_to_task(row)


def test_load_code_jsonl_reads_a_file_and_names_bad_lines(tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in ROWS.values()) + "\n")
    assert [t.id for t in load_code_jsonl(path)] == ["apps-7", "apps-8", "lcb-q1", "lcb-q2", "HumanEval/0", "mbpp-11"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"input_output": "{}", "question": "q", "problem_id": 1}) + "\n")
    with pytest.raises(AssayError, match="bad.jsonl:1"):
        load_code_jsonl(bad)
    with pytest.raises(AssayError, match="cannot tell the dataset"):
        row_to_task({"foo": 1})
