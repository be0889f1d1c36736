"""Verilog verification: Icarus Verilog simulation against VerilogEval-form testbenches, judged
only from evidence the candidate cannot forge, plus Verilator lint.

``assay.verifiers.get("verilog")`` -> :class:`~assay.verifiers.verilog.verifier.VerilogVerifier`.
:func:`~assay.verifiers.verilog.verilogeval.load_verilogeval` reads VerilogEval's problem folders.
"""

from assay.verifiers.verilog.verifier import VerilogVerifier, extract_code
from assay.verifiers.verilog.verilogeval import load_verilogeval

__all__ = ["VerilogVerifier", "extract_code", "load_verilogeval"]
