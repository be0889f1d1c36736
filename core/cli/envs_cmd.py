"""``assay envs``: list the registered environments."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("envs", help="list the registered environments", description="List the registered assay environments.")
    p.add_argument("--plain", action="store_true", help="print one id per line (for scripts)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import gymnasium
    from rich.console import Console
    from rich.table import Table

    import assay

    ids = assay.list_envs()
    if args.plain:
        print("\n".join(ids))
        return 0
    table = Table(title="assay environments")
    table.add_column("id", style="bold")
    table.add_column("entry point")
    table.add_column("defaults")
    for env_id in ids:
        spec = gymnasium.registry[env_id]
        ep = spec.entry_point if isinstance(spec.entry_point, str) else repr(spec.entry_point)
        table.add_row(env_id, ep, ", ".join(f"{k}={v!r}" for k, v in spec.kwargs.items()) or "-")
    Console().print(table)
    return 0
