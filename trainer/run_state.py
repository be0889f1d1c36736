"""A run directory: checkpoints that resume exactly, and metrics that never duplicate a row.

Layout::

    run_dir/config.yaml
    run_dir/metrics.jsonl            one JSON object per step (and per evaluation)
    run_dir/tb/                      TensorBoard events
    run_dir/checkpoints/step_000010/ model (Hugging Face format, or inside the state) + trainer_state.pt
    run_dir/checkpoints/latest       name of the newest complete checkpoint

A checkpoint is written to a temporary folder and renamed into place, and ``latest`` is replaced
atomically, so a SIGKILL at any moment leaves the previous checkpoint intact. On resume, metric
rows newer than the checkpoint (written after it, then lost with the kill) are dropped before
training repeats those steps, so the log has each step exactly once.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch


def derive_seed(*parts: int) -> int:
    """A 31-bit seed mixed from integers (splitmix64 steps). Seeds are kept below 2**31 because
    torch's CPU generator uses only the low 32 bits of a seed: seeds that differ above them (say
    ``s`` and ``s + 2**40``) draw the same numbers."""
    h = 0x9E3779B97F4A7C15
    for part in parts:
        h = ((h ^ (part & 0xFFFFFFFFFFFFFFFF)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
        h = ((h ^ (h >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
        h ^= h >> 31
    return h & 0x7FFFFFFF


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

    # -- checkpoints ------------------------------------------------------------------------
    def save(self, step: int, model, tokenizer, state: dict[str, Any]) -> Path:
        """``model`` and ``tokenizer`` are written in Hugging Face format beside ``state``; pass None
        for both when ``state`` holds the weights itself (reward-model training keeps only its
        trainable tensors there, e.g. LoRA adapters)."""
        self.checkpoints.mkdir(parents=True, exist_ok=True)
        final = self.checkpoints / f"step_{step:06d}"
        tmp = self.checkpoints / f".tmp_step_{step:06d}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        if model is not None:
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
        torch.save(state, tmp / "trainer_state.pt")
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        latest_tmp = self.checkpoints / ".latest.tmp"
        latest_tmp.write_text(final.name)
        os.replace(latest_tmp, self.checkpoints / "latest")
        return final

    def latest(self) -> Path | None:
        pointer = self.checkpoints / "latest"
        if not pointer.exists():
            return None
        path = self.checkpoints / pointer.read_text().strip()
        return path if (path / "trainer_state.pt").exists() else None

    def load_state(self, checkpoint: Path) -> dict:
        return torch.load(checkpoint / "trainer_state.pt", weights_only=False)

    # -- metrics ----------------------------------------------------------------------------
    def log(self, row: dict) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        with self.metrics_path.open("a") as f:
            f.write(json.dumps(row) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def rows(self) -> list[dict]:
        if not self.metrics_path.exists():
            return []
        out = []
        for line in self.metrics_path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:  # a line cut short by a kill: it is rewritten on resume
                continue
        return out

    def truncate_metrics(self, last_step: int) -> int:
        """Keep rows with ``step <= last_step``; returns how many were dropped."""
        rows = self.rows()
        keep = [r for r in rows if r.get("step", 0) <= last_step]
        tmp = self.metrics_path.with_suffix(".tmp")
        tmp.write_text("".join(json.dumps(r) + "\n" for r in keep))
        os.replace(tmp, self.metrics_path)
        return len(rows) - len(keep)
