"""``assay samples RUN_DIR``: print what the policy wrote at a step (run_dir/samples.jsonl)."""

from __future__ import annotations

import argparse
import json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("samples", help="print the episodes a training run logged (what the policy wrote)",
                       description="Print episodes from RUN_DIR/samples.jsonl, which `assay train` writes (log_samples "
                                   "per training step and per evaluation). Default: the latest step that has any.",
                       epilog="examples: assay samples runs/grpo    assay samples runs/grpo --step 0 --split eval --failed")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--step", type=int, help="the step to show (default: the latest logged)")
    p.add_argument("--task", metavar="TASK_ID", help="this task's episodes at every step logged, oldest first (held-out "
                                                    "tasks recur at each evaluation: how its answer changed)")
    p.add_argument("--split", choices=("train", "eval"), help="only training episodes, or only held-out ones")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--failed", action="store_true", help="only episodes that did not pass")
    which.add_argument("--passed", action="store_true", help="only episodes that passed")
    p.add_argument("-n", type=int, default=None, help="at most this many episodes")
    p.add_argument("--json", action="store_true", help="print the rows as JSON lines instead")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from assay.errors import AssayError
    from assay.trainer.run_state import RunDir

    run_dir = RunDir(args.run_dir)
    rows = run_dir.sample_rows()
    if not rows:
        raise AssayError(f"no samples in {run_dir.samples_path}: is {args.run_dir} a run directory of `assay train` "
                         f"(run with log_samples >= 1, the default)?")
    if args.split:
        rows = [r for r in rows if r["split"] == args.split]
    if args.task is not None:
        if args.step is not None:
            raise AssayError("--task shows every step of one task: leave out --step")
        rows = [r for r in rows if r["task_id"] == args.task]
        if not rows:
            raise AssayError(f"no samples of task {args.task!r} in {run_dir.samples_path} (task ids are in the panel titles, "
                             "or in --json's task_id)")
    else:
        steps = sorted({r["step"] for r in rows})
        step = steps[-1] if args.step is None else args.step
        if step not in steps:
            near = ", ".join(map(str, steps[-10:])) or "none"
            raise AssayError(f"no {args.split + ' ' if args.split else ''}samples at step {step}; logged steps: {near}")
        rows = [r for r in rows if r["step"] == step]
    rows = [r for r in rows if (not args.failed or not r["passed"]) and (not args.passed or r["passed"])]
    rows = rows[: args.n] if args.n is not None else rows
    if args.json:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
        return 0
    _print(rows)
    return 0


def _print(rows: list[dict]) -> None:
    from rich.console import Console
    from rich.panel import Panel
    from rich.text import Text

    console = Console()
    if not rows:
        console.print("no episode matches")
    for row in rows:
        body = Text()
        body.append(row["prompt"] or "(empty prompt)", style="dim")
        for turn in row["turns"]:
            body.append(f"\n\n{turn['role']}: ", style="bold")
            body.append(turn["text"])
        if row.get("answer") is not None:
            body.append(f"\n\ngold: {row['answer']}", style="cyan")
        if row["feedback"]:
            body.append(f"\nfeedback: {row['feedback']}")
        if row["error"]:
            body.append(f"\nerror: {row['error']}", style="yellow")
        status = "passed" if row["passed"] else ("could not judge" if row["error"] else "failed")
        style = "green" if row["passed"] else ("yellow" if row["error"] else "red")
        title = f"step {row['step']} {row['split']}  {row['task_id']}  reward {row['reward']:.3f}  {status}"
        console.print(Panel(body, title=title, title_align="left", border_style=style))
