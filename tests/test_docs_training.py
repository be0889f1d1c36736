"""docs/training.md stays true: its example config loads as written (every key a GRPOConfig
field), its algorithm table matches the presets, and the error it quotes is the one a user gets."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from assay.cli.main import build_parser
from assay.config import ConfigError, load
from assay.trainer.config import ALGORITHMS, GRPOConfig

DOC = (Path(__file__).resolve().parents[1] / "docs" / "training.md").read_text()


def test_the_example_config_loads(tmp_path):
    yaml_block = re.search(r"```yaml\n(# run\.yaml\n.*?)```", DOC, re.S).group(1)
    (tmp_path / "run.yaml").write_text(yaml_block)
    cfg = load(GRPOConfig, str(tmp_path / "run.yaml"), [])
    assert cfg.algorithm == "dapo" and cfg.clip_high == 0.28 and cfg.dynamic_sampling and cfg.keep_best


def test_the_algorithm_table_matches_the_presets():
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| `(\w+)` \(.*$", DOC, re.M)}
    assert set(rows) == set(ALGORITHMS)
    for name, (_, agg, low, high, dynamic, overlong) in ALGORITHMS.items():
        cells = [c.strip() for c in rows[name].split("|")[1:-1]]
        assert cells[2] == agg and cells[3] == f"{low}, {high}", name
        assert cells[4] == ("yes" if dynamic else "no") and cells[5].startswith("buffer" if overlong else "no"), name


def test_the_quoted_error_is_the_real_one():
    quoted = re.search(r"`assay: error: (temperature must be > 0[^`]*)`", DOC).group(1)
    with pytest.raises(ConfigError) as e:
        load(GRPOConfig, None, ["temperature=0"])
    assert str(e.value) == quoted


def test_the_coming_from_tables_name_real_settings_and_values():
    """docs/coming_from.md: every assay setting in its tables' first column is a GRPOConfig field,
    and every value it gives one (``algorithm=dapo``, ``clip_high=0.28``) is accepted."""
    doc = (Path(__file__).resolve().parents[1] / "docs" / "coming_from.md").read_text()
    first_cells = [line.split("|")[1] for line in doc.splitlines() if line.startswith("| `")]
    assert len(first_cells) >= 30
    fields = {f.name for f in dataclasses.fields(GRPOConfig)}
    for cell in first_cells:
        for setting in re.findall(r"`([^`]+)`", cell):
            if setting.startswith("--"):  # a flag of `assay train`
                build_parser().parse_args(["train", setting])
                continue
            name, _, values = setting.partition("=")
            assert name in fields, f"docs/coming_from.md names {name!r}, which GRPOConfig lacks"
            for value in (v.strip() for v in values.split("/") if v.strip()):
                load(GRPOConfig, None, [f"{name}={value}"])  # raises ConfigError on a value it refuses
