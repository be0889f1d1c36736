"""SWE task instances and predictions in SWE-bench's field names.

An instance is what SWE-bench ships per task (``instance_id``, ``repo``, ``base_commit``,
``problem_statement``, ``patch`` = the gold fix, ``test_patch``, ``FAIL_TO_PASS``,
``PASS_TO_PASS``; the test lists as JSON strings or lists), plus where the repository lives
(``repo_source``, assay's addition, see :class:`RepoSource`). SWE-smith and R2E-Gym records are
mapped where their fields mean the same thing (``from_record``).

A prediction is SWE-bench's ``{"instance_id", "model_name_or_path", "model_patch"}``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from assay.errors import AssayError

SOURCE_KINDS = ("path", "git", "sdist", "image")


@dataclass(frozen=True)
class RepoSource:
    """Where the repository at ``base_commit`` comes from.

    - ``path``: a local directory: a git repository (checked out at ``base_commit``), or a plain
      tree that is committed as is (then ``base_commit`` is only a label, e.g. ``"HEAD"``);
    - ``git``: a git URL or local mirror, cloned and checked out at ``base_commit``;
    - ``sdist``: a source tarball (e.g. from PyPI) committed as the upstream tree, then the gold
      patch reversed and committed: the base of generated tasks (``assay swe make-tasks``);
    - ``image``: a Docker image that already holds the repository at ``location`` (e.g. SWE-bench's
      ``/testbed``); graded on the Docker backend only.
    Relative ``location`` paths are resolved against the task file's directory.
    """

    kind: str
    location: str
    image: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in SOURCE_KINDS:
            raise AssayError(f"repo_source kind {self.kind!r} is not one of {', '.join(SOURCE_KINDS)}")


@dataclass(frozen=True)
class SWEInstance:
    instance_id: str
    repo: str
    base_commit: str
    problem_statement: str
    patch: str  # the gold fix
    test_patch: str
    FAIL_TO_PASS: tuple[str, ...]
    PASS_TO_PASS: tuple[str, ...]
    repo_source: RepoSource | None = None
    python_path: tuple[str, ...] = (".", "src")  # repo-relative entries for PYTHONPATH
    extra: Mapping[str, Any] = field(default_factory=dict)  # other fields, kept for round trips

    def to_record(self) -> dict:
        record = {k: v for k, v in asdict(self).items() if k not in ("extra", "repo_source")}
        record["FAIL_TO_PASS"], record["PASS_TO_PASS"] = list(self.FAIL_TO_PASS), list(self.PASS_TO_PASS)
        record["python_path"] = list(self.python_path)
        if self.repo_source is not None:
            record["repo_source"] = asdict(self.repo_source)
        return {**dict(self.extra), **record}


def _tests(value: Any, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else []
        except ValueError as e:
            raise AssayError(f"{name} is a string but not a JSON list: {e}") from e
    if not isinstance(value, (list, tuple)) or not all(isinstance(t, str) for t in value):
        raise AssayError(f"{name} must be a list of test ids (or a JSON string of one)")
    return tuple(value)


# SWE-smith and R2E-Gym spellings of the same fields (first match wins).
_ALIASES = {
    "instance_id": ("instance_id", "task_id", "id"),
    "repo": ("repo", "repo_name"),
    "base_commit": ("base_commit", "commit_hash", "commit"),
    "problem_statement": ("problem_statement", "problem", "issue"),
    "patch": ("patch", "gold_patch", "fix_patch"),
    "test_patch": ("test_patch",),
    "FAIL_TO_PASS": ("FAIL_TO_PASS", "fail_to_pass"),
    "PASS_TO_PASS": ("PASS_TO_PASS", "pass_to_pass"),
}


def from_record(record: Mapping[str, Any], base_dir: Path | None = None) -> SWEInstance:
    """An instance from a SWE-bench-style dict; AssayError names a missing or malformed field."""
    if not isinstance(record, Mapping):
        raise AssayError(f"an SWE instance must be a dict, got {type(record).__name__}")
    got: dict[str, Any] = {}
    for name, keys in _ALIASES.items():
        got[name] = next((record[k] for k in keys if k in record and record[k] is not None), None)
    for name in ("instance_id", "base_commit"):
        if not isinstance(got[name], str) or not got[name]:
            raise AssayError(f"SWE instance lacks {name!r}")
    source = record.get("repo_source")
    if isinstance(source, Mapping):
        location = str(source.get("location", ""))
        if base_dir is not None and source.get("kind") in ("path", "sdist", "git") and location \
                and not location.startswith("/") and "://" not in location:
            location = str((base_dir / location).resolve())
        source = RepoSource(str(source.get("kind")), location, source.get("image"))
    elif record.get("image_name") or record.get("docker_image"):  # SWE-smith / R2E-Gym images
        source = RepoSource("image", "/testbed", record.get("image_name") or record.get("docker_image"))
    else:
        source = None
    used = {k for keys in _ALIASES.values() for k in keys} | {"repo_source", "python_path"}
    return SWEInstance(
        instance_id=got["instance_id"], repo=str(got["repo"] or ""), base_commit=got["base_commit"],
        problem_statement=str(got["problem_statement"] or ""), patch=str(got["patch"] or ""),
        test_patch=str(got["test_patch"] or ""),
        FAIL_TO_PASS=_tests(got["FAIL_TO_PASS"], "FAIL_TO_PASS"),
        PASS_TO_PASS=_tests(got["PASS_TO_PASS"], "PASS_TO_PASS"),
        repo_source=source, python_path=tuple(record.get("python_path") or (".", "src")),
        extra={k: v for k, v in record.items() if k not in used},
    )


def _records(path: Path) -> list:
    """A JSON document (list, or dict keyed by instance id) or JSONL, one record a line."""
    text = path.read_text()
    try:
        data = json.loads(text)
    except ValueError:
        try:
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        except ValueError as e:
            raise AssayError(f"{path}: neither JSON nor JSONL: {e}") from e
    if isinstance(data, dict) and "instance_id" not in data:  # SWE-bench also accepts {instance_id: record}
        return list(data.values())
    return data if isinstance(data, list) else [data]


def load_instances(path: str | Path) -> list[SWEInstance]:
    """Instances from a JSONL file (one record a line) or a JSON list."""
    path = Path(path)
    return [from_record(r, path.parent) for r in _records(path)]


@dataclass(frozen=True)
class Prediction:
    instance_id: str
    model_patch: str
    model_name_or_path: str = ""


def read_predictions(path: str | Path) -> list[Prediction]:
    out = []
    for r in _records(Path(path)):
        if not isinstance(r, Mapping) or "instance_id" not in r:
            raise AssayError(f"a prediction needs instance_id and model_patch, got {str(r)[:80]}")
        out.append(Prediction(str(r["instance_id"]), str(r.get("model_patch") or ""), str(r.get("model_name_or_path") or "")))
    return out


def write_predictions(path: str | Path, predictions: Iterable[Prediction]) -> None:
    with open(path, "w") as f:
        for p in predictions:
            f.write(json.dumps({"instance_id": p.instance_id, "model_name_or_path": p.model_name_or_path,
                                "model_patch": p.model_patch}) + "\n")
