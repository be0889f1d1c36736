"""Generation on Ray actors: ``RayGenerators`` is a ``Generator`` whose batches are split over
``GeneratorWorker`` actors, each holding its own copy of the policy, kept in step by weight sync.

What an actor holds. The driver's model config (the architecture: the actor builds the model
from it, no files needed on the actor's machine), its generation config, and the tokenizer as a
pickled object: ``HFGenerator`` needs its pad and eos ids, stop strings and the decoded text of
each ``Generation``. Prompts and answers are token ids, so multi-turn contexts stay exact.

Weight sync. ``sync(policy, version)`` copies the state dict to CPU and ``ray.put``s it once; every
actor loads that one object (Ray passes the reference: nothing is serialised per actor). Tied
weights (embeddings shared with the LM head) travel once. The driver records the version each
actor holds, and every generate call names the version it needs: an actor that holds another is
sent that version's weights first (Ray runs one caller's calls to an actor in order), and the
actor itself refuses a generate whose version it does not hold. So a generate call never samples
with weights other than the ones it asked for: the newest synced version for the ``Generator``
protocol's ``generate``, or the version a :meth:`RayGenerators.pinned` view was taken at (the
async pipeline hands those out: a batch being sampled while the trainer publishes a newer version
finishes its turn with the version it started the turn with).

Seeds. With ``params.seed`` set, shard ``i`` samples with ``seed`` for ``i = 0`` and a seed mixed
from ``(seed, i)`` otherwise (``HFGenerator`` mixes its own for batches past the first): fixed by
the shard's position, never by timing, and one actor reproduces a local ``HFGenerator`` exactly
(same weights, same seed: same tokens and log-probs). Not ``seed + i * 2**40``: torch's CPU
generator keeps only a seed's low 32 bits, so those shards drew identical samples (the tests
caught it). With no seed, each actor draws from its own torch stream, seeded at start from
``seed + actor index``.

An actor that dies (its process killed, its node lost) is replaced: a new actor is built, loaded
with the version the call asked for, and sent the dead one's shard again, up to ``retries`` times
per shard and call. The shard's seed depends on its position only, so the samples are the ones the
dead actor would have returned (with ``params.seed`` set). ``replaced`` counts the replacements.

vLLM actors (``engine="vllm"``, the trainer's ``generator=vllm`` with ``ray_generators``): each
actor runs a ``VLLMGenerator`` instead, started from the config's architecture with placeholder
weights written to a temporary folder (vLLM loads from disk), which the first load replaces; loads
go through vLLM's in-place reload. Their samples are vLLM's, so the bit-for-bit equality with a
local ``HFGenerator`` above does not hold for them; the seeds and versions do.

Not covered: shards are contiguous and equal in size, not balanced by prompt length.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import torch

from assay.protocols import Generation, SamplingParams
from assay.trainer.generators.hf import HFGenerator
from assay.trainer.ray_backend.cluster import require_ray
from assay.trainer.run_state import derive_seed

SHARD_SEED_TAG = 0x5D  # shard seeds never equal HFGenerator's batch seeds mixed from the same base

class StaleWeights(RuntimeError):
    """A generate call reached an actor holding another policy version than the one it asked for."""


class GeneratorLost(RuntimeError):
    """A shard's actor died, and so did every replacement it was given."""


def shard_seed(seed: int | None, shard: int) -> int | None:
    """The sampling seed of shard ``shard``: ``seed`` itself for the first (so one actor equals a
    local generator), distinct and fixed for the others."""
    if seed is None or shard == 0:
        return seed
    return derive_seed(seed, SHARD_SEED_TAG, shard)


def cpu_state(model) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """``(tensors, aliases)``: the state dict on CPU with each shared tensor once; ``aliases`` maps a
    left-out name to the kept name holding the same tensor (tied embeddings)."""
    tensors: dict[str, torch.Tensor] = {}
    aliases: dict[str, str] = {}
    seen: dict[tuple, str] = {}
    for name, t in model.state_dict().items():
        key = (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape), tuple(t.stride()), t.dtype)
        if key in seen:
            aliases[name] = seen[key]
            continue
        seen[key] = name
        tensors[name] = t.detach().to("cpu", copy=True)
    return tensors, aliases


class GeneratorWorker:
    """Ray actor body: a copy of the policy wrapped in ``HFGenerator`` (or a vLLM engine), at a known
    version."""

    def __init__(self, model_config, generation_config, tokenizer, batch_size: int, seed: int, device: str,
                 dtype: torch.dtype, torch_threads: int | None, engine: str = "hf", precision: str = "fp32"):
        from transformers import AutoModelForCausalLM

        if torch_threads:
            torch.set_num_threads(torch_threads)  # CPU matmuls reduce in a thread-count-dependent order
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(model_config, dtype=dtype)
        model.generation_config = generation_config
        self.version: int | None = None
        if engine == "vllm":
            import tempfile

            from assay.trainer.generators.vllm import VLLMGenerator

            folder = tempfile.mkdtemp(prefix="assay-vllm-actor-")
            model.save_pretrained(folder)  # placeholder weights: the first load replaces them
            tokenizer.save_pretrained(folder)
            self.model = None
            self.generator = VLLMGenerator(folder, tokenizer, precision=precision, seed=seed)
            return
        # left requiring grad like the driver's policy (generation runs under no_grad anyway): with
        # requires_grad off, CPU kernels here took another path and log-probs of padded rows moved by an ulp
        self.model = model.to(device).eval()
        self.generator = HFGenerator(self.model, tokenizer, batch_size=batch_size)

    def load(self, state: tuple[dict, dict], version: int) -> int:
        tensors, aliases = state
        full = {**tensors, **{name: tensors[kept] for name, kept in aliases.items()}}
        if self.model is None:  # vLLM
            self.generator.load_weights(full.items())
        else:
            self.model.load_state_dict(full)
        self.version = version
        return version

    def generate(self, prompts: list, params: SamplingParams, version: int) -> list[Generation]:
        if self.version != version:
            raise StaleWeights(f"generator actor holds policy version {self.version}, the call asked for {version}")
        return self.generator.generate(prompts, params)

    def weights(self) -> dict[str, torch.Tensor]:
        """This copy's state dict (tests compare it with the driver's); not for vLLM actors, whose
        weights live in the engine's own (possibly repacked) layout."""
        if self.model is None:
            raise NotImplementedError("a vLLM actor's weights are in the engine's layout; compare samples instead")
        return {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}

    def held_version(self) -> int | None:
        return self.version


class RayGenerators:
    """``Generator`` over ``num_actors`` Ray actors, each with a copy of ``policy`` (see the module
    docstring for sync, versions and seeds). ``version`` names the weights ``policy`` has now."""

    def __init__(self, policy, tokenizer, num_actors: int, *, version: int = 0, batch_size: int = 64, seed: int = 0,
                 num_cpus: float = 0.5, num_gpus: float = 0, torch_threads: int | None = None, retries: int = 2,
                 engine: str = "hf", precision: str = "fp32"):
        if num_actors < 1:
            raise ValueError(f"num_actors must be >= 1, got {num_actors}")
        self.ray = require_ray()
        actor = self.ray.remote(GeneratorWorker).options(num_cpus=num_cpus, num_gpus=num_gpus)
        dtype = next(policy.parameters()).dtype
        device = "cuda" if num_gpus else "cpu"
        config, generation_config = policy.config, policy.generation_config  # not the policy: the closure outlives it
        self._new_actor = lambda i: actor.remote(config, generation_config, tokenizer, batch_size, seed + i, device, dtype,
                                                 torch_threads, engine, precision)
        self.actors = [self._new_actor(i) for i in range(num_actors)]
        self.retries, self.replaced = retries, 0
        self.held: list[int | None] = [None] * num_actors  # version each actor holds, or will once its queued load runs
        self._loads: list[Any] = [None] * num_actors  # each actor's latest load call (its errors surface on the next generate)
        self._lock = threading.Lock()  # submission order is the order actors run calls in
        self.version: int | None = None
        self._ref = None
        self.sync(policy, version)

    def sync(self, policy, version: int) -> None:
        """Publish ``policy``'s weights as ``version``: one ``ray.put``, then every actor is sent the
        load now, so the transfer overlaps whatever the driver does before the next generate."""
        ref = self.ray.put(cpu_state(policy))
        with self._lock:
            self.version, self._ref = version, ref
            for i in range(len(self.actors)):
                self._load(i, version, ref)

    def pinned(self, policy, version: int) -> PinnedGenerator:
        """A ``Generator`` that always samples with ``version`` (syncing ``policy`` as that version if
        it is newer than the last sync); the async pipeline's frozen snapshot."""
        if version != self.version:
            self.sync(policy, version)
        return PinnedGenerator(self, version, self._ref)

    def generate(self, prompts: Sequence[Sequence[int]], params: SamplingParams) -> list[Generation]:
        """The ``Generator`` protocol: sample with the newest synced version."""
        with self._lock:
            version, ref = self.version, self._ref
        return self.generate_at(version, ref, prompts, params)

    def generate_at(self, version: int, ref, prompts: Sequence[Sequence[int]], params: SamplingParams) -> list[Generation]:
        """Contiguous shards, one per actor (the first ones when there are fewer prompts than
        actors), each actor brought to ``version`` first; results in the order of ``prompts``."""
        if not prompts:
            return []
        size = -(-len(prompts) // len(self.actors))
        shards = [list(map(list, prompts[i : i + size])) for i in range(0, len(prompts), size)]
        with self._lock:
            sent = [self._send(i, shard, version, ref, params) for i, shard in enumerate(shards)]
        return [g for i, shard in enumerate(shards) for g in self._collect(i, shard, sent[i], version, ref, params)]

    def _send(self, i: int, shard: list, version: int, ref, params: SamplingParams) -> tuple:
        """Shard ``i`` to actor ``i``, loading ``version`` first if the actor holds another (call with
        the lock held). Returns ``(actor, its load, the generate call)``."""
        if self.held[i] != version:
            self._load(i, version, ref)
        actor = self.actors[i]
        return actor, self._loads[i], actor.generate.remote(shard, replace(params, seed=shard_seed(params.seed, i)), version)

    def _collect(self, i: int, shard: list, sent: tuple, version: int, ref, params: SamplingParams) -> list[Generation]:
        """Shard ``i``'s generations; a dead actor is replaced and the shard sent again."""
        replacements = 0
        while True:
            actor, load, call = sent
            try:
                self.ray.get(load)  # a failed load raises here, with its own message
                return self.ray.get(call)
            except self.ray.exceptions.RayActorError as e:
                if replacements == self.retries:
                    raise GeneratorLost(f"generator actor {i} died, and so did the {replacements} replacement(s) it "
                                        f"was given (retries={self.retries}): {e}") from e
                replacements += 1
                with self._lock:
                    self._replace(i, actor)
                    sent = self._send(i, shard, version, ref, params)

    def _replace(self, i: int, dead) -> None:
        """A new actor ``i`` in place of ``dead``, unless another caller already replaced it (call with
        the lock held). It holds no weights until its first load."""
        if self.actors[i] is not dead:
            return
        with contextlib.suppress(Exception):  # dead already, or its node gone
            self.ray.kill(dead)
        self.actors[i] = self._new_actor(i)
        self.held[i], self._loads[i] = None, None
        self.replaced += 1

    def _load(self, i: int, version: int, ref) -> None:
        self._loads[i] = self.actors[i].load.remote(ref, version)
        self.held[i] = version

    def weights(self, actor: int = 0) -> dict[str, torch.Tensor]:
        """Actor ``actor``'s current state dict (after its queued loads)."""
        return self.ray.get(self.actors[actor].weights.remote())

    def held_versions(self) -> list[int | None]:
        """The versions the actors report holding (after their queued loads)."""
        return self.ray.get([a.held_version.remote() for a in self.actors])

    def close(self) -> None:
        for a in self.actors:
            self.ray.kill(a)
        self.actors = []


class PinnedGenerator:
    """``RayGenerators`` at one version: what the async pipeline samples a published version with."""

    def __init__(self, generators: RayGenerators, version: int, ref):
        self.generators, self.version, self._ref = generators, version, ref

    def generate(self, prompts: Sequence[Sequence[int]], params: SamplingParams) -> list[Generation]:
        return self.generators.generate_at(self.version, self._ref, prompts, params)


def generators_from_config(cfg, policy, tokenizer, version: int) -> RayGenerators:
    """The trainer's generators for ``ray_generators = N`` (joins ``cfg.ray_address`` or starts a
    local cluster). Actors get a GPU each when the policy trains on one, and the driver's torch
    thread count, so that on CPU they compute what the driver would, bit for bit."""
    from assay.trainer.ray_backend.cluster import connect

    connect(cfg.ray_address)
    on_gpu = next(policy.parameters()).device.type == "cuda"
    return RayGenerators(policy, tokenizer, cfg.ray_generators, version=version, batch_size=cfg.generation_batch_size,
                         seed=cfg.seed, num_gpus=1 if on_gpu else 0, torch_threads=None if on_gpu else torch.get_num_threads(),
                         retries=cfg.worker_retries, engine=cfg.generator, precision=cfg.precision)
