"""A reward a policy can fake will be faked: each test is one way a candidate could try to pass
VerilogEval's "Mismatches: 0" rule without being right, and each must fail.

Every attack is tried twice: through the whole verifier (where the static screen or the
stand-alone elaboration usually stops it first), and where it makes sense against the evidence
layer alone (the nonce-stamped report and the sample count), so that each defence is shown to
hold by itself rather than only behind the others.
"""

from __future__ import annotations

import pytest

from assay.verifiers.verilog.verifier import Gold, _Reject
from tests.verifiers.verilog.conftest import MUX2_HEAD, fenced

WRONG = "  assign y = a;\n"  # the right answer only when sel is 0: about half the samples mismatch


def judge_unscreened(verifier, task, source: str) -> _Reject | None:
    """Run ``source`` through simulation and judgement only (no screen, no elaboration alone).
    None means it would have passed."""
    gold = Gold.of(task)
    try:
        verifier._simulate(gold, source, verifier.gold_run(gold))
    except _Reject as rejected:
        return rejected
    return None


ATTACKS = {
    # ends the run at time 0: VerilogEval's final block still prints "Mismatches: 0 in 0 samples"
    "finish_before_any_sample": MUX2_HEAD + WRONG + "  initial $finish;\nendmodule\n",
    "finish_later": MUX2_HEAD + WRONG + "  initial #100 $finish;\nendmodule\n",
    "fake_pass_line": MUX2_HEAD + WRONG + '  final $display("Mismatches: 0 in 201 samples");\nendmodule\n',
    "fake_pass_line_then_finish": MUX2_HEAD + WRONG
    + '  initial begin $display("Mismatches: 0 in 201 samples"); $finish; end\nendmodule\n',
    "fatal": MUX2_HEAD + WRONG + '  initial #3 $fatal(1, "Mismatches: 0 in 201 samples");\nendmodule\n',
    "stop": MUX2_HEAD + WRONG + "  initial #3 $stop;\nendmodule\n",
    # a guess at the harness's own report format, with a made-up nonce
    "forged_harness_report": MUX2_HEAD + WRONG
    + '  final $display("ASSAY0123456789abcdef01234567 samples=201 errors=0 first=0 '
      'ASSAY0123456789abcdef01234567");\nendmodule\n',
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_fails_through_the_verifier(verifier, mux2, name):
    verdict = verifier.verify(mux2, fenced(ATTACKS[name]))
    assert not verdict.passed and verdict.reward == 0.0 and verdict.error is None, verdict


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_fails_against_the_evidence_layer_alone(verifier, mux2, name):
    rejected = judge_unscreened(verifier, mux2, ATTACKS[name])
    assert rejected is not None, f"{name} passed the simulation and judgement"


def test_the_evidence_layer_accepts_an_honest_candidate(verifier, mux2):
    # Without this, the test above could pass because the layer rejects everything.
    assert judge_unscreened(verifier, mux2, MUX2_HEAD + "  assign y = sel ? b : a;\nendmodule\n") is None


def test_early_finish_is_caught_by_the_sample_count(verifier, mux2):
    rejected = judge_unscreened(verifier, mux2, ATTACKS["finish_later"])
    assert rejected.stage == "simulate" and rejected.details["samples"] < 201
    assert "expected 201" in rejected.feedback


def test_finish_at_time_zero_counts_zero_samples(verifier, mux2):
    rejected = judge_unscreened(verifier, mux2, ATTACKS["finish_before_any_sample"])
    assert rejected.details["samples"] == 0


def test_printed_pass_lines_are_ignored_and_mismatches_counted(verifier, mux2):
    for name in ("fake_pass_line", "forged_harness_report"):
        rejected = judge_unscreened(verifier, mux2, ATTACKS[name])
        assert rejected.stage == "judged" and rejected.details["mismatches"] > 0, name


def test_screen_rejects_system_tasks_with_the_line(verifier, mux2):
    verdict = verifier.verify(mux2, fenced(ATTACKS["fake_pass_line"]))
    assert verdict.details["stage"] == "screen"
    assert "line 3: $display is not allowed" in verdict.feedback


def test_macro_assembled_finish_is_screened(verifier, mux2):
    source = "`define F $fin``ish\n" + MUX2_HEAD + WRONG + "  initial `F;\nendmodule\n"
    verdict = verifier.verify(mux2, fenced(source))
    assert not verdict.passed and verdict.details["stage"] == "screen"
    assert "$finish" in verdict.feedback


def test_infinite_simulation_times_out_and_fails(verifier, mux2):
    source = MUX2_HEAD + "  assign y = sel ? b : a;\n  initial forever ;\nendmodule\n"
    verdict = verifier.verify(mux2, fenced(source))
    assert not verdict.passed and verdict.error is None
    assert verdict.details["timed_out"] and "time limit" in verdict.feedback


def test_zero_delay_oscillator_times_out(verifier, mux2):
    # Each update schedules the next one in the same time step: simulated time never advances.
    source = (MUX2_HEAD + "  assign y = sel ? b : a;\n  reg t;\n  initial #1 t = 0;\n"
              "  always @(t) t <= ~t;\nendmodule\n")
    verdict = verifier.verify(mux2, fenced(source))
    assert not verdict.passed and verdict.details.get("timed_out"), verdict


def test_writing_the_testbench_counters_fails_elaboration(verifier, mux2):
    source = MUX2_HEAD + WRONG + "  always @(tb.stats1.errors) tb.stats1.errors = 0;\nendmodule\n"
    # The evidence layer alone would be fooled by this one (the counters are the evidence)...
    assert judge_unscreened(verifier, mux2, source) is None
    # ...which is why the candidate is elaborated on its own first, where `tb` does not exist.
    verdict = verifier.verify(mux2, fenced(source))
    assert not verdict.passed and verdict.details["stage"] == "elaborate"
    assert "tb.stats1.errors" in verdict.feedback


def test_root_path_to_the_testbench_is_screened(verifier, mux2):
    source = MUX2_HEAD + WRONG + "  initial $root.tb.stats1.clocks = 201;\nendmodule\n"
    verdict = verifier.verify(mux2, fenced(source))
    assert not verdict.passed and verdict.details["stage"] == "screen"


def test_redefining_the_reference_module_is_rejected(verifier, mux2):
    source = (MUX2_HEAD + WRONG + "endmodule\n"
              "module RefModule(input [7:0] a, input [7:0] b, input sel, output [7:0] y);\n"
              "  assign y = a;\nendmodule\n")
    verdict = verifier.verify(mux2, fenced(source))
    assert not verdict.passed and "reserved" in verdict.feedback


def test_redefining_a_testbench_module_is_rejected(verifier, mux2):
    source = MUX2_HEAD + WRONG + "endmodule\nmodule stimulus_gen(input clk);\nendmodule\n"
    verdict = verifier.verify(mux2, fenced(source))
    assert not verdict.passed and "stimulus_gen" in verdict.feedback


def test_an_input_declared_inout_is_rejected(verifier, mux2):
    # An inout "input" could drive the stimulus to X, and the X-tolerant compare matches X.
    source = ("module TopModule(input [7:0] a, input [7:0] b, inout sel, output [7:0] y);\n"
              "  assign sel = 1'bx;\n  assign y = a;\nendmodule\n")
    verdict = verifier.verify(mux2, fenced(source))
    assert not verdict.passed and verdict.details["stage"] == "ports"
    assert "'sel' must be an input" in verdict.feedback


def test_reading_plusargs_and_files_is_screened(verifier, mux2):
    for call in ('initial if ($test$plusargs("x")) ;', 'integer f; initial f = $fopen("sim.vvp", "r");'):
        verdict = verifier.verify(mux2, fenced(MUX2_HEAD + WRONG + f"  {call}\nendmodule\n"))
        assert verdict.details["stage"] == "screen", call
