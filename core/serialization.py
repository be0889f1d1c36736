"""Lossless JSON encoding for assay's frozen dataclasses, and JSONL files of them.

Plain ``json`` turns tuples into lists and cannot hold bytes, so a round trip would change
values. Values that JSON cannot hold natively are written as one-key tagged objects
(``{"__tuple__": [...]}``, ``{"__bytes__": "<base64>"}``) and restored on read. Floats use
``repr`` (shortest round-trip form), and NaN/inf use JSON's ``NaN``/``Infinity`` extension.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from assay.errors import AssayError

T = TypeVar("T")

_TUPLE = "__tuple__"
_BYTES = "__bytes__"
_TAGS = (_TUPLE, _BYTES)


def encode(value: Any) -> Any:
    """Turn ``value`` into JSON-native data that :func:`decode` restores exactly."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, tuple):
        return {_TUPLE: [encode(v) for v in value]}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return {_BYTES: base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, dict):
        bad = [k for k in value if not isinstance(k, str)]
        if bad:
            raise TypeError(f"dict keys must be str to serialize losslessly, got {bad[0]!r}")
        if len(value) == 1 and next(iter(value)) in _TAGS:
            raise TypeError(f"dict key {next(iter(value))!r} is reserved for tagged values")
        return {k: encode(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    raise TypeError(f"cannot serialize {type(value).__name__} losslessly: {value!r:.80}")


def decode(data: Any) -> Any:
    """Inverse of :func:`encode` for everything but dataclasses (their owners rebuild them)."""
    if isinstance(data, list):
        return [decode(v) for v in data]
    if isinstance(data, dict):
        if len(data) == 1:
            (key, inner), = data.items()
            if key == _TUPLE:
                return tuple(decode(v) for v in inner)
            if key == _BYTES:
                return base64.b64decode(inner)
        return {k: decode(v) for k, v in data.items()}
    return data


def dumps(value: Any) -> str:
    return json.dumps(encode(value), ensure_ascii=False, separators=(",", ":"))


def write_jsonl(path: str | os.PathLike, records: Iterable[Any], append: bool = False) -> int:
    """Write one record per line; returns the number written. Each line is flushed whole."""
    n = 0
    with open(path, "a" if append else "w", encoding="utf-8") as f:
        for record in records:
            f.write(dumps(record) + "\n")
            n += 1
    return n


def iter_jsonl(path: str | os.PathLike) -> Iterator[tuple[int, dict]]:
    """Yield ``(line_number, object)`` for each non-blank line, with a clear error on bad JSON."""
    path = Path(path)
    if not path.exists():
        raise AssayError(f"no such file: {path}")
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield lineno, json.loads(line)
            except json.JSONDecodeError as e:
                raise AssayError(f"{path}:{lineno}: not valid JSON ({e.msg} at column {e.colno})") from None
