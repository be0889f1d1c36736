"""A rich progress bar over training steps with a line of headline metrics beside it (GRPO and
reward-model training).

When stdout is not a terminal (a log file, CI, a pipe), rich draws nothing while the bar runs and
prints its final state once on exit, so a log gets one line rather than one per refresh.
"""

from __future__ import annotations


class StepProgress:
    """``with StepProgress(total, done, enabled) as bar: ... bar.update(step, "loss 0.31")``; a
    no-op when not enabled (off rank 0, ``--no-progress``, tests)."""

    def __init__(self, total: int, done: int, enabled: bool):
        self.total, self.done, self.enabled = total, done, enabled

    def __enter__(self):
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(TextColumn("step"), MofNCompleteColumn(), BarColumn(), TimeRemainingColumn(),
                                TextColumn("{task.fields[stats]}"))
            self.bar.__enter__()
            self.task = self.bar.add_task("train", total=self.total, completed=self.done, stats="")
        return self

    def update(self, step: int, stats: str) -> None:
        if self.enabled:
            self.bar.update(self.task, completed=step, stats=stats)

    def note(self, line: str) -> None:
        """Print ``line`` above the bar (plainly when there is none), e.g. an evaluation's result."""
        if self.enabled:
            self.bar.console.print(line, highlight=False)
        else:
            print(line, flush=True)

    def __exit__(self, *exc):
        if self.enabled:
            self.bar.__exit__(*exc)
