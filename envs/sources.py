"""Where an environment's tasks come from.

A :class:`TaskSource` has a ``name`` and ``sample(rng) -> Task``, deterministic given the
generator's state. Three kinds exist:

- :class:`ListSource`: a finite list, loaded from JSONL (:func:`load_jsonl`) or anything the
  ``datasets`` library reads (:func:`load_hf`: an in-memory ``Dataset``, a ``save_to_disk``
  folder, local parquet/JSON/CSV files, or a Hub name);
- :class:`ProceduralSource`: an endless generator from :mod:`assay.envs.procedural`;
- anything else with the same two members.

:func:`make_source` is the one entry point environments call with their keyword arguments.
Rows become tasks through a :class:`ColumnMapping`; the defaults read MATH, MATH-500, GSM8K and
most prompt/answer JSONL without configuration.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from assay.envs.procedural import GENERATORS, get_generator, validate_difficulty
from assay.errors import AssayError
from assay.serialization import iter_jsonl
from assay.types import Task
from assay.verifiers.math.extraction import find_boxed


@runtime_checkable
class TaskSource(Protocol):
    name: str

    def sample(self, rng: np.random.Generator) -> Task:
        """One task, drawn with ``rng`` only (same state, same task)."""
        ...


class ListSource:
    """A finite, ordered collection of tasks; ``sample`` draws uniformly with replacement."""

    def __init__(self, tasks: Iterable[Task], name: str = "list") -> None:
        self.tasks: tuple[Task, ...] = tuple(tasks)
        self.name = name
        if not self.tasks:
            raise AssayError(f"task source {name!r} has no tasks; check the file, split or filter it came from")
        bad = next((t for t in self.tasks if not isinstance(t, Task)), None)
        if bad is not None:
            raise AssayError(f"task source {name!r} holds a {type(bad).__name__}, expected assay.Task")

    def sample(self, rng: np.random.Generator) -> Task:
        return self.tasks[int(rng.integers(len(self.tasks)))]

    def __len__(self) -> int:
        return len(self.tasks)

    def __getitem__(self, index: int) -> Task:
        return self.tasks[index]

    def __iter__(self) -> Iterator[Task]:
        return iter(self.tasks)

    def __repr__(self) -> str:
        return f"ListSource(name={self.name!r}, {len(self.tasks)} tasks)"


# ---------------------------------------------------------------------------------------------
# Rows -> tasks


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` (or ``\\fbox{...}``) in ``text``, nested braces kept;
    None when there is no complete box. Uses the math verifier's extraction, so a dataset's gold
    and a model's answer are read by the same rules."""
    boxes = find_boxed(text)
    return boxes[-1][1] if boxes else None


def _gsm8k_final(text: str) -> str | None:
    """GSM8K writes its gold after ``####`` at the end of the rationale."""
    if "####" not in text:
        return None
    final = text.rsplit("####", 1)[1].strip()
    return final.replace(",", "") or None  # "1,000" is written with a thousands comma


PROMPT_COLUMNS = ("problem", "prompt", "question")
ANSWER_COLUMNS = ("answer", "solution", "final_answer")
ID_COLUMNS = ("id", "unique_id", "task_id")
EXTRACT_MODES = ("auto", "none", "boxed", "gsm8k")


@dataclass(frozen=True)
class ColumnMapping:
    """Which columns of a row hold the prompt, the gold answer and the id.

    ``None`` means "the first present of the defaults" (``PROMPT_COLUMNS``, ``ANSWER_COLUMNS``,
    ``ID_COLUMNS``); without an id column the id is a hash of prompt and answer, stable across
    runs. ``extract`` says how the gold is read from the answer column:

    - ``"auto"``: the last ``\\boxed{}`` if the text has one, else the text after GSM8K's ``####``,
      else the value as is; a ``solution`` column without either is an error (it is a worked
      solution, not an answer);
    - ``"boxed"`` / ``"gsm8k"``: that rule, and an error for a row without it;
    - ``"none"``: the value as is.

    Columns not used as prompt or id go to ``Task.meta`` (so MATH's ``level`` and ``type`` and a
    full ``solution`` stay with the task).
    """

    prompt: str | None = None
    answer: str | None = None
    id: str | None = None
    extract: str = "auto"

    def __post_init__(self) -> None:
        if self.extract not in EXTRACT_MODES:
            raise AssayError(f"ColumnMapping.extract must be one of {EXTRACT_MODES}, got {self.extract!r}")

    def resolve(self, columns: Sequence[str], where: str) -> tuple[str, str, str | None]:
        """``(prompt, answer, id)`` column names for a table with ``columns``; id may be None."""
        prompt = self._pick(self.prompt, PROMPT_COLUMNS, columns, "prompt", where)
        answer = self._pick(self.answer, ANSWER_COLUMNS, columns, "answer", where)
        ident = self.id if self.id is not None else next((c for c in ID_COLUMNS if c in columns), None)
        if ident is not None and ident not in columns:
            raise AssayError(
                f"{where}: no id column {ident!r}; columns present: {sorted(columns)}. "
                f"Set ColumnMapping(id=...) to one of them, or leave it None to hash the content"
            )
        return prompt, answer, ident

    @staticmethod
    def _pick(chosen: str | None, defaults: Sequence[str], columns: Sequence[str], role: str, where: str) -> str:
        if chosen is not None:
            if chosen in columns:
                return chosen
            looked_for = repr(chosen)
        else:
            found = next((c for c in defaults if c in columns), None)
            if found is not None:
                return found
            looked_for = "any of " + ", ".join(repr(c) for c in defaults)
        raise AssayError(
            f"{where}: no {role} column ({looked_for}); columns present: {sorted(columns)}. "
            f"Set ColumnMapping({role}=...) to the column that holds the {role}"
        )

    def to_task(self, row: dict, domain: str, where: str) -> Task:
        """Build the task for one row; errors name ``where`` (e.g. ``file.jsonl:12``)."""
        prompt_col, answer_col, id_col = self.resolve(list(row), where)
        prompt = row[prompt_col]
        if not isinstance(prompt, (str, list)) or not prompt:
            raise AssayError(
                f"{where}: column {prompt_col!r} must hold a non-empty string or chat message list, got {prompt!r:.80}"
            )
        answer = self._gold(row[answer_col], answer_col, domain, where)
        if id_col is not None and row[id_col] not in (None, ""):
            ident = str(row[id_col])
        else:
            ident = content_hash(prompt, answer)
        # a worked solution the gold was extracted from stays in meta (useful for SFT); a plain
        # answer column does not, since it would only repeat Task.answer
        extracted = isinstance(row[answer_col], str) and answer != row[answer_col].strip()
        meta = {k: v for k, v in row.items() if k not in (prompt_col, id_col) and (k != answer_col or extracted)}
        return Task(id=ident, prompt=prompt, answer=answer, domain=domain, meta=meta)

    def _gold(self, value: Any, column: str, domain: str, where: str) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            raise AssayError(f"{where}: answer column {column!r} is empty; fill it or map another column")
        if self.extract == "none" or not isinstance(value, str):
            # numbers in JSON ("answer": 42) are still gold strings for the math verifier
            if domain == "math" and isinstance(value, (int, float)) and not isinstance(value, bool):
                return str(value)
            return value
        boxed = last_boxed(value) if self.extract in ("auto", "boxed") else None
        if boxed is not None:
            return boxed
        final = _gsm8k_final(value) if self.extract in ("auto", "gsm8k") else None
        if final is not None:
            return final
        if self.extract == "auto" and column != "solution":
            return value.strip()
        rules = {"boxed": "no \\boxed{...}", "gsm8k": "no '#### answer' line"}
        rule = rules.get(self.extract, "neither a \\boxed{...} nor a '#### answer' line")
        raise AssayError(
            f"{where}: the {column!r} column has {rule} to take the gold answer from. "
            f"Map the column that holds the final answer (ColumnMapping(answer=...); in env_kwargs "
            f"mapping: {{answer: COLUMN}}), or take the text as it is (ColumnMapping(extract='none'); "
            f"mapping: {{extract: none}})"
        )


def content_hash(prompt: Any, answer: Any) -> str:
    """A stable id from a task's content, for datasets without an id column."""
    blob = json.dumps([prompt, answer], sort_keys=True, ensure_ascii=False, default=str)
    return "task-" + hashlib.sha1(blob.encode("utf-8")).hexdigest()[:12]


# ---------------------------------------------------------------------------------------------
# Loaders


def load_jsonl(
    path: str | os.PathLike, mapping: ColumnMapping | None = None, domain: str = "math", name: str | None = None
) -> ListSource:
    """Read one task per line of a JSONL file; errors give ``file:line``."""
    mapping = mapping or ColumnMapping()
    tasks = []
    for lineno, row in iter_jsonl(path):
        where = f"{path}:{lineno}"
        if not isinstance(row, dict):
            raise AssayError(f"{where}: each line must be a JSON object, got {type(row).__name__}")
        tasks.append(mapping.to_task(row, domain, where))
    return ListSource(tasks, name=name or Path(path).name)


# file suffix -> the `datasets` packaged builder that reads it
_BUILDERS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv", ".arrow": "arrow", ".txt": "text"}
# files `save_to_disk` writes: their presence means "use load_from_disk"
_SAVED_MARKERS = ("dataset_info.json", "state.json", "dataset_dict.json")


def load_hf(
    dataset: Any,
    split: str = "train",
    mapping: ColumnMapping | None = None,
    domain: str = "math",
    name: str | None = None,
    **load_kwargs: Any,
) -> ListSource:
    """Tasks from anything the Hugging Face ``datasets`` library reads.

    ``dataset`` may be a ``datasets.Dataset`` or ``DatasetDict`` (``split`` picks from the latter),
    a folder written by ``save_to_disk``, a local data file (``.parquet``, ``.jsonl``, ``.json``,
    ``.csv``, ...) or folder of them, or a Hub name such as ``"HuggingFaceH4/MATH-500"``.
    ``load_kwargs`` go to ``datasets.load_dataset`` (e.g. ``name="main"`` for GSM8K's config).
    """
    import datasets  # heavy (pyarrow, pandas): only when a dataset is actually loaded

    is_path = isinstance(dataset, (str, os.PathLike))
    label = name or (str(dataset) if is_path else getattr(getattr(dataset, "info", None), "dataset_name", None))
    label = label or "dataset"
    table = _open_hf(datasets, dataset, split, load_kwargs, label)
    if isinstance(table, datasets.DatasetDict):
        if split not in table:
            raise AssayError(f"{label}: no split {split!r}; splits present: {sorted(table)}. Pass split=...")
        table = table[split]
    if not isinstance(table, datasets.Dataset):
        raise AssayError(
            f"{label}: expected a datasets.Dataset or DatasetDict, got {type(table).__name__} "
            "(an IterableDataset may never end: load it without streaming=True)"
        )
    mapping = mapping or ColumnMapping()
    mapping.resolve(table.column_names, f"{label} [{split}]")  # fail once, before the first row
    tasks = [mapping.to_task(row, domain, f"{label} [{split}] row {i}") for i, row in enumerate(table)]
    return ListSource(tasks, name=f"{label}:{split}" if is_path and not name else label)


def _open_hf(datasets: Any, dataset: Any, split: str, load_kwargs: dict, label: str) -> Any:
    if not isinstance(dataset, (str, os.PathLike)):
        return dataset
    path = Path(dataset).expanduser()
    if path.is_dir() and any((path / marker).exists() for marker in _SAVED_MARKERS):
        return datasets.load_from_disk(str(path))
    if path.is_file():
        builder = _BUILDERS.get("".join(path.suffixes[-1:]).lower())
        if builder is None:
            raise AssayError(f"{label}: cannot tell the format of {path.name!r}; use one of {sorted(_BUILDERS)}")
        # one file becomes the requested split, so split="test" works on "test.parquet"
        return datasets.load_dataset(builder, data_files={split: str(path)}, split=split, **load_kwargs)
    if path.is_dir():  # raw data files: `datasets` infers format and splits from the names
        return datasets.load_dataset(str(path), split=split, **load_kwargs)
    if _looks_like_path(str(dataset)):
        raise AssayError(f"{label}: no such file or folder (a Hub dataset name looks like 'owner/name')")
    try:
        return datasets.load_dataset(str(dataset), split=split, **load_kwargs)
    except (ConnectionError, FileNotFoundError, OSError) as e:
        raise AssayError(
            f"could not load {str(dataset)!r} from the Hugging Face Hub ({type(e).__name__}: {e}). "
            "Check the name and the network, or pass a local file, a save_to_disk folder or a Dataset object"
        ) from e


def _looks_like_path(text: str) -> bool:
    return (
        os.path.isabs(text)
        or text.startswith((".", "~"))
        or text.count("/") > 1
        or Path(text).suffix.lower() in _BUILDERS
    )


# ---------------------------------------------------------------------------------------------
# Procedural

DEFAULT_DIFFICULTY = 3


class ProceduralSource:
    """An endless source: each ``sample`` calls ``generator(rng, difficulty)``."""

    def __init__(
        self,
        generator: str | Callable[[np.random.Generator, int], Task],
        difficulty: int = DEFAULT_DIFFICULTY,
        name: str | None = None,
    ) -> None:
        if isinstance(generator, str):
            label, self.generator = generator, get_generator(generator)
        elif callable(generator):
            registered = {fn: key for key, fn in GENERATORS.items()}
            label, self.generator = registered.get(generator, getattr(generator, "__name__", "")), generator
        else:
            raise AssayError(
                f"generator must be a registered name or a callable (rng, difficulty) -> Task, got {generator!r}"
            )
        self.difficulty = validate_difficulty(difficulty, label or "custom")
        self.name = name or f"{label or 'procedural'}-d{self.difficulty}"

    def sample(self, rng: np.random.Generator) -> Task:
        return self.generator(rng, self.difficulty)

    def __repr__(self) -> str:
        return f"ProceduralSource(name={self.name!r}, difficulty={self.difficulty})"


# ---------------------------------------------------------------------------------------------
# The one entry point


def default_sample_path() -> Path:
    """The shipped ``math_sample.jsonl`` (a few dozen short problems for demos and smoke tests)."""
    return Path(str(resources.files("assay.envs") / "data" / "math_sample.jsonl"))


def make_source(
    source: TaskSource | Sequence[Task] | None = None,
    *,
    path: str | os.PathLike | None = None,
    dataset: Any = None,
    split: str = "train",
    mapping: ColumnMapping | dict | None = None,
    generator: str | Callable | None = None,
    difficulty: int | None = None,
    domain: str = "math",
) -> TaskSource:
    """Build the task source an environment's keyword arguments describe.

    Give at most one of ``source`` (a TaskSource, or a list of Tasks), ``path`` (``.jsonl`` is read
    by :func:`load_jsonl`, other files and folders by :func:`load_hf`), ``dataset`` (for
    :func:`load_hf`) or ``generator`` (for :class:`ProceduralSource`). With none, the shipped
    math sample. ``mapping`` may be a dict of :class:`ColumnMapping` fields (handy in YAML configs).
    """
    candidates = {"source": source, "path": path, "dataset": dataset, "generator": generator}
    given = [k for k, v in candidates.items() if v is not None]
    if len(given) > 1:
        raise AssayError(
            f"give one task source, got {' and '.join(given)}: keep one of source=, path=, dataset=, generator="
        )
    kind = given[0] if given else None
    if difficulty is not None and kind != "generator":
        raise AssayError(
            "difficulty= only applies to procedural tasks: add generator='arithmetic' (or another) or drop it"
        )
    if mapping is not None and kind not in ("path", "dataset", None):
        raise AssayError("mapping= only applies to files and datasets (path= or dataset=); drop it")
    if split != "train" and kind not in ("path", "dataset"):
        raise AssayError("split= only applies to datasets (path= or dataset=); drop it")
    if isinstance(mapping, dict):
        unknown = set(mapping) - {"prompt", "answer", "id", "extract"}
        if unknown:
            raise AssayError(f"mapping has unknown keys {sorted(unknown)}; use prompt, answer, id and extract")
        mapping = ColumnMapping(**mapping)

    if kind == "source":
        if isinstance(source, TaskSource):
            return source
        if isinstance(source, (list, tuple)) and all(isinstance(t, Task) for t in source):
            return ListSource(source)
        raise AssayError(
            f"source= must be a TaskSource (an object with .name and .sample(rng)) or a list of Tasks, got "
            f"{type(source).__name__}; for a file use path=, for a Hugging Face dataset dataset=, "
            "for generated tasks generator="
        )
    if kind == "generator":
        return ProceduralSource(generator, DEFAULT_DIFFICULTY if difficulty is None else difficulty)
    if kind == "dataset":
        return load_hf(dataset, split=split, mapping=mapping, domain=domain)
    if kind == "path":
        p = Path(path).expanduser()
        if p.suffix.lower() == ".jsonl":
            if split != "train":
                raise AssayError("split= does not apply to a single .jsonl file (it is one split); drop it")
            return load_jsonl(p, mapping=mapping, domain=domain)
        if not p.exists():
            raise AssayError(f"no such file or folder: {p}")
        return load_hf(p, split=split, mapping=mapping, domain=domain)
    return load_jsonl(default_sample_path(), mapping=mapping, domain=domain, name="math_sample")
