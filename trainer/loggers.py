"""Where a run's metric rows and samples go besides ``run_dir/metrics.jsonl`` (``report_to``).

metrics.jsonl is the record (resume truncates and rewrites it, ``assay plot`` reads it); these
sinks mirror it for the dashboards people already watch:

- ``tensorboard``: events in ``run_dir/tb`` (a resumed run purges the steps it will write again);
- ``wandb``: a Weights & Biases run named after the run directory, its id kept in
  ``run_dir/wandb_run_id`` so that ``--resume`` continues the same W&B run. W&B settings come from
  its own environment variables (``WANDB_PROJECT``, default "assay"; ``WANDB_ENTITY``,
  ``WANDB_MODE=offline`` for no network). W&B keeps the steps it has already seen: rows a resumed
  run writes again for steps after the checkpoint are dropped there with its warning, while
  metrics.jsonl has them exactly once.
"""

from __future__ import annotations

import math
import os
import secrets
from pathlib import Path
from typing import Protocol

SINKS = ("tensorboard", "wandb")


class MetricSink(Protocol):
    def log(self, row: dict) -> None:
        """One metric row (``row["step"]`` is its step); non-numeric and non-finite values are skipped."""
        ...

    def log_samples(self, split: str, rows: list[dict], step: int) -> None:
        """Sample rows of ``assay.trainer.samples`` (what the policy wrote)."""
        ...

    def close(self) -> None:
        ...


def parse_report_to(spec: str) -> tuple[str, ...]:
    """``"tensorboard,wandb"`` -> the sink names; ``"none"`` or ``""`` -> none."""
    names = tuple(n.strip() for n in spec.split(",") if n.strip() and n.strip() != "none")
    unknown = [n for n in names if n not in SINKS]
    if unknown:
        from assay.config import ConfigError

        raise ConfigError(f"report_to names {', '.join(unknown)}; choose from {', '.join(SINKS)} (comma-separated), "
                          "or none")
    return names


def open_sinks(names: tuple[str, ...], run_dir: Path, step: int, config: dict) -> list[MetricSink]:
    """The sinks ``names`` for a run in ``run_dir`` starting (or resuming) at ``step``."""
    sinks: list[MetricSink] = []
    for name in names:
        if name == "tensorboard":
            sinks.append(TensorBoardSink(run_dir, step))
        elif name == "wandb":
            sinks.append(WandbSink(run_dir, step, config))
    return sinks


def scalars(row: dict) -> dict[str, float]:
    return {k: float(v) for k, v in row.items()
            if k != "step" and isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}


class TensorBoardSink:
    def __init__(self, run_dir: Path, step: int):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(run_dir / "tb"), purge_step=step + 1 if step else None)

    def log(self, row: dict) -> None:
        for key, value in scalars(row).items():
            self.writer.add_scalar(key, value, row["step"])
        self.writer.flush()

    def log_samples(self, split: str, rows: list[dict], step: int) -> None:
        from assay.trainer.samples import markdown

        self.writer.add_text(f"samples/{split}", markdown(rows), step)

    def close(self) -> None:
        self.writer.close()


SAMPLE_COLUMNS = ("task_id", "prompt", "response", "answer", "reward", "passed", "feedback")


class WandbSink:
    def __init__(self, run_dir: Path, step: int, config: dict):
        try:
            import wandb
        except ImportError:
            from assay.config import ConfigError

            raise ConfigError("report_to=wandb needs the wandb package: pip install wandb (or leave wandb out of "
                              "report_to)") from None
        self.wandb = wandb
        id_file = run_dir / "wandb_run_id"
        if step == 0 or not id_file.exists():  # a fresh run gets a fresh W&B run; a resume, the one it had
            id_file.parent.mkdir(parents=True, exist_ok=True)
            id_file.write_text(secrets.token_hex(8))
        self.run = wandb.init(project=os.environ.get("WANDB_PROJECT", "assay"), name=run_dir.name,
                              id=id_file.read_text().strip(), resume="allow", dir=str(run_dir), config=config)
        # One W&B call per step, committed: a step's training row, evaluation row and samples arrive
        # one after another, and W&B drops whatever comes for a step after it was committed.
        self._step: int | None = None
        self._pending: dict = {}

    def log(self, row: dict) -> None:
        self._stage(int(row["step"]), scalars(row))

    def log_samples(self, split: str, rows: list[dict], step: int) -> None:
        data = [[r["task_id"], r["prompt"], "\n\n".join(f"{t['role']}: {t['text']}" for t in r["turns"]),
                 None if r["answer"] is None else str(r["answer"]), r["reward"], r["passed"], r["feedback"]] for r in rows]
        self._stage(step, {f"samples/{split}": self.wandb.Table(columns=list(SAMPLE_COLUMNS), data=data)})

    def _stage(self, step: int, data: dict) -> None:
        if self._step is not None and step != self._step:
            self._commit()
        self._step = step
        self._pending.update(data)

    def _commit(self) -> None:
        if self._step is not None:
            self.run.log(self._pending, step=self._step, commit=True)
        self._step, self._pending = None, {}

    def close(self) -> None:
        self._commit()
        self.run.finish()
