"""VerilogEval's problem layout, read by the loader and judged by the verifier. The two sample
problems in data/verilogeval follow VerilogEval v2's files exactly (``.* ,`` trailing comma,
``$dumpfile``, ``stats1``), so a real checkout of the benchmark loads the same way."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from assay.verifiers.verilog import load_verilogeval
from tests.verifiers.verilog.conftest import fenced

SAMPLE = Path(__file__).parent / "data" / "verilogeval"


def test_loads_one_task_per_problem_in_order():
    tasks = load_verilogeval(SAMPLE)
    assert [t.id for t in tasks] == ["verilogeval/Prob001_zero", "verilogeval/Prob002_wire"]
    zero = tasks[0]
    assert zero.domain == "verilog" and zero.answer["top"] == "TopModule"
    assert "always drive 0" in zero.prompt and "```verilog" in zero.prompt
    assert "module RefModule" in zero.answer["reference"] and "module tb" in zero.answer["testbench"]


def test_gold_passes_and_a_wrong_module_fails(verifier):
    for task in load_verilogeval(SAMPLE):
        assert verifier.verify(task, verifier.gold_response(task)).passed, task.id
    wire = load_verilogeval(SAMPLE)[1]
    wrong = verifier.verify(wire, fenced("module TopModule(input in, output out);\n  assign out = ~in;\nendmodule\n"))
    # 99, not 100: the first sample precedes the first stimulus, and an X in the reference matches anything.
    assert not wrong.passed and wrong.details["stage"] == "judged" and wrong.details["mismatches"] == 99


def test_an_incomplete_problem_is_an_error_naming_the_file(tmp_path):
    for f in SAMPLE.glob("Prob001_*"):
        shutil.copy(f, tmp_path)
    (tmp_path / "Prob001_zero_test.sv").unlink()
    with pytest.raises(ValueError, match="Prob001_zero_test.sv"):
        load_verilogeval(tmp_path)


def test_a_folder_without_problems_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="no ProbNNN"):
        load_verilogeval(tmp_path)
    with pytest.raises(FileNotFoundError):
        load_verilogeval(tmp_path / "missing")
