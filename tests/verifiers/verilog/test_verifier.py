"""The verilog verifier's contract: gold passes, wrong designs fail with useful feedback that does
not quote the reference, bad gold is an error (never a pass), and nothing raises."""

from __future__ import annotations

import dataclasses
import json
import pickle
import shutil

import pytest

from assay import Task, verifiers
from assay.verifiers.verilog import VerilogVerifier, extract_code
from tests.conftest import require_binary
from tests.verifiers.verilog.conftest import MUX2_GOOD, MUX2_HEAD, fenced


def test_registered_under_its_domain(icarus):
    v = verifiers.get("verilog")
    assert isinstance(v, VerilogVerifier) and v.name == "verilog" and v.version


def test_gold_response_passes(verifier, mux2):
    verdict = verifier.verify(mux2, verifier.gold_response(mux2))
    assert verdict.passed and verdict.reward == 1.0 and verdict.error is None
    assert verdict.details["samples"] == verdict.details["expected_samples"] > 0


def test_an_equivalent_but_different_design_passes(verifier, mux2):
    source = MUX2_HEAD + "  genvar i;\n  for (i = 0; i < 8; i = i + 1) begin : g\n" \
        "    assign y[i] = (a[i] & ~sel) | (b[i] & sel);\n  end\nendmodule\n"
    assert verifier.verify(mux2, fenced(source)).passed


def test_mismatch_feedback_names_outputs_and_first_time(verifier, builtin_tasks):
    task = builtin_tasks["verilog/compare4"]
    source = ("module TopModule(input [3:0] a, input [3:0] b, output lt, output eq, output gt);\n"
              "  assign lt = a < b;\n  assign eq = a == b;\n  assign gt = a >= b;\nendmodule\n")
    verdict = verifier.verify(task, fenced(source))
    assert not verdict.passed and verdict.error is None and verdict.details["stage"] == "judged"
    assert "output 'gt'" in verdict.feedback and "output 'lt'" not in verdict.feedback
    (name, count, first), = verdict.details["hints"]
    assert name == "gt" and count > 0 and f"first at time {first}" in verdict.feedback


def test_compile_errors_carry_line_numbers(verifier, mux2):
    source = MUX2_HEAD + "  assign y = sel ? b : a\nendmodule\n"  # missing semicolon on line 2
    verdict = verifier.verify(mux2, fenced(source))
    assert not verdict.passed and verdict.error is None and verdict.details["stage"] == "elaborate"
    assert "submission.sv:3" in verdict.feedback  # iverilog reports at the token after the gap


def test_undeclared_name_is_reported_with_its_line(verifier, mux2):
    verdict = verifier.verify(mux2, fenced(MUX2_HEAD + "  assign y = sel ? bb : a;\nendmodule\n"))
    assert "submission.sv:2" in verdict.feedback and "bb" in verdict.feedback


def test_wrong_interface_is_explained(verifier, mux2):
    source = "module TopModule(input [7:0] a, input [7:0] b, input sel, output [3:0] y);\n" \
             "  assign y = a[3:0];\nendmodule\n"
    verdict = verifier.verify(mux2, fenced(source))
    assert verdict.details["stage"] == "ports" and "'y' must be 8 bit wide, not 4" in verdict.feedback


def test_no_module_scores_zero_without_error(verifier, mux2):
    verdict = verifier.verify(mux2, "I would use a multiplexer.")
    assert verdict.reward == 0.0 and not verdict.passed and verdict.error is None
    assert "module TopModule" in verdict.feedback


def test_feedback_never_quotes_the_reference(verifier, builtin_tasks):
    task = builtin_tasks["verilog/lfsr8"]
    verdict = verifier.verify(task, task.meta["buggy"])
    assert not verdict.passed
    taps = "q[7] ^ q[5] ^ q[4] ^ q[3]"
    assert taps in task.answer["reference"] and taps not in verdict.feedback
    assert "RefModule" not in verdict.feedback


def test_extract_code_takes_the_last_verilog_block():
    text = "```python\nprint(1)\n```\n```verilog\nmodule A; endmodule\n```\n```systemverilog\nmodule B; endmodule\n```"
    assert extract_code(text).strip() == "module B; endmodule"
    assert extract_code("module C; endmodule") == "module C; endmodule"


def test_lint_is_a_separate_component(verifier, mux2):
    require_binary("verilator")
    clean = verifier.verify(mux2, fenced(MUX2_GOOD))
    assert clean.components == {"correctness": 1.0, "lint": 1.0}
    # Right behaviour, sloppy width: passes the simulation, fails the lint.
    sloppy = MUX2_HEAD + "  wire [15:0] wide = sel ? b : a;\n  assign y = wide;\nendmodule\n"
    verdict = verifier.verify(mux2, fenced(sloppy))
    assert verdict.passed and verdict.components["lint"] == 0.0 and verdict.reward == 1.0
    assert "WIDTH" in verdict.feedback


def test_lint_weight_adds_to_the_reward(mux2, icarus):
    require_binary("verilator")
    v = VerilogVerifier(lint_weight=0.25)
    try:
        assert v.verify(mux2, fenced(MUX2_GOOD)).reward == 1.25
    finally:
        v.close()


@pytest.mark.parametrize("answer, why", [
    ("module RefModule; endmodule", "must be a dict"),
    ({"testbench": "x", "reference": "module RefModule; endmodule"}, "top"),
    ({"testbench": "x", "reference": "module Other; endmodule", "top": "TopModule"}, "RefModule"),
    ({"testbench": "x", "reference": "module RefModule; endmodule", "top": "Top Module"}, "module name"),
])
def test_malformed_gold_is_an_error(verifier, answer, why):
    verdict = verifier.verify(Task(id="bad", prompt="p", answer=answer, domain="verilog"), MUX2_GOOD)
    assert verdict.error is not None and why in verdict.error and not verdict.passed


def test_testbench_outside_verilogeval_form_is_an_error(verifier, mux2):
    # Without tb.stats1 there is no evidence to read: that is a gold problem, never a pass.
    foreign = mux2.answer["testbench"].replace("stats1", "counts")
    task = dataclasses.replace(mux2, answer=dict(mux2.answer, testbench=foreign))
    verdict = verifier.verify(task, fenced(MUX2_GOOD))
    assert verdict.error is not None and "VerilogEval" in verdict.error and not verdict.passed


def test_testbench_with_zero_samples_is_an_error(verifier, mux2):
    stalled = mux2.answer["testbench"].replace("module tb();", "module tb();\n  initial $finish;", 1)
    task = dataclasses.replace(mux2, answer=dict(mux2.answer, testbench=stalled))
    verdict = verifier.verify(task, fenced(MUX2_GOOD))
    assert verdict.error is not None and "zero samples" in verdict.error and not verdict.passed


def test_verify_batch_keeps_order_across_threads(verifier, builtin_tasks):
    tasks = [builtin_tasks["verilog/mux2"], builtin_tasks["verilog/adder8"]] * 3
    responses = [verifier.gold_response(t) if i % 2 == 0 else t.meta["buggy"] for i, t in enumerate(tasks)]
    verdicts = verifier.verify_batch(tasks, responses)
    assert [v.passed for v in verdicts] == [i % 2 == 0 for i in range(len(tasks))]


def test_pickles_without_its_sandbox_pool(verifier, mux2):
    verifier.verify(mux2, fenced(MUX2_GOOD))  # the pool exists now
    clone = pickle.loads(pickle.dumps(verifier))
    try:
        assert clone._runner is None and clone.verify(mux2, fenced(MUX2_GOOD)).passed
    finally:
        clone.close()


def test_missing_icarus_is_an_error(mux2, monkeypatch):
    real = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name: None if name == "iverilog" else real(name))
    verdict = VerilogVerifier().verify(mux2, fenced(MUX2_GOOD))
    assert verdict.error is not None and "apt-get install iverilog" in verdict.error


@pytest.mark.parametrize("kwargs", [{"sim_timeout_s": 0}, {"compile_timeout_s": -1}, {"lint": False, "lint_weight": 0.1}])
def test_bad_options_raise_with_the_fix(kwargs):
    with pytest.raises(ValueError):
        VerilogVerifier(**kwargs)


def test_first_mismatch_shows_the_inputs_and_the_expected_value(verifier, mux2):
    verdict = verifier.verify(mux2, mux2.meta["buggy"])  # y = sel ? a : b, the select inverted
    first = verdict.details["first_mismatch"]
    inputs = dict(first["inputs"])
    a, b, sel = int(inputs["a"], 16), int(inputs["b"], 16), int(inputs["sel"])
    (name, expected, got), = first["outputs"]
    # The values are the ones compared: the reference's output follows from the shown inputs.
    assert name == "y" and int(expected, 16) == (b if sel else a) and int(got, 16) == (a if sel else b)
    assert f"output y should be {expected} but is {got}" in verdict.feedback
    assert first["time"] == verdict.details["first_mismatch_time"]


def test_verdicts_survive_a_jsonl_round_trip(verifier, mux2):
    from assay import Verdict
    from assay.serialization import dumps

    verdict = verifier.verify(mux2, mux2.meta["buggy"])
    assert Verdict.from_dict(json.loads(dumps(verdict))) == verdict
