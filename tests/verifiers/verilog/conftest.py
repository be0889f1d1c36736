"""Fixtures for the Verilog verifier tests: real iverilog, vvp and verilator in the real sandbox."""

from __future__ import annotations

import pytest

from assay.envs.verilog_problems import tasks
from assay.verifiers.verilog import VerilogVerifier
from tests.conftest import require_binary

# The shortest built-in problem, and its ports, for hand-written candidates.
MUX2_HEAD = "module TopModule(input [7:0] a, input [7:0] b, input sel, output [7:0] y);\n"
MUX2_GOOD = MUX2_HEAD + "  assign y = sel ? b : a;\nendmodule\n"


@pytest.fixture(scope="session")
def icarus():
    require_binary("iverilog")
    require_binary("vvp")


@pytest.fixture(scope="session")
def builtin_tasks():
    return {t.id: t for t in tasks()}


@pytest.fixture(scope="session")
def mux2(builtin_tasks):
    return builtin_tasks["verilog/mux2"]


@pytest.fixture(scope="session")
def verifier(icarus):
    # Short limits keep the hang tests quick; every honest run here takes well under a second.
    v = VerilogVerifier(compile_timeout_s=10, sim_timeout_s=2)
    yield v
    v.close()


def fenced(source: str) -> str:
    return f"Here is my design.\n```verilog\n{source}```\n"
