"""The static screen: what a submission may contain before it shares a simulation with the
testbench.

A candidate is simulated in the same process as the testbench, so anything a testbench can do
the candidate could do too: print a pass line, end the run (``$finish``, ``$stop``, ``$fatal``),
read plusargs or files (``$value$plusargs``, ``$fopen``), or perturb the stimulus's random
stream (``$random``). The screen therefore allows only *pure* system functions (sizes, casts,
maths, the current time) and rejects every other ``$name``. It reads the candidate *after*
Icarus's own preprocessor has run (``iverilog -E``), so macros cannot assemble a forbidden name
(`` `define F $fin``ish``), and the harness compiles that same preprocessed text: what was
screened is what runs.

Other escape routes are closed elsewhere: hierarchical references out of the candidate
(``tb.stats1.errors = 0``) fail the candidate's stand-alone elaboration, and port directions are
checked against the reference (an ``inout`` "input" could drive the stimulus to X, which
VerilogEval's X-tolerant compare counts as a match). See :mod:`assay.verifiers.verilog.harness`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Pure functions: no I/O, no control of the simulation, no shared state.
ALLOWED_SYSTEM_FUNCTIONS = frozenset({
    "$signed", "$unsigned", "$clog2", "$bits", "$size", "$high", "$low", "$left", "$right",
    "$increment", "$dimensions", "$unpacked_dimensions", "$countones", "$countbits", "$onehot",
    "$onehot0", "$isunknown", "$time", "$stime", "$realtime", "$itor", "$rtoi", "$realtobits",
    "$bitstoreal", "$shortrealtobits", "$bitstoshortreal", "$ln", "$log10", "$exp", "$sqrt", "$pow",
    "$floor", "$ceil", "$sin", "$cos", "$tan", "$asin", "$acos", "$atan", "$atan2", "$hypot",
    "$sinh", "$cosh", "$tanh", "$asinh", "$acosh", "$atanh",
})

# One pass over the text: comments and strings are consumed whole so that a "$finish" inside
# them is not a call, and escaped identifiers (``\\$finish``) are plain names, not system tasks.
_TOKENS = re.compile(
    r"""(?P<comment>//[^\n]*|/\*.*?(?:\*/|\Z))
      | (?P<string>"(?:\\.|[^"\\\n])*"?)
      | (?P<escaped>\\\S+)
      | (?P<system>\$[A-Za-z0-9_$]+)
      | (?P<module>\b(?:module|macromodule|interface|program|package|primitive)\s+(?P<name>[A-Za-z_][A-Za-z0-9_$]*))
      | (?P<directive>`[A-Za-z_][A-Za-z0-9_]*)
    """,
    re.S | re.X,
)

# Directives a preprocessed text may still hold: they only set compile options for the lines
# after them, and the candidate is compiled last so they cannot reach the testbench.
_HARMLESS_DIRECTIVES = frozenset({"`timescale", "`default_nettype", "`resetall", "`celldefine",
                                  "`endcelldefine", "`line", "`unconnected_drive", "`nounconnected_drive"})


@dataclass(frozen=True)
class ScreenResult:
    """``problems`` is empty when the text may be simulated; ``modules`` are the names it defines."""

    problems: tuple[str, ...]
    modules: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def screen(preprocessed: str, reserved: frozenset[str] = frozenset()) -> ScreenResult:
    """Check preprocessed candidate text. ``reserved`` are module names the harness defines
    (the testbench's and ``RefModule``): a candidate may not define them."""
    problems: list[str] = []
    modules: list[str] = []
    for m in _TOKENS.finditer(preprocessed):
        kind = m.lastgroup if m.lastgroup != "name" else "module"
        line = line_of(preprocessed, m.start())
        if kind == "system" and m.group("system") not in ALLOWED_SYSTEM_FUNCTIONS:
            problems.append(f"line {line}: {m.group('system')} is not allowed in a submission: the harness "
                            "owns the simulation (printing, stopping, files, plusargs and random numbers "
                            "are reserved to the testbench)")
        elif kind == "module":
            name = m.group("name")
            modules.append(name)
            if name in reserved:
                problems.append(f"line {line}: module name {name!r} is reserved by the testbench; rename it")
        elif kind == "directive" and m.group("directive") not in _HARMLESS_DIRECTIVES:
            problems.append(f"line {line}: compiler directive {m.group('directive')} is not allowed here")
    return ScreenResult(tuple(problems), tuple(modules))
