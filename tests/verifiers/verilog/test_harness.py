"""The evidence layer's pure parts: reading the nonce report and the compiled port list."""

from __future__ import annotations

from assay.verifiers.verilog import harness
from assay.verifiers.verilog.harness import Port, Report, port_problems, read_report, root_ports

NONCE = "ASSAYfeedfacefeedfacefeedface"


def line(nonce: str, samples: int, errors: int) -> str:
    return f"{nonce} samples={samples} errors={errors} first=0 {nonce}\n"


def test_report_is_read_from_its_nonce_line():
    out = "Mismatches: 0 in 10 samples\n" + line(NONCE, 201, 3)
    assert read_report(out, NONCE) == Report(201, 3, 0)


def test_a_line_with_another_nonce_is_not_evidence():
    assert read_report(line("ASSAY0000", 201, 0), NONCE) is None


def test_a_report_printed_twice_is_not_trusted():
    assert isinstance(read_report(line(NONCE, 201, 0) * 2, NONCE), str)


def test_nonces_are_fresh_and_unguessable():
    nonces = {harness.new_nonce() for _ in range(100)}
    assert len(nonces) == 100 and all(len(n) >= 29 for n in nonces)


def test_monitor_names_itself_after_the_nonce():
    source = harness.monitor_source(NONCE)
    assert f"module {NONCE}_monitor" in source and source.count(NONCE) == 3


PROGRAM = '''S_0x1 .scope module, "TopModule" "TopModule" 3 1;
 .timescale 0 0;
    .port_info 0 /INPUT 1 "clk";
    .port_info 1 /INPUT 8 "a";
    .port_info 2 /OUTPUT 4 "y";
S_0x2 .scope module, "sub" "u" 3 9, 3 1 0, S_0x1;
    .port_info 0 /INPUT 1 "x";
'''


def test_root_ports_ignore_submodules():
    assert root_ports(PROGRAM, "TopModule") == (Port(0, "INPUT", 1, "clk"), Port(1, "INPUT", 8, "a"),
                                                Port(2, "OUTPUT", 4, "y"))
    assert root_ports(PROGRAM, "sub") is None


def test_port_problems_name_each_difference():
    want = (Port(0, "INPUT", 1, "clk"), Port(1, "INPUT", 8, "a"), Port(2, "OUTPUT", 4, "y"))
    have = (Port(0, "INOUT", 1, "clk"), Port(1, "INPUT", 4, "a"), Port(2, "OUTPUT", 4, "z"))
    assert port_problems(have, want) == sorted([
        "port 'clk' must be an input, not inout", "port 'a' must be 8 bit wide, not 4",
        "missing port 'y' (output, 4 bit)", "unexpected port 'z'"])
    assert port_problems(want, want) == []


PROBES = (Port(0, "INPUT", 8, "a"), Port(1, "INPUT", 1, "sel"), Port(2, "OUTPUT", 8, "y"))


def test_monitor_probes_both_instances_only_with_verilogeval_names():
    tb = "RefModule good1 (.a(a)); TopModule top_module1 (.a(a));"
    assert harness.probe_ports(tb, "TopModule", PROBES) == PROBES
    assert harness.probe_ports("RefModule r (.a(a)); TopModule d (.a(a));", "TopModule", PROBES) == ()
    source = harness.monitor_source(NONCE, PROBES)
    assert "tb.good1.y, tb.top_module1.y" in source and "tb.good1.a" in source


def test_first_mismatch_line_is_read_per_port():
    out = f"{NONCE}-first 25 a=3c sel=1 y=10/3c\n"
    first = harness.read_first_mismatch(out, NONCE, PROBES)
    assert first.time == 25 and first.inputs == (("a", "0x3c"), ("sel", "1"))
    assert first.outputs == (("y", "0x10", "0x3c"),)
    assert first.describe() == "at time 25 with inputs a=0x3c, sel=1: output y should be 0x10 but is 0x3c"
    assert harness.read_first_mismatch(out.replace(NONCE, "ASSAY00"), NONCE, PROBES) is None
