"""Environment registry: a thin layer over Gymnasium's, under the ``assay/`` namespace.

Environments are registered by entry-point string (``"package.module:Class"``), so a spec is
plain data that pickles into a worker process (multiprocessing, Ray) and is imported there on
``make``. Built-in and third-party environments are discovered through the ``assay.envs``
entry-point group: a package lists ``name = "pkg.module:register_fn"`` there and its ids appear
in ``assay.list_envs()`` without an import by hand.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
import threading
import warnings
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

import gymnasium
from gymnasium.envs.registration import EnvSpec

from assay.errors import AssayError, did_you_mean

NAMESPACE = "assay"
PLUGIN_GROUP = "assay.envs"

_plugins_loaded = False
_plugins_lock = threading.RLock()


def qualify(env_id: str) -> str:
    """``"math-v0"`` -> ``"assay/math-v0"``; ids already in a namespace are left alone."""
    return env_id if "/" in env_id else f"{NAMESPACE}/{env_id}"


def load_plugins() -> None:
    """Run every ``assay.envs`` entry point once per process (idempotent, thread-safe)."""
    global _plugins_loaded
    with _plugins_lock:
        if _plugins_loaded:
            return
        _plugins_loaded = True
        for ep in entry_points(group=PLUGIN_GROUP):
            try:
                ep.load()()
            except Exception as e:  # a broken third-party plugin must not break assay
                warnings.warn(f"assay: env plugin {ep.name!r} ({ep.value}) failed to load: {e!r}", stacklevel=2)


def register(env_id: str, entry_point: str | Callable[..., gymnasium.Env], *, override: bool = False, **kwargs: Any) -> str:
    """Register an environment under ``assay/``; returns the full id.

    ``entry_point`` should be a ``"module:Attr"`` string so the registration survives pickling to
    worker processes; a callable works in this process only. ``kwargs`` become the env's
    constructor defaults (``make`` can override them). Registering an existing id raises unless
    ``override=True`` (re-registering the identical spec is a no-op).
    """
    full = qualify(env_id)
    if not full.startswith(f"{NAMESPACE}/"):
        raise AssayError(f"assay.register only registers ids in the {NAMESPACE!r} namespace, got {env_id!r}")
    if isinstance(entry_point, str) and ":" not in entry_point:
        raise AssayError(f"entry_point must look like 'package.module:ClassName', got {entry_point!r}")
    existing = gymnasium.registry.get(full)
    if existing is not None and not override:
        if existing.entry_point == entry_point and existing.kwargs == kwargs:
            return full
        raise AssayError(f"{full!r} is already registered (to {existing.entry_point!r}); pass override=True to replace it")
    if existing is not None:
        del gymnasium.registry[full]
    gymnasium.register(id=full, entry_point=entry_point, kwargs=kwargs, disable_env_checker=True)
    return full


def list_envs() -> list[str]:
    """All registered ``assay/`` ids, sorted."""
    load_plugins()
    return sorted(k for k in gymnasium.registry if k.startswith(f"{NAMESPACE}/"))


def spec(env_id: str) -> EnvSpec:
    """The registered spec for ``env_id`` (picklable), with a did-you-mean error if unknown.
    Gymnasium's ``"module:env_id"`` form imports ``module`` first (it registers the env)."""
    load_plugins()
    if ":" in env_id:
        module, _, env_id = env_id.partition(":")
        import_env_module(module)
    full = qualify(env_id)
    found = gymnasium.registry.get(full)
    if found is None:
        raise did_you_mean(env_id, list_envs(), "environment")
    return found


def import_env_module(module: str, named_by: str = "the env id") -> None:
    """Import the module a ``"module:env_id"`` (or a ``"module:attr"`` verifier) names. A console
    script (``assay``) does not look in the current directory as ``python -m`` does, so it is tried
    there too before giving up."""
    try:
        importlib.import_module(module)
        return
    except ModuleNotFoundError as e:
        missing = e.name
    if missing == module.split(".")[0] and os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())
        try:
            importlib.import_module(module)
            return
        except ModuleNotFoundError as e:
            missing = e.name
    raise AssayError(f"cannot import {module!r} (no module named {missing!r}), which {named_by} {module}:... names: "
                     "put it in the current directory or on PYTHONPATH")


def make(env_id: str | EnvSpec, **kwargs: Any) -> gymnasium.Env:
    """Build an environment by id (``"assay/math-v0"`` or ``"math-v0"``) or by spec."""
    env_spec = env_id if isinstance(env_id, EnvSpec) else spec(env_id)
    # Gymnasium's passive env checker probes reset/step with its own random actions, which a text
    # env cannot accept; assay's conformance test (tests/envs/test_conformance.py) replaces it.
    try:
        return gymnasium.make(env_spec, disable_env_checker=True, **kwargs)
    except TypeError as e:  # an argument the environment does not take: the user's mistake, said in one line
        unknown = re.search(r"unexpected keyword argument '(\w+)'", str(e))
        if unknown is None or unknown.group(1) not in kwargs:
            raise
        entry = env_spec.entry_point
        where = f"`python -m pydoc {entry.partition(':')[0]}` lists what it takes" if isinstance(entry, str) else "see its docstring"
        raise AssayError(f"{env_spec.id} takes no argument {unknown.group(1)!r} (given: {', '.join(sorted(kwargs))}); "
                         f"{where}") from None
