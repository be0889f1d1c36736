"""``assay demo``: the main job on built-in defaults.

By default it trains: warm-starts the tiny model, runs GRPO on procedural arithmetic on the CPU
for a few minutes and prints held-out accuracy before and after (``assay.trainer.demo``). Its last
line is ``held-out accuracy: BEFORE -> AFTER``.

``--tour`` instead plays one scripted episode of every registered environment (the scripted
policy states the gold answer) plus one deliberately wrong answer and prints the verdicts, so a
new user sees reset -> step -> Verdict end to end in seconds.
"""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    from assay.trainer.demo import DemoSettings

    d = DemoSettings()
    p = sub.add_parser("demo", help="train the tiny model with GRPO on arithmetic and report held-out accuracy "
                                    "(--tour: scripted episodes of every env)",
                       description="Warm-start assay's tiny model, train it with GRPO on procedural arithmetic on "
                                   "the CPU, and print held-out accuracy before and after.")
    p.add_argument("--tour", action="store_true", help="play one scripted episode of every env instead of training")
    p.add_argument("--seed", type=int, default=d.seed, help=f"seed (default {d.seed})")
    p.add_argument("--run-dir", default=d.run_dir, help=f"output directory (default {d.run_dir})")
    p.add_argument("--sft-steps", type=int, default=d.sft_steps, help=f"warm-start steps (default {d.sft_steps})")
    p.add_argument("--budget", type=float, default=d.max_wall_s, help=f"GRPO wall-clock seconds (default {d.max_wall_s:.0f})")
    p.add_argument("--steps", type=int, default=d.steps, help=f"GRPO steps at most (default {d.steps})")
    p.add_argument("--eval-size", type=int, default=d.eval_size, help=f"held-out tasks (default {d.eval_size})")
    p.add_argument("--eval-every", type=int, default=d.eval_every, help=f"steps between evaluations (default {d.eval_every})")
    p.set_defaults(run=run)


WRONG_RESPONSE = "I am not sure. Maybe the answer is \\boxed{I don't know}."


def run(args: argparse.Namespace) -> int:
    if args.tour:
        return tour(args.seed)
    from assay.trainer.demo import DemoSettings, run_demo

    settings = DemoSettings(run_dir=args.run_dir, seed=args.seed, sft_steps=args.sft_steps, steps=args.steps,
                            max_wall_s=args.budget, eval_size=args.eval_size, eval_every=args.eval_every)
    before, after = run_demo(settings)
    print(f"held-out accuracy: {before:.2f} -> {after:.2f}")
    return 0


def tour(seed: int) -> int:
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
            gold = play(env, lambda obs, info: env.unwrapped.gold_response(info["task"]), seed=seed)
            wrong = play(env, lambda obs, info: WRONG_RESPONSE, seed=seed)
        finally:
            env.close()
        console.rule(f"[bold]{env_id}[/]  task {gold.task_id}  (seed {seed})")
        console.print(Panel(gold.turns[0].text, title="prompt", expand=False))
        console.print(f"[bold]scripted gold response:[/] {gold.response}", highlight=False)
        print_verdict(gold.verdict, console)
        console.print(f"[bold]scripted wrong response:[/] {wrong.response}", highlight=False)
        print_verdict(wrong.verdict, console)
        failures += (not gold.verdict.passed) + wrong.verdict.passed
    console.rule()
    console.print("tour done" if not failures else f"[red]{failures} scripted verdicts were not as expected[/]")
    return 1 if failures else 0
