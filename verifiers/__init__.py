"""Verifiers: ``task + response -> Verdict``.

``assay.verifiers.get("math")`` returns a ready verifier. Built-ins are registered by
``"module:Class"`` strings and imported on first use, so ``import assay.verifiers`` stays light.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from typing import Any

from assay.errors import did_you_mean
from assay.protocols import Verifier
from assay.verifiers.base import BaseVerifier

_FACTORIES: dict[str, str | Callable[..., Verifier]] = {
    "math": "assay.verifiers.math.verifier:MathVerifier",
    "verilog": "assay.verifiers.verilog.verifier:VerilogVerifier",
    "code": "assay.verifiers.code.verifier:CodeVerifier",
    "web": "assay.verifiers.web.verifier:WebVerifier",
    "swe": "assay.verifiers.swe.verifier:SWEVerifier",
}
_DEFAULTS: dict[str, Verifier] = {}
_lock = threading.Lock()


def register_verifier(name: str, factory: str | Callable[..., Verifier], *, override: bool = False) -> None:
    """Make ``get(name)`` build verifiers with ``factory`` (a callable or ``"module:Class"``)."""
    if name in _FACTORIES and not override:
        raise ValueError(f"verifier {name!r} is already registered; pass override=True to replace it")
    with _lock:
        _FACTORIES[name] = factory
        _DEFAULTS.pop(name, None)


def available() -> list[str]:
    return sorted(_FACTORIES)


def _user_factory(name: str) -> Callable[..., Verifier]:
    """``"module:attr"``: a class is the factory (its instances verify); a function is a reward
    function. Classes and functions are told apart by kind, never by their arguments."""
    from assay.errors import AssayError
    from assay.registry import import_env_module

    module, _, attr = name.partition(":")
    import_env_module(module, named_by="the verifier")
    obj = getattr(importlib.import_module(module), attr, None)
    if obj is None:
        raise AssayError(f"module {module!r} has no {attr!r}, which the verifier {name} names")
    if isinstance(obj, type):
        return obj
    if not callable(obj):
        raise AssayError(f"{name} is a {type(obj).__name__}; name a Verifier class or a function (task, response) -> reward")

    def reward_function(**options: Any) -> Verifier:
        if options:
            raise AssayError(f"{name} is a reward function and takes no verifier_options (got {', '.join(options)})")
        from assay.verifiers.function import FunctionVerifier

        return FunctionVerifier(obj, name)

    return reward_function


def _resolve(factory: str | Callable[..., Verifier]) -> Callable[..., Verifier]:
    if callable(factory):
        return factory
    module, _, attr = factory.partition(":")
    return getattr(importlib.import_module(module), attr)


def get(name: str, **options: Any) -> Verifier:
    """The verifier for a domain or name. Without options the instance is shared (verifiers are
    thread-safe); with options a new one is built. ``"module:attr"`` names a user's verifier class
    (built with the options) or reward function (``assay.verifiers.function``), imported on first use."""
    if name not in _FACTORIES:
        if ":" not in name:
            raise did_you_mean(name, available(), "verifier")
        factory = _user_factory(name)
        with _lock:
            _FACTORIES.setdefault(name, factory)
    if options:
        return _resolve(_FACTORIES[name])(**options)
    with _lock:
        if name not in _DEFAULTS:
            _DEFAULTS[name] = _resolve(_FACTORIES[name])()
        return _DEFAULTS[name]


__all__ = ["BaseVerifier", "Verifier", "available", "get", "register_verifier"]
