"""The built-in Verilog problems of ``assay/verilog-v0``, written for this project.

Each problem is a spec (ports, a description, a reference ``RefModule`` and a known-buggy
variant); :func:`testbench` turns a spec into a testbench in VerilogEval's form (``tb`` with
``stats1`` counters, ``RefModule good1`` next to ``TopModule top_module1``, X-tolerant compare on
both clock edges, ``Mismatches: N in M samples`` at the end). The shipped
``envs/data/verilog_problems.jsonl`` is generated from here:

    python -m assay.envs.verilog_problems > envs/data/verilog_problems.jsonl

(a test checks that the file and this module agree). Stimulus is ``$random`` from a fixed seed
per problem, so every run of a testbench drives the same samples.
"""

from __future__ import annotations

import json
import sys
import zlib
from dataclasses import dataclass

from assay.types import Task

TOP = "TopModule"
INSTRUCTION = ("Answer with the complete Verilog module in one ```verilog code block. "
               "Use only synthesizable constructs; system tasks such as $display are not allowed.")


@dataclass(frozen=True)
class Problem:
    name: str
    category: str  # combinational, arithmetic, sequential, counter, shift, fsm
    description: str
    inputs: tuple[tuple[str, int], ...]  # (name, width); a clocked design lists "clk" first
    outputs: tuple[tuple[str, int], ...]
    reference: str  # ``module RefModule(...)``
    buggy: str  # a plausible wrong ``module TopModule(...)``
    samples: int = 200  # stimulus steps (each lasts one clock half-period ... see testbench())
    reset: str | None = None  # a synchronous reset input, held high for the first cycles

    @property
    def clocked(self) -> bool:
        return bool(self.inputs) and self.inputs[0][0] == "clk"


def _decl(width: int) -> str:
    return f"[{width - 1}:0] " if width > 1 else ""


def prompt(p: Problem) -> str:
    ports = [f" - input  {n}{f' ({w} bits)' if w > 1 else ''}" for n, w in p.inputs]
    ports += [f" - output {n}{f' ({w} bits)' if w > 1 else ''}" for n, w in p.outputs]
    return ("I would like you to implement a module named TopModule with the following interface. "
            "All input and output ports are one bit unless otherwise specified.\n\n"
            + "\n".join(ports) + f"\n\n{p.description}\n\n{INSTRUCTION}")


def testbench(p: Problem) -> str:
    """A VerilogEval-form testbench for ``p`` (see the module docstring)."""
    driven = [(n, w) for n, w in p.inputs if n != "clk"]
    seed = zlib.crc32(p.name.encode()) & 0x7FFFFFFF
    stim_ports = ",\n".join(["  input clk"] + [f"  output reg {_decl(w)}{n}" for n, w in driven])
    concat = "{" + ", ".join(n for n, _ in driven) + "}"
    if p.clocked:
        # Inputs change on the falling edge, so they are stable at the rising edge the design samples.
        edge = "negedge clk"
        rest = [n for n, _ in driven if n != p.reset]
        assign_rand = ("{" + ", ".join(rest) + "} <= {$random(seed), $random(seed)};" if rest else "")
        reset_rand = f"{p.reset} <= ($random(seed) & 15) == 0;" if p.reset else ""
        start = (f"    {p.reset} <= 1;\n    repeat (3) @({edge});\n" if p.reset else "")
        body = f"      {assign_rand}\n      {reset_rand}\n"
    else:
        edge = "posedge clk, negedge clk"
        start = ""
        body = f"      {concat} <= {{$random(seed), $random(seed)}};\n"
    stimulus = (
        f"module stimulus_gen (\n{stim_ports}\n);\n"
        f"  integer seed = {seed};\n"
        "  initial begin\n"
        f"    {concat} <= 0;\n{start}"
        f"    repeat ({p.samples}) @({edge}) begin\n{body}    end\n"
        "    @(posedge clk);\n"
        "    #1 $finish;\n"
        "  end\nendmodule\n"
    )
    outs = [n for n, _ in p.outputs]
    fields = "".join(f"    int errors_{n};\n    int errortime_{n};\n" for n in outs)
    wires = "".join(f"  logic {_decl(w)}{n};\n" for n, w in p.inputs if n != "clk")
    wires += "".join(f"  logic {_decl(w)}{n}_ref;\n  logic {_decl(w)}{n}_dut;\n" for n, w in p.outputs)
    conn_in = [f".{n}({n})" for n, _ in p.inputs]
    ref_conn = ", ".join(conn_in + [f".{n}({n}_ref)" for n in outs])
    dut_conn = ", ".join(conn_in + [f".{n}({n}_dut)" for n in outs])
    refs = ", ".join(f"{n}_ref" for n in outs)
    duts = ", ".join(f"{n}_dut" for n in outs)
    hints = "".join(
        f"    if (stats1.errors_{n}) $display(\"Hint: Output '%s' has %0d mismatches. First mismatch occurred at "
        f"time %0d.\", \"{n}\", stats1.errors_{n}, stats1.errortime_{n});\n"
        f"    else $display(\"Hint: Output '%s' has no mismatches.\", \"{n}\");\n" for n in outs)
    per_output = "".join(
        f"    if ({n}_ref !== ({n}_ref ^ {n}_dut ^ {n}_ref)) begin\n"
        f"      if (stats1.errors_{n} == 0) stats1.errortime_{n} = $time;\n"
        f"      stats1.errors_{n} = stats1.errors_{n} + 1;\n    end\n" for n in outs)
    stim_conn = ", ".join([".clk(clk)"] + [f".{n}({n})" for n, _ in driven])
    return (
        "`timescale 1 ps/1 ps\n\n" + stimulus + "\nmodule tb();\n"
        "  typedef struct packed {\n    int errors;\n    int errortime;\n" + fields + "    int clocks;\n  } stats;\n"
        "  stats stats1;\n"
        "  reg clk = 0;\n  initial forever #5 clk = ~clk;\n"
        + wires +
        "  wire tb_match;\n  wire tb_mismatch = ~tb_match;\n"
        f"  stimulus_gen stim1 ({stim_conn});\n"
        f"  RefModule good1 ({ref_conn});\n"
        f"  TopModule top_module1 ({dut_conn});\n"
        "  final begin\n" + hints +
        "    $display(\"Hint: Total mismatched samples is %1d out of %1d samples\\n\", stats1.errors, stats1.clocks);\n"
        "    $display(\"Simulation finished at %0d ps\", $time);\n"
        "    $display(\"Mismatches: %1d in %1d samples\", stats1.errors, stats1.clocks);\n"
        "  end\n"
        f"  // X in the reference matches anything; X in the candidate only matches X.\n"
        f"  assign tb_match = ({{{refs}}} === ({{{refs}}} ^ {{{duts}}} ^ {{{refs}}}));\n"
        "  always @(posedge clk, negedge clk) begin\n"
        "    stats1.clocks++;\n"
        "    if (!tb_match) begin\n      if (stats1.errors == 0) stats1.errortime = $time;\n"
        "      stats1.errors++;\n    end\n" + per_output +
        "  end\n"
        "  initial begin\n    #1000000\n    $display(\"TIMEOUT\");\n    $finish();\n  end\n"
        "endmodule\n"
    )


def to_task(p: Problem) -> Task:
    return Task(
        id=f"verilog/{p.name}",
        prompt=prompt(p),
        answer={"testbench": testbench(p), "reference": p.reference, "top": TOP},
        domain="verilog",
        meta={"category": p.category, "buggy": p.buggy},
    )


def tasks() -> list[Task]:
    from assay.envs.verilog_catalog import PROBLEMS

    return [to_task(p) for p in PROBLEMS]


def main() -> None:
    for task in tasks():
        # Rows in load_jsonl's shape: columns other than id, prompt and answer become Task.meta.
        row = {"id": task.id, "prompt": task.prompt, "answer": task.answer, **task.meta}
        sys.stdout.write(json.dumps(row, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
