"""Printing verdicts the same way in every command."""

from __future__ import annotations

import json

from assay.serialization import encode
from assay.types import Verdict


def verdict_json(verdict: Verdict) -> str:
    return json.dumps(encode(verdict), ensure_ascii=False, indent=2, default=str)


def print_verdict(verdict: Verdict, console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    style = "green" if verdict.passed else ("yellow" if verdict.error else "red")
    status = "PASSED" if verdict.passed else ("COULD NOT JUDGE" if verdict.error else "FAILED")
    console.print(f"[bold {style}]{status}[/]  reward = {verdict.reward:g}")
    if verdict.components:
        table = Table(show_header=True, header_style="bold")
        table.add_column("component")
        table.add_column("value", justify="right")
        for name, value in verdict.components.items():
            table.add_row(name, f"{value:g}")
        console.print(table)
    if verdict.feedback:
        console.print(f"[bold]feedback:[/] {verdict.feedback}", markup=True, highlight=False)
    if verdict.error:
        console.print(f"[bold yellow]error:[/] {verdict.error}", highlight=False)
