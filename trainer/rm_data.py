"""Reward-model training data: preference pairs, step labels, outcome labels; readers for the
common formats and a synthetic arithmetic preference set the project generates itself.

Formats read (one JSON object per line, or any table Hugging Face ``datasets`` reads with the
same columns):

- preferences: ``{"prompt", "chosen", "rejected", "category"?}``. RewardBench's ``subset`` is read
  as the category; chosen/rejected may be chat message lists (TRL's conversational form): the
  last message is the response and the ones before it the prompt.
- step labels: ``{"prompt", "steps": [str], "labels": [0/1 or float]}`` (Math-Shepherd after
  splitting, and what ``step_labels_rows`` writes from ``assay.search.training.StepLabels``);
  ``"ratings"`` in PRM800K's -1/0/1 instead of ``labels`` (0, "neutral", counts as not wrong: 1.0);
  or Math-Shepherd's raw ``{"input", "label"}`` with the ``ки`` step tag.
- outcomes (implicit PRM): ``{"prompt", "response" | "steps", "outcome": 0/1}``.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assay.errors import AssayError
from assay.types import Task

SHEPHERD_TAG = "ки"


@dataclass(frozen=True)
class PreferencePair:
    task: Task
    chosen: str
    rejected: str
    category: str = ""


@dataclass(frozen=True)
class StepExample:
    """A solution split into steps, with a label in [0, 1] per step (p(step correct))."""

    task: Task
    steps: tuple[str, ...]
    labels: tuple[float, ...]


@dataclass(frozen=True)
class OutcomeExample:
    task: Task
    steps: tuple[str, ...]
    outcome: float


def prompt_task(prompt: Any, **meta) -> Task:
    """A Task for a bare prompt (string or chat messages), with a stable content id."""
    key = json.dumps(prompt, sort_keys=True) if not isinstance(prompt, str) else prompt
    return Task(id=f"p{zlib.crc32(key.encode()):08x}", prompt=prompt, meta=meta)


def read_rows(source: Any, split: str = "train") -> list[dict]:
    """Rows from a JSONL file, a ``datasets.Dataset``/``DatasetDict``, a ``save_to_disk`` folder or
    any other file ``datasets`` reads."""
    if isinstance(source, (list, tuple)):
        return [dict(r) for r in source]
    if isinstance(source, (str, Path)):
        path = Path(source)
        if path.suffix == ".jsonl" and path.is_file():
            rows = []
            for n, line in enumerate(path.read_text().splitlines(), 1):
                if line.strip():
                    try:
                        rows.append(json.loads(line))
                    except json.JSONDecodeError as e:
                        raise AssayError(f"{path}:{n}: not JSON ({e.msg})") from None
            return rows
        if not path.exists():
            raise AssayError(f"no such data file or folder: {path}")
    import datasets

    if isinstance(source, (str, Path)):
        path = Path(source)
        table = datasets.load_from_disk(str(path)) if path.is_dir() else datasets.load_dataset(
            path.suffix.lstrip(".").replace("jsonl", "json"), data_files=str(path), split=split)
    else:
        table = source
    if isinstance(table, datasets.DatasetDict):
        if split not in table:
            raise AssayError(f"no split {split!r}; splits present: {sorted(table)}")
        table = table[split]
    return [dict(r) for r in table]


def _need(row: dict, keys: Iterable[str], what: str, n: int) -> None:
    missing = [k for k in keys if k not in row]
    if missing:
        raise AssayError(f"{what} row {n}: missing {', '.join(missing)} (has {', '.join(sorted(row))})")


def load_preferences(source: Any, split: str = "train") -> list[PreferencePair]:
    out = []
    for n, row in enumerate(read_rows(source, split), 1):
        _need(row, ("chosen", "rejected"), "preference", n)
        chosen, rejected, prompt = row["chosen"], row["rejected"], row.get("prompt")
        if isinstance(chosen, list):  # conversational: [..., {"role": "assistant", "content": ...}]
            prompt = prompt if prompt is not None else chosen[:-1]
            chosen, rejected = chosen[-1]["content"], rejected[-1]["content"]
        if prompt is None:
            raise AssayError(f"preference row {n}: no prompt")
        category = str(row.get("category", row.get("subset", "")) or "")
        out.append(PreferencePair(prompt_task(prompt), str(chosen), str(rejected), category))
    return out


def load_step_labels(source: Any, split: str = "train") -> list[StepExample]:
    out = []
    for n, row in enumerate(read_rows(source, split), 1):
        if "input" in row and "label" in row and SHEPHERD_TAG in row["input"]:
            out.append(_shepherd(row["input"], row["label"], n))
            continue
        _need(row, ("prompt", "steps"), "step-label", n)
        if "labels" in row:
            labels = [float(x) for x in row["labels"]]
        elif "ratings" in row:
            labels = [0.0 if r is not None and r < 0 else 1.0 for r in row["ratings"]]
        else:
            raise AssayError(f"step-label row {n}: needs labels (0/1 or soft) or ratings (-1/0/1)")
        if len(labels) != len(row["steps"]) or any(not 0 <= x <= 1 for x in labels):
            raise AssayError(f"step-label row {n}: one label in [0, 1] per step ({len(row['steps'])} steps, "
                             f"{len(labels)} labels)")
        out.append(StepExample(prompt_task(row["prompt"]), tuple(row["steps"]), tuple(labels)))
    return out


def _shepherd(text: str, label: str, n: int) -> StepExample:
    """Math-Shepherd: ``input`` has the tag ``ки`` after each step; ``label`` is the same text with
    ``+`` or ``-`` in place of each tag. The question is what precedes ``Step 1:``."""
    pieces = text.split(SHEPHERD_TAG)[:-1]
    labels, pos = [], 0
    for piece in pieces:
        pos += len(piece)
        mark = label[pos:pos + 1]
        if mark not in ("+", "-"):
            raise AssayError(f"Math-Shepherd row {n}: expected + or - at a step tag, found {mark!r}")
        labels.append(1.0 if mark == "+" else 0.0)
        pos += 1
    start = pieces[0].find("Step 1")
    question = pieces[0][:start].strip() if start > 0 else ""
    steps = [pieces[0][start:] if start > 0 else pieces[0]] + pieces[1:]
    return StepExample(prompt_task(question), tuple(steps), tuple(labels))


def load_outcomes(source: Any, split: str = "train") -> list[OutcomeExample]:
    out = []
    for n, row in enumerate(read_rows(source, split), 1):
        _need(row, ("prompt", "outcome"), "outcome", n)
        steps = row.get("steps") or ([row["response"]] if "response" in row else None)
        if not steps:
            raise AssayError(f"outcome row {n}: needs response or steps")
        out.append(OutcomeExample(prompt_task(row["prompt"]), tuple(steps), float(row["outcome"])))
    return out


def step_labels_rows(labels: Sequence) -> list[dict]:
    """``assay.search.training.StepLabels`` as JSONL rows in the step-label format."""
    return [{"prompt": s.task.prompt, "task_id": s.task.id, "steps": list(s.texts), "labels": list(s.labels),
             "source": s.source} for s in labels]


NEAR_DELTAS, FAR_DELTAS = (1, 2), tuple(range(3, 11))  # how far a wrong answer is from the right one


def _held_out_expression(expression: str, share: int) -> bool:
    """The split of the synthetic preferences: 1 in ``share`` expressions, by crc32, is held out."""
    return zlib.crc32(expression.encode()) % share == 0


def arithmetic_preferences(n: int, seed: int = 0, difficulty: int = 1, held_out: bool = False,
                           held_out_share: int = 5, categories: Sequence[str] = ("near", "far")) -> list[PreferencePair]:
    """Synthetic preference pairs on procedural arithmetic, right vs wrong answers, prompts in the
    terse form ``"7 + 5 ="``, cycling through ``categories``: ``near`` (wrong by 1 or 2), ``far``
    (wrong by 3 to 10), ``format`` (the right number without ``\\boxed{}``). An expression belongs to the held-out half
    when crc32(expression) % held_out_share == 0, so held-out facts never appear in training."""
    import numpy as np

    from assay.envs.procedural.arithmetic import generate

    rng = np.random.default_rng(seed)
    out: list[PreferencePair] = []
    while len(out) < n:
        task = generate(rng, difficulty)
        expression = task.meta["expression"]
        if _held_out_expression(expression, held_out_share) != held_out:
            continue
        answer = int(task.answer)
        category = categories[len(out) % len(categories)]
        if category == "format":
            rejected = str(answer)
        else:
            deltas = NEAR_DELTAS if category == "near" else FAR_DELTAS
            delta = int(rng.integers(deltas[0], deltas[-1] + 1))
            rejected = f"\\boxed{{{answer + delta * (1 if rng.random() < 0.5 else -1)}}}"
        out.append(PreferencePair(Task(id=task.id, prompt=f"{expression} =", answer=task.answer, domain="math"),
                                  f"\\boxed{{{answer}}}", rejected, category))
    return out



def all_arithmetic_preferences(difficulty: int = 1, held_out: bool = True, held_out_share: int = 5,
                               draws: int = 20_000, seed: int = 1) -> list[PreferencePair]:
    """Every pair ``arithmetic_preferences`` can draw on one side of the split: each expression
    once with each wrong answer (near: +-1, +-2; far: +-3 .. +-10), sorted by expression. The
    expressions are found by drawing ``draws`` tasks (the generator has no enumeration); at
    difficulty 1 the ~400 expressions are all seen long before 20,000 draws. An accuracy over this
    set has no sampling noise from which wrong answers were drawn; near pairs are 4 of every 20, so
    report the categories apart (or their mean, as ``arithmetic_preferences`` mixes them evenly)."""
    import numpy as np

    from assay.envs.procedural.arithmetic import generate

    rng = np.random.default_rng(seed)
    facts: dict[str, tuple[str, str]] = {}  # expression -> (task id, answer)
    for _ in range(draws):
        task = generate(rng, difficulty)
        expression = task.meta["expression"]
        if _held_out_expression(expression, held_out_share) == held_out:
            facts.setdefault(expression, (task.id, task.answer))
    out = []
    for expression, (task_id, answer) in sorted(facts.items()):
        task = Task(id=task_id, prompt=f"{expression} =", answer=answer, domain="math")
        right = int(answer)
        for category, deltas in (("near", NEAR_DELTAS), ("far", FAR_DELTAS)):
            for delta in deltas:
                for sign in (1, -1):
                    out.append(PreferencePair(task, f"\\boxed{{{right}}}", f"\\boxed{{{right + sign * delta}}}", category))
    return out


def write_jsonl(rows: Iterable[dict], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def preference_rows(pairs: Sequence[PreferencePair]) -> list[dict]:
    return [{"prompt": p.task.prompt, "chosen": p.chosen, "rejected": p.rejected, "category": p.category}
            for p in pairs]
