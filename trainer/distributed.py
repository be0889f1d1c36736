"""Process-group setup for ``torchrun``: gloo on CPU, NCCL on GPUs; nothing when run alone."""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


_OWN_GROUP = {"made": False}  # whether init_from_env made the default group (vLLM in process makes its own)


def init_from_env(always: bool = False) -> bool:
    """Join the process group torchrun describes (``WORLD_SIZE`` > 1); returns whether it did.

    ``always``: also make a one-process group when run alone (FSDP needs a group even of one)."""
    if dist.is_initialized():
        return True
    alone = int(os.environ.get("WORLD_SIZE", "1")) <= 1
    if alone and not always:
        return False
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    if alone and "MASTER_ADDR" not in os.environ:  # not under torchrun: an in-process store is enough for one
        dist.init_process_group(backend, store=dist.HashStore(), rank=0, world_size=1)
    else:
        dist.init_process_group(backend)
    _OWN_GROUP["made"] = True
    return True


def finish() -> None:
    """Leave the process group in order: wait for every rank, then destroy it. A rank that just
    exits can die in gloo's teardown ("terminate called without an active exception", SIGABRT)
    while its peers still talk to it. Only a group ``init_from_env`` made: vLLM in process
    (generator=vllm) sets up and tears down one of its own."""
    if _OWN_GROUP["made"] and dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
        _OWN_GROUP["made"] = False


def resolve_device(name: str) -> torch.device:
    """``"auto"`` -> this rank's GPU (``LOCAL_RANK``) when CUDA is available, else the CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        from assay.config import ConfigError

        raise ConfigError(f"device={name!r} but torch sees no CUDA device here; use device=cpu (or auto)")
    return device
