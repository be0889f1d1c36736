"""A run directory: checkpoints that resume exactly, and metrics that never duplicate a row.

Layout::

    run_dir/config.yaml
    run_dir/metrics.jsonl            one JSON object per step (and per evaluation)
    run_dir/tb/                      TensorBoard events
    run_dir/checkpoints/step_000010/ model (Hugging Face format, or inside the state) + trainer_state.pt
    run_dir/checkpoints/latest       name of the newest complete checkpoint
    run_dir/checkpoints/step_000013-diverged/  a tagged checkpoint: kept, never ``latest``, never pruned
    run_dir/best/                    with keep_best: the model of the best held-out evaluation + best.json

A checkpoint is written to a temporary folder and renamed into place, and ``latest`` is replaced
atomically, so a SIGKILL at any moment leaves the previous checkpoint intact. On resume, metric
rows newer than the checkpoint (written after it, then lost with the kill) are dropped before
training repeats those steps, so the log has each step exactly once.

Every trainer decides how to start with ``resume_point``, so ``assay train`` and ``assay train-rm``
treat an existing run directory the same way.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
from pathlib import Path
from collections.abc import Callable, Collection
from typing import Any

import numpy as np
import torch

from assay.trainer.seeds import derive_seed

__all__ = ["BestModel", "RunDir", "derive_seed", "resume_point", "rng_state", "set_rng_state"]


def rng_state() -> dict:
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])


class RunDir:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.checkpoints = self.path / "checkpoints"
        self.metrics_path = self.path / "metrics.jsonl"
        self.samples_path = self.path / "samples.jsonl"  # what the policy wrote (assay.trainer.samples)

    # -- checkpoints ------------------------------------------------------------------------
    def save(self, step: int, model, tokenizer, state: dict[str, Any], tag: str | None = None, keep: int = 0) -> Path:
        """``model`` and ``tokenizer`` are written in Hugging Face format beside ``state``; pass None
        for both when ``state`` holds the weights itself (reward-model training keeps only its
        trainable tensors there, e.g. LoRA adapters).

        A ``tag`` names a checkpoint kept aside (``step_000013-diverged``): it does not become
        ``latest`` and replaces no regular checkpoint. ``keep`` > 0 then deletes all but the newest
        ``keep`` regular checkpoints (0 keeps them all)."""
        self.checkpoints.mkdir(parents=True, exist_ok=True)
        name = f"step_{step:06d}" + (f"-{tag}" if tag else "")
        final = self.checkpoints / name
        tmp = self.checkpoints / f".tmp_{name}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        if model is not None:
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
        torch.save(state, tmp / "trainer_state.pt")
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        if tag:
            return final
        latest_tmp = self.checkpoints / ".latest.tmp"
        latest_tmp.write_text(final.name)
        os.replace(latest_tmp, self.checkpoints / "latest")
        if keep > 0:
            self.prune(keep)
        return final

    def regular_checkpoints(self) -> list[Path]:
        """The untagged checkpoints, oldest first."""
        if not self.checkpoints.is_dir():
            return []
        found = [p for p in self.checkpoints.iterdir() if re.fullmatch(r"step_\d+", p.name) and p.is_dir()]
        return sorted(found, key=lambda p: int(p.name.removeprefix("step_")))

    def prune(self, keep: int) -> list[Path]:
        """Deletes all but the newest ``keep`` regular checkpoints, never the one ``latest`` names;
        returns the deleted paths. Runs after ``latest`` has moved on, so a kill mid-way leaves
        only extra old checkpoints behind."""
        latest = self.latest()
        doomed = [p for p in self.regular_checkpoints()[:-keep] if p != latest]
        for path in doomed:
            shutil.rmtree(path, ignore_errors=True)
        return doomed

    def latest(self) -> Path | None:
        pointer = self.checkpoints / "latest"
        if not pointer.exists():
            return None
        path = self.checkpoints / pointer.read_text().strip()
        return path if (path / "trainer_state.pt").exists() else None

    def load_state(self, checkpoint: Path) -> dict:
        return torch.load(checkpoint / "trainer_state.pt", weights_only=False)

    @property
    def best(self) -> Path:
        """Where ``BestModel`` keeps the model of the best evaluation."""
        return self.path / "best"

    # -- metrics ----------------------------------------------------------------------------
    def log(self, row: dict) -> None:
        _append(self.path, self.metrics_path, [row])

    def log_samples(self, rows: list[dict]) -> None:
        _append(self.path, self.samples_path, rows)

    def rows(self) -> list[dict]:
        return _read_rows(self.metrics_path)

    def sample_rows(self) -> list[dict]:
        return _read_rows(self.samples_path)

    def truncate_metrics(self, last_step: int) -> int:
        """Keep metric rows (and sample rows) with ``step <= last_step``: a resumed run writes the
        later ones again. Returns how many metric rows were dropped."""
        _truncate(self.samples_path, last_step)
        return _truncate(self.metrics_path, last_step)


def _append(folder: Path, path: Path, rows: list[dict]) -> None:
    if not rows:
        return
    folder.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        f.write("".join(json.dumps(row) + "\n" for row in rows))
        f.flush()
        os.fsync(f.fileno())


def _read_rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:  # a line cut short by a kill: it is rewritten on resume
            continue
    return out


def _truncate(path: Path, last_step: int) -> int:
    if not path.exists():
        return 0
    rows = _read_rows(path)
    keep = [r for r in rows if r.get("step", 0) <= last_step]
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in keep))
    os.replace(tmp, path)
    return len(rows) - len(keep)


def resume_point(run: RunDir, config: dict[str, Any], resume: bool, may_change: Collection[str], dir_field: str,
                 log: Callable[[str], None] = print, model_field: str | None = None) -> tuple[Path | None, dict | None]:
    """Where a run starts: ``(checkpoint, its trainer state)``, or ``(None, None)`` for step 0. One
    rule for every trainer, so two runs never mix in one directory and nothing is overwritten
    unasked:

    - a fresh run refuses a directory that holds a checkpoint (its checkpoints and metrics.jsonl
      would mix two runs);
    - ``resume`` with no checkpoint starts at step 0 and says so (a job script may always pass
      --resume, its first launch included);
    - a run that starts at step 0 deletes the metrics.jsonl of an earlier run that left no
      checkpoint (nothing of it can be continued, and its rows would mix with the new ones);
    - ``resume`` refuses a checkpoint written with other settings, except those in ``may_change``
      (where the run lives, how often it saves, ...), naming each difference.

    ``config`` is the run's settings as a dict; the checkpoint's copy is its state's ``"config"``.
    ``model_field`` names the setting that starts a run from a model directory, when checkpoints
    are such directories: the refusal to resume then says how to start afresh from the weights."""
    from assay.errors import AssayError

    checkpoint = run.latest()
    if checkpoint is None:
        if resume:
            log(f"assay: nothing to resume in {run.checkpoints} (no checkpoint); starting from step 0")
        run.metrics_path.unlink(missing_ok=True)  # rows of a run that left no checkpoint: it starts over
        run.samples_path.unlink(missing_ok=True)
        shutil.rmtree(run.best, ignore_errors=True)  # and so does its best model
        return None, None
    if not resume:
        raise AssayError(f"{run.path} holds an earlier run (checkpoint {checkpoint.name}): pass --resume to continue it, "
                         f"or choose another {dir_field} (or delete {run.checkpoints})")
    state = run.load_state(checkpoint)
    saved = state.get("config", {})
    changed = [f"{k} {saved[k]!r} -> {v!r}" for k, v in config.items() if k in saved and k not in may_change and saved[k] != v]
    if changed:
        from_weights = f" (from its weights: {model_field}={checkpoint})" if model_field else ""
        raise AssayError(f"cannot resume {checkpoint} with other settings ({', '.join(changed)}): resume with the settings "
                         f"it was started with, or start a new run in another {dir_field}{from_weights}")
    return checkpoint, state


class BestModel:
    """Keeps the model of a run's best held-out evaluation in ``run_dir/best`` (``keep_best``), with
    ``best.json`` saying its step and score. The untrained model (step 0) is never the best: the
    folder holds a trained state. Ties keep the earlier model.

    The best so far is read from the run's metric rows, so a resumed run (whose rows were cut back
    to its checkpoint) compares with what it logged up to its checkpoint. A best saved after the
    checkpoint stays until the resumed run beats those rows; a deterministic run does so at the same
    step with the same model. The folder is written beside its final
    place and swapped in, so a kill leaves the previous best (or, between the two renames, the
    new one under ``.best.tmp``)."""

    def __init__(self, run: RunDir, metric: str):
        self.run, self.metric = run, metric
        self.value = max((r[metric] for r in run.rows() if r.get("step", 0) > 0 and isinstance(r.get(metric), (int, float))),
                         default=None)

    @staticmethod
    def summary(run: RunDir) -> str | None:
        """One line on the kept best model (``None`` when there is none), for the end of a run."""
        try:
            kept = json.loads((run.best / "best.json").read_text())
        except (OSError, ValueError):
            return None
        return f"best: step {kept['step']}, {kept['metric']} {kept['value']:.4f} ({run.best})"

    def offer(self, row: dict, save: Callable[[Path], None]) -> bool:
        """If ``row`` (an evaluation's metrics) beats every earlier one, ``save(folder)`` writes the
        model into a fresh folder that then becomes ``run_dir/best``; returns whether it did."""
        value = row.get(self.metric)
        if value is None or row.get("step", 0) == 0 or (self.value is not None and value <= self.value):
            return False
        best = self.run.best
        tmp, old = best.with_name(".best.tmp"), best.with_name(".best.old")
        for stale in (tmp, old):
            shutil.rmtree(stale, ignore_errors=True)
        tmp.mkdir(parents=True)
        save(tmp)
        (tmp / "best.json").write_text(json.dumps({"step": row["step"], "metric": self.metric, "value": value}) + "\n")
        if best.exists():
            os.replace(best, old)
        os.replace(tmp, best)
        shutil.rmtree(old, ignore_errors=True)
        self.value = value
        return True

