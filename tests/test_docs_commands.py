"""Every `assay ...` command line in the README's and docs' shell blocks stays true: the CLI parses
it, and its key=value overrides build a valid config (every key a field, every value accepted).
Nothing is run; the files a command names need not exist."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from assay.cli.main import build_parser
from assay.config import load
from assay.trainer.config import GRPOConfig
from assay.trainer.reward_model import RMConfig
from assay.trainer.sft import SFTConfig

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {"train": GRPOConfig, "eval": GRPOConfig, "pretrain-tiny": SFTConfig, "train-rm": RMConfig}


def documented_commands() -> list[tuple[str, str]]:
    """``(file, line)`` for each line starting with ``assay `` in a fenced block that is not
    python, yaml or json; backslash continuations joined."""
    found = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        inside, language, pending = False, "", ""
        for raw in path.read_text().splitlines():
            if raw.startswith("```"):
                inside, language = not inside, raw[3:].strip()
                continue
            if not inside or language in ("python", "yaml", "json"):
                continue
            line = pending + raw.strip()
            pending = line[:-1] + " " if line.endswith("\\") else ""
            if not pending and line.startswith("assay "):
                found.append((path.relative_to(ROOT).as_posix(), line))
    return found


COMMANDS = documented_commands()


def test_the_docs_show_commands_of_every_config_kind():
    """The extraction is live: it finds the README's command list and each config-taking command."""
    names = {shlex.split(line, comments=True)[1] for _, line in COMMANDS}
    assert len(COMMANDS) >= 40, len(COMMANDS)
    assert set(CONFIGS) <= names, names


@pytest.mark.parametrize("where,line", COMMANDS, ids=[f"{w}:{i}" for i, (w, _) in enumerate(COMMANDS)])
def test_a_documented_command_parses_and_its_overrides_validate(where, line):
    argv = shlex.split(line, comments=True)[1:]
    if argv[-1] == "&":  # started in the background
        argv = argv[:-1]
    try:
        args, extra = build_parser().parse_known_args(argv)
    except SystemExit:
        pytest.fail(f"{where}: the CLI refuses `{line}`")
    overrides = getattr(args, "overrides", None)
    # as assay.cli.main does: key=value overrides may also follow the options
    if extra and isinstance(overrides, list) and all("=" in x and not x.startswith("-") for x in extra):
        overrides, extra = overrides + extra, []
    assert not extra, f"{where}: `{line}` has arguments the CLI does not know: {extra}"
    if args.command in CONFIGS:
        kind = [f"kind={args.kind}"] if getattr(args, "kind", None) else []
        load(CONFIGS[args.command], None, [*overrides, *kind])  # raises ConfigError naming the bad key or value
