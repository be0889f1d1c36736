"""``VerilogVerifier``: does the candidate ``TopModule`` match the reference on the testbench?

Gold (DESIGN.md): ``task.answer = {"testbench": str, "reference": str, "top": str}`` in
VerilogEval's form: the testbench module ``tb`` instantiates ``RefModule`` (the reference) and the
candidate ``top``, counts samples and mismatches in ``stats1``. The response's last fenced code
block (or the whole text) is the candidate.

Pipeline (each step sandboxed and time-limited; the first failure decides): extract ->
preprocess and elaborate alone -> screen -> ports vs reference -> compile with the testbench and
simulate -> judge. Verilator lint runs beside it.
The judgement rests only on the harness's nonce-stamped report, whose sample count must be
positive and equal the count the reference itself produces (see ``harness`` and ``screen`` for
the attacks this closes). Verilator's ``--lint-only`` is a separate ``lint`` component.

Reward: ``correctness`` (1/0) + ``lint_weight`` * ``lint`` (1 when Verilator's default lint
warnings, such as WIDTH, LATCH or MULTIDRIVEN, find nothing; style warnings stay off).
Only ``correctness`` decides ``passed``. A candidate that fails to compile, hangs or mismatches
gets reward 0 with ``error=None``; ``error`` is set only when the verifier could not judge
(malformed gold, a reference that fails its own testbench, a missing tool, a sandbox failure).

Does not cover: testbenches outside VerilogEval's form (``tb``/``stats1``), references split over
several modules (the gold response renames only ``RefModule``), or SystemVerilog that Icarus
cannot compile. Deliberately refused: any system task with a side effect in the candidate, even
an honest debugging ``$display`` (the feedback says which line and why). The port values in the
first-mismatch feedback need VerilogEval's instance names (``good1``, ``top_module1``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import re
import shutil
import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from assay.sandbox import Limits, Sandbox, SandboxUnavailable
from assay.types import Task, Verdict
from assay.verifiers.base import BaseVerifier
from assay.verifiers.verilog import harness
from assay.verifiers.verilog.screen import screen

_FENCE = re.compile(r"```[ \t]*([A-Za-z]*)[^\n]*\n(.*?)```", re.S)
_VERILOG_TAGS = {"", "verilog", "systemverilog", "sv", "v"}
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")
_MODULE_NAME = re.compile(r"\bmodule\s+([A-Za-z_][A-Za-z0-9_$]*)")
_SHOWN_LINES = 20  # lines of tool output quoted in feedback


def extract_code(response: str) -> str:
    """The last Verilog-tagged (or untagged) fenced block; the whole text without fences."""
    blocks = [body for tag, body in _FENCE.findall(response) if tag.lower() in _VERILOG_TAGS]
    return blocks[-1] if blocks else response


def _short(text: str, lines: int = _SHOWN_LINES) -> str:
    kept = [line for line in text.strip().splitlines() if line.strip()]
    more = f"\n... ({len(kept) - lines} more lines)" if len(kept) > lines else ""
    return "\n".join(kept[:lines]) + more


@dataclass(frozen=True)
class Gold:
    testbench: str
    reference: str
    top: str

    @classmethod
    def of(cls, task: Task) -> Gold:
        answer = task.answer
        if not isinstance(answer, dict):
            raise ValueError(f"verilog gold must be a dict with testbench, reference and top, got {type(answer).__name__}")
        missing = [k for k in ("testbench", "reference", "top") if not isinstance(answer.get(k), str) or not answer[k].strip()]
        if missing:
            raise ValueError(f"verilog gold lacks non-empty string field(s) {missing}")
        if not _IDENT.match(answer["top"]):
            raise ValueError(f"verilog gold 'top' must be a module name, got {answer['top']!r}")
        if not re.search(rf"\bmodule\s+{harness.REF_MODULE}\b", answer["reference"]):
            raise ValueError(f"verilog gold reference must define module {harness.REF_MODULE}")
        return cls(answer["testbench"], answer["reference"], answer["top"])

    @property
    def key(self) -> str:
        return hashlib.sha256("\0".join((self.testbench, self.reference, self.top)).encode()).hexdigest()

    def reference_as_top(self) -> str:
        return re.sub(rf"\bmodule\s+{harness.REF_MODULE}\b", f"module {self.top}", self.reference, count=1)

    def reserved_modules(self) -> frozenset[str]:
        names = _MODULE_NAME.findall(self.testbench) + _MODULE_NAME.findall(self.reference)
        return frozenset(names) | {harness.TB_ROOT, harness.REF_MODULE}


@dataclass(frozen=True)
class GoldRun:
    """What the reference does on its own testbench: the sample count and interface to match."""

    samples: int = 0
    ports: tuple[harness.Port, ...] = ()
    probes: tuple[harness.Port, ...] = ()  # ports the monitor samples at the first mismatch
    error: str | None = None


class _Reject(Exception):
    """A candidate failure that ends the pipeline: ``feedback`` for the model, ``stage`` for logs."""

    def __init__(self, stage: str, feedback: str, **details):
        super().__init__(feedback)
        self.stage, self.feedback, self.details = stage, feedback, details


class VerilogVerifier(BaseVerifier):
    """See the module docstring. ``assay.verifiers.get("verilog")`` builds one with defaults."""

    name = "verilog"
    version = "1.0.0"

    def __init__(self, compile_timeout_s: float = 20.0, sim_timeout_s: float = 10.0, memory_mb: int = 1024,
                 lint: bool = True, lint_weight: float = 0.0, backend: str = "auto", pooled: bool = True,
                 workers: int | None = None) -> None:
        for label, value in (("compile_timeout_s", compile_timeout_s), ("sim_timeout_s", sim_timeout_s)):
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{label} must be a positive number of seconds, got {value!r}")
        if lint_weight and not lint:
            raise ValueError("lint_weight needs lint=True (the lint component is what it weighs)")
        self.compile_limits = Limits(wall_s=compile_timeout_s, cpu_s=compile_timeout_s, memory_mb=memory_mb)
        # One run compiles and simulates: the wall limit covers both, ``ulimit -t`` the simulation.
        self.sim_cpu_s = max(1, math.ceil(sim_timeout_s))
        self.sim_limits = Limits(wall_s=compile_timeout_s + sim_timeout_s + 1, cpu_s=max(compile_timeout_s, sim_timeout_s) + 1,
                                 memory_mb=memory_mb)
        self.lint, self.lint_weight = lint, lint_weight
        self.backend, self.pooled, self.workers = backend, pooled, workers
        self._runner = None
        self._lint_threads: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._gold_runs: OrderedDict[str, GoldRun] = OrderedDict()

    # -- plumbing ---------------------------------------------------------------------------
    @property
    def runner(self) -> harness.Runner:
        """A warm ``SandboxPool`` where bwrap works (fork per step, no namespace start-up), else
        a plain ``Sandbox``. Built on first use so the verifier pickles and imports cheaply."""
        with self._lock:
            if self._runner is None:
                sandbox = Sandbox(self.backend)
                if self.pooled and sandbox.backend_name == "bwrap":
                    self._runner = sandbox.pool(self.workers, Limits(memory_mb=self.sim_limits.memory_mb))
                else:
                    self._runner = sandbox
            return self._runner

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.update(_runner=None, _lint_threads=None, _lock=None, _gold_runs=OrderedDict())
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            runner, self._runner = self._runner, None
            threads, self._lint_threads = self._lint_threads, None
        if threads is not None:
            threads.shutdown(wait=True)
        if runner is not None and hasattr(runner, "close"):
            runner.close()

    def gold_response(self, task: Task) -> str:
        return f"```verilog\n{Gold.of(task).reference_as_top()}```\n"

    # -- the reference's own run, cached per gold ---------------------------------------------
    def gold_run(self, gold: Gold) -> GoldRun:
        with self._lock:
            if gold.key in self._gold_runs:
                self._gold_runs.move_to_end(gold.key)
                return self._gold_runs[gold.key]
        run = self._run_reference(gold)
        if run.error is None or not run.error.startswith("could not check"):  # load or sandbox trouble: retry later
            with self._lock:
                self._gold_runs[gold.key] = run
                while len(self._gold_runs) > 4096:
                    self._gold_runs.popitem(last=False)
        return run

    def _run_reference(self, gold: Gold) -> GoldRun:
        result = harness.check_alone(self.runner, gold.reference, harness.REF_MODULE, self.compile_limits)
        alone = harness.read_alone(result)
        if alone.failed is not None and alone.failed not in ("preprocess", "elaborate"):
            # not the reference's fault: not cached (the "timed out" / "sandbox" wording keeps it out)
            return GoldRun(error=f"could not check the reference: {alone.failed} (timed out or sandbox failure)")
        ports = harness.root_ports(alone.program, harness.REF_MODULE) if alone.failed is None else None
        if ports is None:
            detail = result.stderr.decode(errors="replace").strip()[-300:]
            return GoldRun(error=f"malformed gold: the reference does not compile on its own ({alone.failed or 'no ports'}; "
                                 f"exit {result.exit_code}: {detail})")
        nonce = harness.new_nonce()
        probes = harness.probe_ports(gold.testbench, gold.top, ports)
        result = harness.simulate(self.runner, gold.testbench, gold.reference, gold.reference_as_top(), nonce,
                                  self.sim_limits, self.sim_cpu_s, probes)
        if harness.compile_failed(result):
            return GoldRun(error=f"malformed gold: the testbench does not compile with its reference and the "
                                 f"harness monitor (VerilogEval's form: module tb with tb.stats1 counters): "
                                 f"{_short(result.text('stderr'), 5)}")
        if harness.out_of_time(result):
            return GoldRun(error="the reference's own simulation timed out (machine overloaded, or a testbench that never ends)")
        report = harness.read_report(result.text(), nonce)
        if not isinstance(report, harness.Report):
            return GoldRun(error=f"malformed gold: the testbench with its reference ended without the harness report "
                                 f"(exit {result.exit_code}): {_short(result.text('stderr'), 5)}")
        if report.samples <= 0:
            return GoldRun(error="malformed gold: the testbench drives zero samples")
        if report.errors:
            return GoldRun(error=f"malformed gold: the reference mismatches its own testbench "
                                 f"({report.errors} of {report.samples} samples)")
        return GoldRun(samples=report.samples, ports=ports, probes=probes)

    # -- verification -------------------------------------------------------------------------
    def _verify(self, task: Task, response: str) -> Verdict:
        try:
            gold = Gold.of(task)
        except ValueError as e:
            return Verdict.failure(f"malformed gold: {e}")
        if shutil.which("iverilog") is None or shutil.which("vvp") is None:
            return Verdict.failure("Icarus Verilog is not installed (apt-get install iverilog)")
        code = extract_code(response)
        if not re.search(rf"\bmodule\s+{re.escape(gold.top)}\b", code):
            return self._verdict(False, {}, "extract", f"no `module {gold.top}` found; answer with the complete "
                                 "module in one ```verilog code block")
        try:
            expected = self.gold_run(gold)
        except SandboxUnavailable as e:
            return Verdict.failure(f"sandbox unavailable: {e}")
        if expected.error is not None:
            return Verdict.failure(expected.error)
        details: dict = {"expected_samples": expected.samples}
        # Lint reads only the candidate and decides nothing else, so it runs beside the pipeline.
        lint = self._lint_pool().submit(self._lint, code, gold.top) if self.lint else None
        try:
            source = self._checked_source(gold, code, expected)
            report = self._simulate(gold, source, expected)
        except _Reject as r:
            return self._verdict(False, {**details, **r.details}, r.stage, r.feedback, lint)
        details.update(samples=report.samples, mismatches=report.errors)
        return self._verdict(True, details, "judged", f"all {report.samples} samples match the reference", lint)

    def _checked_source(self, gold: Gold, code: str, expected: GoldRun) -> str:
        """Preprocess and elaborate alone, screen, compare ports; the preprocessed text that passed."""
        result = harness.check_alone(self.runner, code, gold.top, self.compile_limits)
        alone = harness.read_alone(result)
        if result.timed_out:
            raise _Reject(alone.failed, f"compilation did not finish within {self.compile_limits.wall_s:g} s")
        if alone.failed == "preprocess":
            raise _Reject("preprocess", "preprocessor errors:\n" + _short(result.text("stderr")))
        # The screen comes before any verdict on compile errors: what it rejects, it names.
        verdict = screen(alone.preprocessed or code, gold.reserved_modules())
        if not verdict.ok:
            raise _Reject("screen", "rejected before simulation:\n" + "\n".join(f"- {p}" for p in verdict.problems))
        ports = harness.root_ports(alone.program, gold.top) if alone.failed is None else None
        if ports is None:
            raise _Reject("elaborate", "compile errors:\n" + _short(result.text("stderr") or "no output"))
        problems = harness.port_problems(ports, expected.ports)
        if problems:
            raise _Reject("ports", f"the interface of {gold.top} does not match the specification:\n"
                          + "\n".join(f"- {p}" for p in problems))
        return alone.preprocessed

    def _simulate(self, gold: Gold, source: str, expected: GoldRun) -> harness.Report:
        """Judge ``source`` from the harness's report alone (the evidence layer)."""
        nonce = harness.new_nonce()
        result = harness.simulate(self.runner, gold.testbench, gold.reference, source, nonce, self.sim_limits,
                                  self.sim_cpu_s, expected.probes)
        if harness.compile_failed(result):
            raise _Reject("compile", "the testbench could not be compiled with your module:\n"
                          + _short(result.text("stderr").replace("tb.sv", "testbench.sv"), 8))
        if harness.out_of_time(result):
            raise _Reject("simulate", f"the simulation did not finish within its time limit ({self.sim_cpu_s} s of "
                          "CPU): look for a zero-delay loop or a combinational cycle", timed_out=True)
        if result.memory_exceeded:
            raise _Reject("simulate", f"the simulation exceeded its memory limit ({self.sim_limits.memory_mb} MB)")
        report = harness.read_report(result.text(), nonce)
        if not isinstance(report, harness.Report):
            why = report or "the simulation ended without the harness's report (it was stopped before the testbench finished)"
            raise _Reject("simulate", why, exit_code=result.exit_code)
        if report.samples != expected.samples:
            raise _Reject("simulate", f"the testbench ran {report.samples} samples, expected {expected.samples}: "
                          "the simulation ended early or stalled", samples=report.samples)
        if report.errors:
            first = harness.read_first_mismatch(result.text(), nonce, expected.probes)
            raise _Reject("judged", self._mismatch_feedback(report, result.text(), first),
                          samples=report.samples, mismatches=report.errors, first_mismatch_time=report.first_error_time,
                          hints=harness.mismatch_hints(result.text()),
                          first_mismatch=dataclasses.asdict(first) if first else None)
        return report

    @staticmethod
    def _mismatch_feedback(report: harness.Report, stdout: str, first: harness.FirstMismatch | None) -> str:
        lines = [f"{report.errors} of {report.samples} samples mismatch the reference; "
                 f"the first at time {report.first_error_time}."]
        if first is not None:
            lines.append(f"First mismatch {first.describe()}.")
        hints = sorted(harness.mismatch_hints(stdout), key=lambda h: h[2])
        lines += [f"- output '{name}': {count} mismatches, first at time {first_time}" for name, count, first_time in hints]
        return "\n".join(lines)

    def _lint_pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._lint_threads is None:
                self._lint_threads = ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix="verilator")
            return self._lint_threads

    def _lint(self, code: str, top: str) -> dict:
        """Verilator on the candidate as written (its own preprocessor, the model's line numbers)."""
        if shutil.which("verilator") is None:
            return {"ran": False, "messages": "verilator is not installed (apt-get install verilator)"}
        # `verilator` is a Perl wrapper around `verilator_bin`; for --lint-only the wrapper adds
        # nothing but Perl's start-up (about 150 of the 175 ms per lint here).
        binary = "verilator_bin" if shutil.which("verilator_bin") else "verilator"
        result = self.runner.run([binary, "--lint-only", "--no-timing", "--top-module", top, harness.SUBMISSION],
                                 files={harness.SUBMISSION: code}, limits=self.compile_limits)
        messages = [line for line in result.text("stderr").splitlines() if line.startswith(("%Warning", "%Error"))
                    and not line.startswith("%Error: Exiting due to")]
        return {"ran": True, "clean": result.ok and not messages, "messages": "\n".join(messages[:_SHOWN_LINES])}

    def _verdict(self, correct: bool, details: dict, stage: str, feedback: str, lint: Future | None = None) -> Verdict:
        components = {"correctness": 1.0 if correct else 0.0}
        if lint is not None:
            details["lint"] = lint.result()
            if details["lint"]["ran"]:
                components["lint"] = 1.0 if details["lint"]["clean"] else 0.0
                if not details["lint"]["clean"]:
                    feedback += "\nverilator lint:\n" + _short(details["lint"]["messages"], 8)
        reward = components["correctness"] + self.lint_weight * components.get("lint", 0.0)
        return Verdict(reward=reward, passed=correct, components=components, feedback=feedback,
                       details={**details, "stage": stage})
