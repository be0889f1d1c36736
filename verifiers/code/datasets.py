"""Rows of public code datasets (their JSONL layouts) -> ``Task`` with the code gold formats.

- APPS: ``problem_id, question, solutions (JSON list), input_output (JSON {inputs, outputs,
  fn_name?}), starter_code``: stdin/stdout, or call-based when ``fn_name`` is set;
- LiveCodeBench (code_generation_lite): ``question_id, question_content, starter_code,
  public_test_cases`` and ``private_test_cases`` (JSON, or base64+zlib+pickle of that JSON) with
  ``testtype`` ``"stdin"`` or ``"functional"``, ``metadata`` (JSON with ``func_name``);
- HumanEval: ``task_id, prompt, canonical_solution, test, entry_point``;
- MBPP: ``task_id, text, code, test_list, test_setup_code``.

``load_code_jsonl(path, fmt="auto")`` reads a whole file; ``fmt="assay"`` (or auto with an
``answer`` column) reads rows that already hold ``id, prompt, answer`` (and optional
``solution``), the layout of assay's own problem set. A reference solution, where the dataset has
one, goes to ``Task.meta["solution"]`` (``gold_response`` uses it).
"""

from __future__ import annotations

import base64
import io
import json
import os
import pickle
import re
import zlib
from collections.abc import Callable
from typing import Any

from assay.errors import AssayError
from assay.serialization import iter_jsonl
from assay.types import Task
from assay.verifiers.code.gold import GoldError, parse_gold

FORMATS = ("auto", "assay", "apps", "livecodebench", "humaneval", "mbpp")


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def apps_task(row: dict) -> Task:
    io_spec = _json(row["input_output"])
    inputs, outputs = io_spec["inputs"], io_spec["outputs"]
    if io_spec.get("fn_name"):
        answer = {"fn_name": io_spec["fn_name"], "inputs": inputs, "outputs": outputs}
    else:  # APPS sometimes stores a test's lines as a list of lines
        join = lambda x: "\n".join(x) + "\n" if isinstance(x, list) else x  # noqa: E731
        answer = {"tests": [{"input": join(i), "output": join(o)} for i, o in zip(inputs, outputs)]}
    solutions = _json(row.get("solutions") or "[]")
    prompt = row["question"] + (f"\n\nStarter code:\n{row['starter_code']}" if row.get("starter_code") else "")
    meta = {"source": "apps", "difficulty": row.get("difficulty", "")}
    if solutions:
        meta["solution"] = solutions[0]
    return Task(id=f"apps-{row['problem_id']}", prompt=prompt, answer=answer, domain="code", meta=meta)


class _StrOnly(pickle.Unpickler):
    """LiveCodeBench pickles a JSON string; refuse every global so nothing else can unpickle."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}")


def _lcb_tests(value: Any) -> list[dict]:
    if isinstance(value, str) and not value.lstrip().startswith("["):
        raw = _StrOnly(io.BytesIO(zlib.decompress(base64.b64decode(value)))).load()
        value = raw
    return _json(value) or []


def livecodebench_task(row: dict) -> Task:
    tests = _lcb_tests(row.get("public_test_cases")) + _lcb_tests(row.get("private_test_cases"))
    if not tests:
        raise AssayError(f"LiveCodeBench row {row.get('question_id')} has no test cases")
    if tests[0].get("testtype") == "functional":
        name = _json(row.get("metadata") or "{}").get("func_name")
        # a functional test's input is one JSON value per line, one line per argument
        inputs = [[json.loads(line) for line in t["input"].split("\n") if line.strip()] for t in tests]
        answer = {"fn_name": name, "inputs": inputs, "outputs": [json.loads(t["output"]) for t in tests]}
    else:
        answer = {"tests": [{"input": t["input"], "output": t["output"]} for t in tests]}
    prompt = row["question_content"] + (f"\n\nStarter code:\n{row['starter_code']}" if row.get("starter_code") else "")
    return Task(id=f"lcb-{row['question_id']}", prompt=prompt, answer=answer, domain="code",
                meta={"source": "livecodebench", "difficulty": row.get("difficulty", "")})


def humaneval_task(row: dict) -> Task:
    # check() may call helpers the prompt defines (HumanEval/32 calls poly): the test process
    # runs the prompt first; the candidate's process gets it as a prelude for the same reason.
    answer = {"entry_point": row["entry_point"], "test": row["prompt"] + "\n" + row["test"], "prelude": row["prompt"]}
    meta = {"source": "humaneval"}
    if row.get("canonical_solution"):
        meta["solution"] = row["prompt"] + row["canonical_solution"]
    return Task(id=str(row["task_id"]), prompt=row["prompt"], answer=answer, domain="code", meta=meta)


_CALLED = re.compile(r"assert\s+(?:not\s+)?\(?\s*(?:set\(|math\.isclose\(|abs\()?\s*([A-Za-z_]\w*)\s*\(")


def mbpp_task(row: dict) -> Task:
    asserts = list(row["test_list"])
    match = _CALLED.search(asserts[0]) if asserts else None
    if match is None:
        raise AssayError(f"MBPP row {row.get('task_id')}: cannot tell the function name from {asserts[:1]}")
    test = (row.get("test_setup_code") or "") + "\n" + "\n".join(asserts) + "\n"
    prompt = f"{row['text']}\nYour code should pass these tests:\n" + "\n".join(asserts)
    meta = {"source": "mbpp"}
    if row.get("code"):
        meta["solution"] = row["code"]
    return Task(id=f"mbpp-{row['task_id']}", prompt=prompt, answer={"entry_point": match.group(1), "test": test},
                domain="code", meta=meta)


def assay_task(row: dict) -> Task:
    meta = dict(row.get("meta") or {})
    if row.get("solution"):
        meta["solution"] = row["solution"]
    return Task(id=str(row["id"]), prompt=row["prompt"], answer=row["answer"], domain="code", meta=meta)


_READERS: dict[str, Callable[[dict], Task]] = {
    "assay": assay_task, "apps": apps_task, "livecodebench": livecodebench_task,
    "humaneval": humaneval_task, "mbpp": mbpp_task,
}


def detect_format(row: dict) -> str:
    if "answer" in row and "prompt" in row:
        return "assay"
    if "input_output" in row:
        return "apps"
    if "question_content" in row:
        return "livecodebench"
    if "entry_point" in row and "canonical_solution" in row:
        return "humaneval"
    if "test_list" in row:
        return "mbpp"
    raise AssayError(f"cannot tell the dataset of a row with columns {sorted(row)}; pass fmt= one of {FORMATS[1:]}")


def row_to_task(row: dict, fmt: str = "auto") -> Task:
    if fmt not in FORMATS:
        raise AssayError(f"fmt must be one of {FORMATS}, got {fmt!r}")
    task = _READERS[detect_format(row) if fmt == "auto" else fmt](row)
    try:
        parse_gold(task.answer)
    except GoldError as e:
        raise AssayError(f"task {task.id}: {e}") from None
    return task


def load_code_jsonl(path: str | os.PathLike, fmt: str = "auto") -> list[Task]:
    """Every row of a JSONL file as a code Task; errors name ``file:line``."""
    tasks = []
    for lineno, row in iter_jsonl(path):
        try:
            tasks.append(row_to_task(row, fmt))
        except (KeyError, TypeError, ValueError, zlib.error, pickle.UnpicklingError) as e:
            raise AssayError(f"{path}:{lineno}: not a {fmt} code row ({type(e).__name__}: {e})") from None
    return tasks
