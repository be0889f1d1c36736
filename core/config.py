"""Dataclass configs that load from YAML, take ``key=value`` overrides, and explain themselves.

A config is a plain dataclass whose fields each carry a docstring (the string literal right
after the field, as in cleanrl). :func:`field_docs` reads those docstrings from the source, so
``--help`` and error messages can quote them. Validation lives in the dataclass's
``__post_init__`` and raises :class:`ConfigError` naming the fix.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import textwrap
import types
import typing
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import yaml

from assay.errors import AssayError, did_you_mean

C = TypeVar("C")


class ConfigError(AssayError, ValueError):
    """A config value that cannot work; the message names the field and the fix."""


@cache
def field_docs(cls: type) -> dict[str, str]:
    """``{field: docstring}`` from the string literals following each field in the class body."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError):
            continue
        body = tree.body[0].body  # type: ignore[attr-defined]
        for node, nxt in zip(body, body[1:]):
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and isinstance(nxt, ast.Expr) \
                    and isinstance(nxt.value, ast.Constant) and isinstance(nxt.value.value, str):
                docs[node.target.id] = " ".join(nxt.value.value.split())
    return docs


def _coerce(name: str, value: Any, annotation: Any) -> Any:
    """Convert a YAML-parsed override to the field's declared type where that is unambiguous."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is not type(None):
                try:
                    return _coerce(name, value, arg)
                except ConfigError:
                    continue
        raise ConfigError(f"{name}: cannot use {value!r} as {annotation}")
    if annotation is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if annotation is float and isinstance(value, str):
        try:  # YAML 1.1 reads "3e-4" (no dot) as a string
            return float(value)
        except ValueError:
            pass
    if annotation is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if annotation in (int, float, str, bool) and not isinstance(value, annotation):
        if annotation is str and isinstance(value, (int, float)):
            return str(value)
        raise ConfigError(f"{name}: expected {annotation.__name__}, got {value!r}")
    if annotation is int and isinstance(value, bool):
        raise ConfigError(f"{name}: expected int, got {value!r}")
    if dict in (annotation, origin) and not isinstance(value, dict):
        raise ConfigError(f"{name}: expected a mapping, e.g. {name}={{difficulty: 2}}, got {value!r}")
    if list in (annotation, origin) and not isinstance(value, list):
        raise ConfigError(f"{name}: expected a list, e.g. {name}=[a, b], got {value!r}")
    return value


def build(cls: type[C], values: dict[str, Any]) -> C:
    """``cls(**values)`` with unknown keys reported with suggestions and values coerced."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in values.items():
        if key not in names:
            raise did_you_mean(key, names, f"{cls.__name__} field")
        kwargs[key] = _coerce(key, value, hints[key])
    return cls(**kwargs)


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """``["lr=1e-5", "env_kwargs={difficulty: 2}"]`` -> dict, values parsed as YAML."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {pair!r} must look like key=value")
        try:
            out[key.strip()] = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as e:
            raise ConfigError(f"override {pair!r}: value is not valid YAML ({e.problem})") from None
    return out


def load(cls: type[C], path: str | Path | None = None, overrides: list[str] | dict[str, Any] | None = None) -> C:
    """Defaults, then the YAML file, then the overrides; validated by the dataclass."""
    values: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.exists():
            raise ConfigError(f"config file not found: {path}")
        loaded = yaml.safe_load(path.read_text()) or {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of field: value")
        values.update(loaded)
    if overrides:
        values.update(parse_overrides(overrides) if isinstance(overrides, list) else overrides)
    return build(cls, values)


def to_yaml(config: Any) -> str:
    return yaml.safe_dump(dataclasses.asdict(config), sort_keys=False)
