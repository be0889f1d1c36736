"""``assay try ENV_ID``: play episodes in the terminal as the model would, and see the verdict."""

from __future__ import annotations

import argparse
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "try",
        help="play an environment in the terminal: you are the model",
        description="Play episodes of an environment: read the prompt, type a response, see the reward and feedback.",
        epilog="example: assay try assay/math-v0 --seed 3",
    )
    p.add_argument("env_id", help="environment id, e.g. assay/math-v0 (see `assay envs`)")
    p.add_argument("--seed", type=int, default=None, help="seed of the first episode (the next ones count up)")
    p.add_argument("--response", help="answer non-interactively with this response (one episode)")
    p.add_argument("--episodes", type=int, default=None, help="stop after this many episodes (default: ask)")
    p.add_argument("--save", metavar="FILE.jsonl", help="append each episode as a Trajectory (for `assay rescore`)")
    p.add_argument("--show-gold", action="store_true", help="print the gold answer after each episode")
    p.add_argument("--arg", action="append", default=[], metavar="KEY=VALUE",
                   help="env constructor argument, e.g. --arg difficulty=5 (repeatable; values parsed as YAML)")
    p.set_defaults(run=run)


def parse_env_args(pairs: list[str]) -> dict:
    import yaml

    from assay.errors import AssayError

    kwargs = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise AssayError(f"--arg expects KEY=VALUE, got {pair!r}")
        kwargs[key] = yaml.safe_load(value)
    return kwargs


def read_response(console) -> str | None:
    """Read lines until an empty line (after some text) or end of input; None at end of input."""
    console.print("[dim]Your response (finish with an empty line; Ctrl-D to quit):[/]")
    lines: list[str] = []
    while True:
        line = sys.stdin.readline()
        if line == "":
            return "\n".join(lines) if lines else None
        line = line.rstrip("\n")
        if not line and lines:
            return "\n".join(lines)
        if line or lines:
            lines.append(line)


class _Quit(Exception):
    """The person ended input (Ctrl-D) in the middle of an episode."""


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.panel import Panel

    import assay
    from assay.cli.show import print_verdict
    from assay.envs.episode import play
    from assay.serialization import write_jsonl

    console = Console()
    env = assay.make(args.env_id, **parse_env_args(args.arg))
    interactive = args.response is None and sys.stdin.isatty()
    limit = 1 if args.response is not None else args.episodes
    seed, played, total = args.seed, 0, 0.0

    def respond(observation: str, info: dict) -> str:
        title = f"{args.env_id}  ·  task {info['task'].id}" if "task" in info else args.env_id
        console.print(Panel(observation, title=title + (f"  ·  seed {seed}" if seed is not None else ""), expand=False))
        response = args.response if args.response is not None else read_response(console)
        if response is None:
            raise _Quit
        return response

    try:
        while limit is None or played < limit:
            try:
                trajectory = play(env, respond, seed=seed)
            except _Quit:
                break
            print_verdict(trajectory.verdict, console)
            if args.show_gold:
                task = trajectory.task
                gold = task.answer if task is not None and task.answer is not None else "(this env states no gold answer)"
                console.print(f"[bold]gold:[/] {gold}", highlight=False)
            if args.save:
                write_jsonl(args.save, [trajectory], append=True)
            played, total = played + 1, total + trajectory.reward
            seed = None if seed is None else seed + 1
            if interactive and limit is None:
                console.print("[dim]Another episode? [Y/n][/] ", end="")
                answer = sys.stdin.readline()
                if answer == "" or answer.strip().lower().startswith("n"):
                    break
    finally:
        env.close()
    if played > 1:
        console.print(f"{played} episodes, mean reward {total / played:.3f}")
    return 0
