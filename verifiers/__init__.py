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


def _resolve(factory: str | Callable[..., Verifier]) -> Callable[..., Verifier]:
    if callable(factory):
        return factory
    module, _, attr = factory.partition(":")
    return getattr(importlib.import_module(module), attr)


def get(name: str, **options: Any) -> Verifier:
    """The verifier for a domain or name. Without options the instance is shared (verifiers are
    thread-safe); with options a new one is built."""
    if name not in _FACTORIES:
        raise did_you_mean(name, available(), "verifier")
    if options:
        return _resolve(_FACTORIES[name])(**options)
    with _lock:
        if name not in _DEFAULTS:
            _DEFAULTS[name] = _resolve(_FACTORIES[name])()
        return _DEFAULTS[name]


__all__ = ["BaseVerifier", "Verifier", "available", "get", "register_verifier"]
