"""The static screen on its own: pure text in, problems out (no simulator needed)."""

from __future__ import annotations

from assay.verifiers.verilog.screen import ALLOWED_SYSTEM_FUNCTIONS, screen


def test_clean_rtl_passes_and_names_its_modules():
    result = screen("module TopModule(input a, output y);\n  assign y = $unsigned(a);\nendmodule\nmodule helper; endmodule\n")
    assert result.ok and result.modules == ("TopModule", "helper")


def test_every_output_or_control_task_is_rejected():
    for name in ("$display", "$write", "$monitor", "$strobe", "$finish", "$stop", "$fatal", "$error", "$fopen",
                 "$fwrite", "$readmemh", "$value$plusargs", "$test$plusargs", "$random", "$urandom", "$dumpfile", "$root"):
        assert not screen(f"module m; initial {name}; endmodule").ok, name


def test_the_allowlist_holds_no_task_with_side_effects():
    side_effects = {"$display", "$write", "$finish", "$stop", "$fatal", "$fopen", "$random", "$value$plusargs"}
    assert not side_effects & ALLOWED_SYSTEM_FUNCTIONS


def test_names_in_strings_and_comments_are_not_calls():
    text = 'module m;\n  // $finish here is a comment\n  /* so is\n $display */\n  localparam S = "$fatal";\nendmodule\n'
    assert screen(text).ok


def test_escaped_identifier_is_a_plain_name():
    assert screen("module m;\n  wire \\$finish ;\nendmodule\n").ok


def test_problem_names_the_line():
    (problem,) = screen("module m;\n\n  initial $finish;\nendmodule\n").problems
    assert problem.startswith("line 3: $finish")


def test_reserved_module_names_are_rejected():
    result = screen("module tb; endmodule", reserved=frozenset({"tb"}))
    assert not result.ok and "'tb' is reserved" in result.problems[0]


def test_unknown_directives_are_rejected_harmless_ones_kept():
    assert screen("`timescale 1ns/1ps\n`default_nettype none\nmodule m; endmodule").ok
    assert not screen("`include \"x.v\"\nmodule m; endmodule").ok


def test_unterminated_comment_does_not_crash_the_screen():
    # iverilog -E rejects an unterminated comment before the screen runs; the screen must not crash.
    assert screen("module m; /* $finish").ok
