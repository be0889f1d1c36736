"""The evidence layer: run a candidate against a VerilogEval testbench and read back only what
the harness itself observed.

VerilogEval decides a pass from the line ``Mismatches: 0 in N samples``, which a candidate that
shares the simulation can print itself, or reach by ending the run before any sample
(``initial $finish``). Here the decision comes from a line that the harness adds: a monitor
module, a second simulation root named after a fresh per-run nonce, reads the testbench's own
counters (``tb.stats1.clocks``, ``tb.stats1.errors``) in a ``final`` block and prints them
between two copies of the nonce. The candidate never sees the nonce (it is screened to have no
file, plusarg or output access, and it cannot reach the monitor by name), so it cannot print
that line; a run that ends early or hangs has the wrong sample count or no line at all. The
count must be positive and equal to the count the *reference* produced on the same testbench.

Steps (each a fresh sandbox run; ``Runner`` is a ``Sandbox`` or a ``SandboxPool``):
1. ``check_alone``: ``iverilog -E`` on the candidate alone, then elaboration of that preprocessed
   text with ``-s <top>``. The preprocessed text is what gets screened (see
   :mod:`assay.verifiers.verilog.screen`) and later compiled. An upward hierarchical reference
   (``tb.stats1.errors = 0``) cannot bind without the testbench, so it fails here; the compiled
   program lists the top's ports, which must match the reference's.
2. ``simulate``: testbench + reference + monitor + screened candidate compiled together, then run
   under ``vvp -n`` (``$stop`` acts as ``$finish`` instead of waiting for a console) with its
   own CPU-time limit.
"""

from __future__ import annotations

import re
import secrets
import signal
import shlex
from dataclasses import dataclass
from typing import Protocol

from assay.sandbox import ExecResult, Limits

SUBMISSION = "submission.sv"
TB_ROOT = "tb"  # VerilogEval's testbench module
REF_MODULE = "RefModule"


class Runner(Protocol):
    def run(self, cmd: list[str], files: dict = {}, stdin: str | bytes = b"", limits: Limits = ...) -> ExecResult: ...


def new_nonce() -> str:
    return "ASSAY" + secrets.token_hex(12)


# -- step 1: the candidate alone --------------------------------------------------------------

# _SH_STAYS_MAIN: each script ends in ``exit $?`` rather than ``exec``ing its last command, so the
# shell stays the sandbox's main process. The pooled sandbox (sandbox/agent.py) SIGKILLs a main
# process whose output pipes close before its exit is seen, and coreutils programs (``cat``,
# ``timeout``) close stdout just before exiting: as main process they came back as exit -9 in
# about 1 run of 3. The shell keeps the pipes open until it has exited itself.
_SEPARATOR = "// assay: preprocessed text follows"
_PREPROCESS_FAILED, _ELABORATION_FAILED = 4, 5


def check_alone(runner: Runner, source: str, top: str, limits: Limits) -> ExecResult:
    """Preprocess the candidate, then elaborate the preprocessed text with ``-s top``.

    Exit 4: the preprocessor failed; 5: elaboration failed (stderr says why, with
    ``submission.sv:LINE``). On success stdout is the compiled program's scope and port lines,
    the separator, then the preprocessed text. The candidate controls only what follows the
    separator: ``grep`` lets through nothing but iverilog's own scope and port lines before it.
    """
    script = "\n".join([
        f"iverilog -g2012 -E -o pre.sv {SUBMISSION} || exit {_PREPROCESS_FAILED}",
        f"mv pre.sv {SUBMISSION}",  # so that messages name the file the model wrote
        f"iverilog -g2012 -s {shlex.quote(top)} -o dut.vvp {SUBMISSION} || exit {_ELABORATION_FAILED}",
        r"grep -E '^S_\w+ \.scope module|^\s*\.port_info ' dut.vvp",
        f"echo '{_SEPARATOR}'",
        f"cat {SUBMISSION}",
        "exit $?",  # see _SH_STAYS_MAIN
    ])
    return runner.run(["sh", "-c", script], files={SUBMISSION: source}, limits=limits)


@dataclass(frozen=True)
class Alone:
    """What ``check_alone`` found: ``failed`` is ``"preprocess"``, ``"elaborate"`` or None."""

    failed: str | None
    program: str = ""  # the scope and port lines
    preprocessed: str = ""


def read_alone(result: ExecResult) -> Alone:
    if result.timed_out:
        return Alone("timed out")
    if result.exit_code == _PREPROCESS_FAILED:
        return Alone("preprocess")
    if result.exit_code < 0:  # killed by a signal: the sandbox's doing (limits, a torn-down worker), not the source's
        return Alone(f"sandbox run ended by signal {-result.exit_code}")
    if result.exit_code != 0:
        return Alone("elaborate")
    program, sep, text = result.text().partition(_SEPARATOR + "\n")
    return Alone(None, program, text) if sep else Alone("elaborate")


@dataclass(frozen=True)
class Port:
    index: int
    direction: str  # INPUT, OUTPUT or INOUT
    width: int
    name: str


_SCOPE = re.compile(r'^S_\w+ \.scope module, "([^"]+)" "([^"]+)" \d+ \d+;$')
_PORT = re.compile(r'^\s*\.port_info (\d+) /(INPUT|OUTPUT|INOUT) (\d+) "([^"]+)";$')


def root_ports(vvp_program: str, top: str) -> tuple[Port, ...] | None:
    """The ports of root module ``top`` in an ``iverilog`` output program (None if not found).
    A root scope line has no parent, which is what ``_SCOPE`` requires."""
    lines = vvp_program.splitlines()
    for i, line in enumerate(lines):
        m = _SCOPE.match(line)
        if m and m.group(1) == top and m.group(2) == top:
            ports = []
            for following in lines[i + 1:]:
                p = _PORT.match(following)
                if p is None:
                    if following.lstrip().startswith((".timescale", ".port_info")) or not following.strip():
                        continue
                    break
                ports.append(Port(int(p.group(1)), p.group(2), int(p.group(3)), p.group(4)))
            return tuple(ports)
    return None


def port_problems(candidate: tuple[Port, ...], reference: tuple[Port, ...]) -> list[str]:
    """Why the candidate's interface differs from the reference's (empty when it matches)."""
    want = {p.name: p for p in reference}
    have = {p.name: p for p in candidate}
    problems = [f"missing port {name!r} ({p.direction.lower()}, {p.width} bit)" for name, p in want.items()
                if name not in have]
    problems += [f"unexpected port {name!r}" for name in have if name not in want]
    for name in want.keys() & have.keys():
        w, h = want[name], have[name]
        if w.direction != h.direction:
            problems.append(f"port {name!r} must be an {w.direction.lower()}, not {h.direction.lower()}")
        if w.width != h.width:
            problems.append(f"port {name!r} must be {w.width} bit wide, not {h.width}")
    return sorted(problems)


# -- step 3: the candidate under the testbench -------------------------------------------------


REF_INSTANCE, DUT_INSTANCE = "good1", "top_module1"  # VerilogEval's instance names


def probe_ports(testbench: str, top: str, ports: tuple[Port, ...]) -> tuple[Port, ...]:
    """The ports the monitor may sample at the first mismatch: all of them when the testbench
    names its instances as VerilogEval does, none otherwise (the report does not need them)."""
    named = (re.search(rf"\b{REF_MODULE}\s+{REF_INSTANCE}\b", testbench)
             and re.search(rf"\b{re.escape(top)}\s+{DUT_INSTANCE}\b", testbench))
    return ports if named else ()


def monitor_source(nonce: str, probes: tuple[Port, ...] = ()) -> str:
    """The harness's own report. A second root, so no candidate path leads to it.

    With ``probes`` it also prints, once, the port values of both instances at the first
    mismatching sample. That line is feedback only (the verdict rests on the report line); it is
    taken in the same time step as the testbench's compare, before the stimulus's nonblocking
    updates land, so it shows the values that were compared."""
    lines = [
        f"module {nonce}_monitor;",
        f"  final $display(\"{nonce} samples=%0d errors=%0d first=%0d {nonce}\",",
        f"                 {TB_ROOT}.stats1.clocks, {TB_ROOT}.stats1.errors, {TB_ROOT}.stats1.errortime);",
    ]
    if probes:
        inputs = [p for p in probes if p.direction == "INPUT"]
        outputs = [p for p in probes if p.direction != "INPUT"]
        fmt = " ".join([f"{p.name}=%h" for p in inputs] + [f"{p.name}=%h/%h" for p in outputs])
        args = [f"{TB_ROOT}.{REF_INSTANCE}.{p.name}" for p in inputs]
        args += [a for p in outputs for a in (f"{TB_ROOT}.{REF_INSTANCE}.{p.name}", f"{TB_ROOT}.{DUT_INSTANCE}.{p.name}")]
        lines += [
            "  reg shown = 0;",
            f"  always @({TB_ROOT}.stats1.errors) if (!shown && {TB_ROOT}.stats1.errors != 0) begin",
            "    shown = 1;",
            f"    $display(\"{nonce}-first %0d {fmt}\", $time, {', '.join(args)});",
            "  end",
        ]
    return "\n".join(lines + ["endmodule", ""])


@dataclass(frozen=True)
class FirstMismatch:
    """Port values at the first mismatching sample: inputs, and each output as (expected, got)."""

    time: int
    inputs: tuple[tuple[str, str], ...]
    outputs: tuple[tuple[str, str, str], ...]

    def describe(self) -> str:
        # An X in the expected value matches anything (VerilogEval's compare): not a culprit.
        wrong = [(n, e, g) for n, e, g in self.outputs if e != g and "x" not in e.removeprefix("0x").lower()]
        said = [f"at time {self.time}"]
        if self.inputs:
            said.append("with inputs " + ", ".join(f"{n}={v}" for n, v in self.inputs))
        said.append("; ".join(f"output {n} should be {e} but is {g}" for n, e, g in wrong) or
                    "outputs " + ", ".join(f"{n}={g} (expected {e})" for n, e, g in self.outputs))
        return " ".join(said[:2]) + ": " + said[2]


def read_first_mismatch(stdout: str, nonce: str, probes: tuple[Port, ...]) -> FirstMismatch | None:
    m = re.search(rf"^{nonce}-first (\d+) (.*)$", stdout, re.M)
    if m is None:
        return None
    values = dict(item.split("=", 1) for item in m.group(2).split() if "=" in item)

    def shown(value: str, width: int) -> str:  # %h prints hex digits; 1-bit values read as 0/1
        return value if width == 1 else f"0x{value}"

    inputs = tuple((p.name, shown(values.get(p.name, "?"), p.width)) for p in probes if p.direction == "INPUT")
    outputs = tuple((p.name, *(shown(v, p.width) for v in values.get(p.name, "?/?").split("/", 1)))
                    for p in probes if p.direction != "INPUT")
    return FirstMismatch(int(m.group(1)), inputs, outputs)


_COMPILE_FAILED = 3


def simulate(runner: Runner, testbench: str, reference: str, source: str, nonce: str, limits: Limits,
             sim_cpu_s: int, probes: tuple[Port, ...] = ()) -> ExecResult:
    """Compile (exit 3 when iverilog fails), then simulate under ``ulimit -t sim_cpu_s``: a
    simulation that never advances time spins on the CPU, so it meets SIGXCPU without a second
    timer process. ``limits.wall_s`` must cover the compile and the simulation."""
    files = {"tb.sv": testbench, "ref.sv": reference, "monitor.sv": monitor_source(nonce, probes), SUBMISSION: source}
    # The candidate comes last: its directives (`default_nettype, `timescale) cannot reach the
    # testbench's lines.
    script = "\n".join([
        f"iverilog -g2012 -s {TB_ROOT} -s {nonce}_monitor -o sim.vvp tb.sv ref.sv monitor.sv {SUBMISSION} 1>&2"
        f" || exit {_COMPILE_FAILED}",
        f"ulimit -S -t {int(sim_cpu_s)}",  # soft: SIGXCPU; the hard limit (SIGKILL) is the sandbox's
        "vvp -n sim.vvp",
        "exit $?",  # see _SH_STAYS_MAIN
    ])
    return runner.run(["sh", "-c", script], files=files, limits=limits)


def compile_failed(result: ExecResult) -> bool:
    return result.exit_code == _COMPILE_FAILED and not result.timed_out


def killed_by(result: ExecResult) -> int | None:
    """The signal that ended the simulation: the shell reports a killed child as 128 + signal,
    some backends pass that on as -signal."""
    code = result.exit_code
    if code < 0:
        return -code
    return code - 128 if 128 < code <= 192 else None


def out_of_time(result: ExecResult) -> bool:
    """Killed by the wall limit, or by the CPU limit (SIGXCPU at the soft, SIGKILL at the hard)."""
    return result.timed_out or (killed_by(result) in (signal.SIGXCPU, signal.SIGKILL) and not result.memory_exceeded)


@dataclass(frozen=True)
class Report:
    """What the monitor printed: the testbench's sample and mismatch counts at the end of the run."""

    samples: int
    errors: int
    first_error_time: int


def read_report(stdout: str, nonce: str) -> Report | None | str:
    """The monitor's line, ``None`` when absent, or a reason string when it is not trustworthy
    (printed more than once: the monitor's ``final`` block runs exactly once)."""
    found = re.findall(rf"{nonce} samples=(\d+) errors=(\d+) first=(\d+) {nonce}", stdout)
    if not found:
        return None
    if len(found) > 1:
        return f"the harness report appeared {len(found)} times"
    samples, errors, first = (int(x) for x in found[0])
    return Report(samples, errors, first)


_HINT = re.compile(r"^Hint: Output '([^']+)' has (\d+) mismatches\. First mismatch occurred at time (\d+)\.", re.M)


def mismatch_hints(stdout: str) -> list[tuple[str, int, int]]:
    """(output, mismatches, first time) from VerilogEval's ``Hint:`` lines. Feedback only: the
    verdict never rests on them."""
    return [(m.group(1), int(m.group(2)), int(m.group(3))) for m in _HINT.finditer(stdout)]
