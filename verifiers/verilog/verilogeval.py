"""Read VerilogEval (v2, spec-to-rtl) problem folders into Tasks.

A problem is three files sharing a stem: ``ProbNNN_name_prompt.txt`` (the specification),
``ProbNNN_name_ref.sv`` (``module RefModule``) and ``ProbNNN_name_test.sv`` (the ``tb`` testbench).
The candidate's module is ``TopModule``. Every problem in the folder must be complete: a stray
prompt without its reference or testbench is an error naming the missing file, not a silent skip.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from assay.types import Task

TOP = "TopModule"
SUFFIXES = ("_prompt.txt", "_ref.sv", "_test.sv")
INSTRUCTION = ("\n\nAnswer with the complete Verilog module TopModule in one ```verilog code block. "
               "Use only synthesizable constructs; system tasks such as $display are not allowed.")
# VerilogEval's testbenches connect ``stimulus_gen stim1 (.clk, .* , );``. Icarus 12 accepts the
# trailing comma; Icarus 11 (Debian 12's) rejects it, so the loader drops it. Nothing else changes.
_TRAILING_COMMA = re.compile(r"\.\*\s*,\s*\)")
_STEM = re.compile(r"^(Prob\d+_\w+?)(_prompt\.txt|_ref\.sv|_test\.sv)$")


def load_verilogeval(folder: str | os.PathLike, instruction: str = INSTRUCTION) -> list[Task]:
    """One Task per problem, sorted by id (``verilogeval/ProbNNN_name``); ``instruction`` is appended
    to each prompt."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"no VerilogEval folder at {root}: it should hold ProbNNN_name_prompt.txt, "
                                "_ref.sv and _test.sv files")
    stems: dict[str, set[str]] = {}
    for path in root.iterdir():
        m = _STEM.match(path.name)
        if m:
            stems.setdefault(m.group(1), set()).add(m.group(2))
    if not stems:
        raise ValueError(f"{root} holds no ProbNNN_*_prompt.txt / _ref.sv / _test.sv files")
    tasks = []
    for stem in sorted(stems):
        missing = [stem + s for s in SUFFIXES if s not in stems[stem]]
        if missing:
            raise ValueError(f"VerilogEval problem {stem} in {root} is incomplete: missing {', '.join(missing)}")
        prompt, reference, testbench = (
            (root / (stem + s)).read_text(encoding="utf-8") for s in SUFFIXES)
        tasks.append(Task(
            id=f"verilogeval/{stem}",
            prompt=prompt.rstrip() + instruction,
            answer={"testbench": _TRAILING_COMMA.sub(".*)", testbench), "reference": reference, "top": TOP},
            domain="verilog",
            meta={"source": "verilogeval", "problem": stem},
        ))
    return tasks
