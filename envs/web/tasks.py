"""Web tasks: WebArena-format configs (``data/tasks.json``) read into ``assay.Task``.

A config is WebArena's (``task_id``, ``sites``, ``start_url``, ``intent``, ``eval``) with two
additions: ``login`` (``{"username", "password"}``: the episode starts signed in, as WebArena's
``storage_state`` does) and ``oracle`` (the scripted solution, see ``oracle.py``). The task's gold
(``answer``) is ``{"site", "start_url", "eval"}``; login and oracle go to ``meta``.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from assay.envs.web.oracle import check_steps
from assay.errors import AssayError
from assay.types import Task
from assay.verifiers.web.spec import EvalSpec, SpecError


def task_from_config(config: dict, where: str = "config") -> Task:
    from assay.envs.web.sites import SITES

    if not isinstance(config, dict):
        raise AssayError(f"{where}: a task config is a JSON object, got {type(config).__name__}")
    missing = [k for k in ("task_id", "sites", "start_url", "intent", "eval") if k not in config]
    if missing:
        raise AssayError(f"{where}: missing {missing}")
    sites = config["sites"]
    if not isinstance(sites, list) or len(sites) != 1 or sites[0] not in SITES:
        raise AssayError(f"{where}: sites must name one of {sorted(SITES)}, got {sites!r}")
    if not isinstance(config["start_url"], str) or not config["start_url"].startswith("/"):
        raise AssayError(f"{where}: start_url must be a path on the site such as '/', got {config['start_url']!r}")
    try:
        EvalSpec.from_config(config["eval"])
    except SpecError as e:
        raise AssayError(f"{where}: {e}") from None
    login = config.get("login")
    if login is not None and (not isinstance(login, dict) or set(login) != {"username", "password"}):
        raise AssayError(f"{where}: login must be {{'username': ..., 'password': ...}}")
    try:
        oracle = check_steps(config["oracle"], where) if "oracle" in config else None
    except ValueError as e:
        raise AssayError(str(e)) from None
    return Task(
        id=str(config["task_id"]),
        prompt=config["intent"],
        answer={"site": sites[0], "start_url": config["start_url"], "eval": config["eval"]},
        domain="web",
        meta={"login": login, "oracle": oracle},
    )


def load_tasks(path: str | Path | None = None) -> list[Task]:
    """The shipped tasks, or those in a JSON file holding a list of configs."""
    if path is None:
        text = (resources.files("assay.envs.web") / "data" / "tasks.json").read_text()
        where = "assay/envs/web/data/tasks.json"
    else:
        text, where = Path(path).read_text(), str(path)
    configs = json.loads(text)
    if not isinstance(configs, list):
        raise AssayError(f"{where}: expected a JSON list of task configs")
    tasks = [task_from_config(c, f"{where}[{i}]") for i, c in enumerate(configs)]
    ids = [t.id for t in tasks]
    if len(set(ids)) != len(ids):
        raise AssayError(f"{where}: task ids repeat")
    return tasks
