"""Read the history rows of an offline W&B run from its ``run-*.wandb`` file, for tests.

wandb ships no Python reader of its transaction log any more (its Go core writes it). The file is a
LevelDB-style log: a 7-byte header (``:W&B``, magic, version), then 32 KiB blocks of chunks, each
with a 7-byte header (CRC32, length, type: 1 full, 2 first, 3 middle, 4 last) holding a
``wandb_internal_pb2.Record``.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from pathlib import Path

BLOCK, FILE_HEADER, CHUNK_HEADER = 32768, 7, 7


def records(path: Path) -> Iterator:
    from wandb.proto import wandb_internal_pb2

    data = Path(path).read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B transaction log"
    pos, pending = FILE_HEADER, b""
    while pos + CHUNK_HEADER <= len(data):
        left = BLOCK - pos % BLOCK
        _, length, kind = struct.unpack("<IHB", data[pos:pos + CHUNK_HEADER]) if left >= CHUNK_HEADER else (0, 0, 0)
        if kind == 0:  # block padding
            pos += left
            continue
        pending += data[pos + CHUNK_HEADER:pos + CHUNK_HEADER + length]
        pos += CHUNK_HEADER + length
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            pending = b""
            yield record


def history(path: Path) -> list[dict]:
    """Each committed step's values, W&B's own keys (``_step``, ``_runtime``, ...) included."""
    return [{item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in r.history.item}
            for r in records(path) if r.WhichOneof("record_type") == "history"]
