"""``assay rescore TRAJECTORIES.jsonl``: re-judge stored episodes with today's verifiers.

A verifier fix changes what old rollouts are worth; this reports which verdicts changed (and can
write the re-scored file) so the data stays usable.
"""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "rescore",
        help="re-score stored trajectories with the current verifiers and report what changed",
        description="Re-score stored trajectories (JSONL) with the current verifiers; report changed verdicts.",
    )
    p.add_argument("path", metavar="TRAJECTORIES.jsonl")
    p.add_argument("--out", metavar="FILE.jsonl", help="write the re-scored trajectories here")
    p.add_argument("--verifier", help="use this verifier for every row (default: the one in each row's provenance)")
    p.add_argument("--show", type=int, default=20, help="list at most this many changed rows (default 20)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from rich.console import Console
    from rich.progress import track
    from rich.table import Table

    from assay import verifiers
    from assay.errors import AssayError
    from assay.serialization import iter_jsonl, write_jsonl
    from assay.types import Trajectory

    console = Console()
    rows: list[Trajectory] = []
    for lineno, obj in iter_jsonl(args.path):
        try:
            traj = Trajectory.from_dict(obj)
        except (TypeError, ValueError) as e:
            raise AssayError(f"{args.path}:{lineno}: not a Trajectory ({e})") from None
        if traj.task is None:
            raise AssayError(f"{args.path}:{lineno}: trajectory {traj.task_id!r} has no stored task, so it cannot be re-scored")
        rows.append(traj)

    changed, rescored = [], []
    for traj in track(rows, description="re-scoring", console=console, disable=len(rows) < 50):
        name = args.verifier or traj.provenance.verifier or traj.task.domain
        verifier = verifiers.get(name)
        new = verifier.verify(traj.task, traj.response)
        old = traj.verdict
        if old is None or (old.reward, old.passed, old.error) != (new.reward, new.passed, new.error):
            changed.append((traj, old, new, verifier))
        prov = dataclasses.replace(traj.provenance, verifier=verifier.name, verifier_version=verifier.version)
        rescored.append(dataclasses.replace(traj, verdict=new, reward=new.reward, provenance=prov))

    console.print(f"{len(rows)} trajectories re-scored, {len(changed)} verdicts changed")
    if changed:
        table = Table()
        for col in ("task", "verifier", "old reward", "new reward", "new feedback"):
            table.add_column(col)
        for traj, old, new, verifier in changed[: args.show]:
            was = "-" if old is None else f"{old.reward:g}" + (" (error)" if old.error else "")
            table.add_row(traj.task_id, f"{traj.provenance.verifier_version or '?'} -> {verifier.version}", was,
                          f"{new.reward:g}" + (" (error)" if new.error else ""), new.feedback[:80])
        console.print(table)
    if args.out:
        write_jsonl(args.out, rescored)
        console.print(f"wrote {args.out}")
    return 0
