"""The wheel holds every subpackage: a folder missing from pyproject's package list still imports
in an editable install but vanishes from the wheel, so build the wheel and look inside."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TOP_LEVEL = ["core", "sandbox", "verifiers", "envs", "search", "kernels", "trainer"]


def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def source_packages() -> dict[str, Path]:
    """Every folder with an __init__.py under the top-level folders, by its assay.* name."""
    mapping = pyproject()["tool"]["setuptools"]["package-dir"]
    found = {}
    for name, folder in mapping.items():
        root = REPO / folder
        for init in root.rglob("__init__.py"):
            rel = init.parent.relative_to(root)
            dotted = ".".join([name, *rel.parts]) if rel.parts else name
            found[dotted] = init.parent
    return found


def test_layout_matches_design():
    for folder in [*TOP_LEVEL, "tests", "bench"]:
        assert (REPO / folder).is_dir(), f"top-level folder {folder}/ is missing"
    mapping = pyproject()["tool"]["setuptools"]["package-dir"]
    assert mapping["assay"] == "core"
    for folder in TOP_LEVEL[1:]:
        assert mapping[f"assay.{folder}"] == folder


def test_every_source_package_is_listed():
    listed = set(pyproject()["tool"]["setuptools"]["packages"])
    unlisted = sorted(set(source_packages()) - listed)
    assert not unlisted, f"add these to [tool.setuptools] packages and package-dir in pyproject.toml: {unlisted}"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(REPO)],
        check=True, capture_output=True, text=True, timeout=300,
    )
    (whl,) = out.glob("assay-*.whl")
    return whl


def test_wheel_contains_every_subpackage(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for dotted in source_packages():
        init = dotted.replace(".", "/") + "/__init__.py"
        assert init in names, f"{init} missing from the wheel"
    assert "assay/envs/data/math_sample.jsonl" in names, "shipped task data missing from the wheel"
    assert "assay/envs/web/data/tasks.json" in names, "the web env's task configs missing from the wheel"
    assert not any(n.split("/")[0] in TOP_LEVEL + ["tests", "bench"] for n in names), "a bare top-level package leaked into the wheel"


def test_wheel_declares_cli_and_env_plugin(wheel):
    zf = zipfile.ZipFile(wheel)
    (ep_file,) = [n for n in zf.namelist() if n.endswith(".dist-info/entry_points.txt")]
    entry_points = zf.read(ep_file).decode()
    assert "assay = assay.cli.main:main" in entry_points
    assert "[assay.envs]" in entry_points and "builtin = assay.envs:register_builtins" in entry_points
