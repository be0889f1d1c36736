"""``assay demo``: the main job on built-in defaults.

Until the trainer lands this plays one scripted episode of every registered environment (the
scripted policy states the gold answer) plus one deliberately wrong answer, and prints the
verdicts, so a new user sees reset -> step -> Verdict end to end.
"""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="play one scripted episode of every registered env and print the verdicts",
                       description="Play one scripted episode of every registered environment and print the verdicts.")
    p.add_argument("--seed", type=int, default=0, help="seed of every episode (default 0)")
    p.set_defaults(run=run)


WRONG_RESPONSE = "I am not sure. Maybe the answer is \\boxed{I don't know}."


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.panel import Panel

    import assay
    from assay.cli.show import print_verdict
    from assay.envs.episode import play

    console = Console()
    failures = 0
    for env_id in assay.list_envs():
        env = assay.make(env_id)
        try:
            gold = play(env, lambda obs, info: env.unwrapped.gold_response(info["task"]), seed=args.seed)
            wrong = play(env, lambda obs, info: WRONG_RESPONSE, seed=args.seed)
        finally:
            env.close()
        console.rule(f"[bold]{env_id}[/]  task {gold.task_id}  (seed {args.seed})")
        console.print(Panel(gold.turns[0].text, title="prompt", expand=False))
        console.print(f"[bold]scripted gold response:[/] {gold.response}", highlight=False)
        print_verdict(gold.verdict, console)
        console.print(f"[bold]scripted wrong response:[/] {wrong.response}", highlight=False)
        print_verdict(wrong.verdict, console)
        failures += (not gold.verdict.passed) + wrong.verdict.passed
    console.rule()
    console.print("demo done" if not failures else f"[red]{failures} scripted verdicts were not as expected[/]")
    return 1 if failures else 0
