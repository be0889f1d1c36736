"""A Generator backed by any OpenAI-compatible ``/v1/completions`` server (vLLM, SGLang,
``assay serve``, ...).

Token-in/token-out: prompts are sent as token ids and ``return_tokens_as_token_ids`` asks for the
sampled ids back (a vLLM extension that ``assay serve`` implements). A server that only returns
token strings is refused rather than silently re-tokenized, since re-tokenized ids are not the
ids the model sampled.

For training (``GRPOConfig.generator_url``), ``load_weights`` asks the server to load a checkpoint
the trainer wrote (``POST /update_weights_from_disk``, SGLang's API, which ``assay serve``
implements), so the server samples with the current policy.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from assay.protocols import Generation, SamplingParams
from assay.trainer.seeds import chunk_seed


class OpenAIGenerator:
    def __init__(self, base_url: str, model: str, api_key: str = "EMPTY", timeout_s: float = 300.0,
                 max_prompts_per_request: int = 32, parallel_requests: int = 4):
        self.base_url = base_url.rstrip("/")
        self.model, self.api_key, self.timeout_s = model, api_key, timeout_s
        self.chunk, self.parallel = max_prompts_per_request, parallel_requests

    @staticmethod
    def served_model(base_url: str, api_key: str = "EMPTY", timeout_s: float = 30.0) -> str:
        """The first model id the server lists at ``/models``."""
        url = f"{base_url.rstrip('/')}/models"
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {api_key}"})
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                models = json.loads(response.read()).get("data") or []
        except (urllib.error.URLError, OSError, ValueError) as e:
            raise RuntimeError(f"no OpenAI-compatible server answers at {url}: {e}") from None
        if not models:
            raise RuntimeError(f"{url} lists no model")
        return models[0]["id"]

    def load_weights(self, model_path: str) -> None:
        """Have the server load the Hugging Face checkpoint in ``model_path`` (a path the server can
        read) in place of its weights; raises RuntimeError when it does not."""
        root = self.base_url.removesuffix("/v1")  # SGLang serves the endpoint at the root, not under /v1
        request = urllib.request.Request(f"{root}/update_weights_from_disk", data=json.dumps({"model_path": model_path}).encode(),
                                         headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.api_key}"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                answer = json.loads(response.read())
        except urllib.error.HTTPError as e:
            body = e.read()[:300]
            try:
                answer = json.loads(body)
            except ValueError:
                raise RuntimeError(f"{root}/update_weights_from_disk answered {e.code}: {body!r}") from None
        except (urllib.error.URLError, OSError) as e:
            raise RuntimeError(f"{root}/update_weights_from_disk: {e}") from None
        if not answer.get("success"):
            raise RuntimeError(f"the server at {root} did not load {model_path}: {answer.get('message', answer)}")

    def generate(self, prompts: Sequence[Sequence[int]], params: SamplingParams) -> list[Generation]:
        """Requests of ``max_prompts_per_request`` prompts. With a seed, request ``k > 0`` carries a seed
        mixed from ``(seed, k)``, as ``HFGenerator`` seeds its batches: the same seed in every request
        would give row ``i`` of each the same random draws (and a server running ``HFGenerator`` then
        samples what a local one with that batch size does)."""
        chunks = [list(prompts[i : i + self.chunk]) for i in range(0, len(prompts), self.chunk)]
        seeds = [chunk_seed(params.seed, k) for k in range(len(chunks))]
        with ThreadPoolExecutor(max_workers=max(1, min(self.parallel, len(chunks)))) as pool:
            results = list(pool.map(lambda c, seed: self._request(c, replace(params, seed=seed)), chunks, seeds))
        return [g for chunk in results for g in chunk]

    def _request(self, prompts: list[Sequence[int]], params: SamplingParams) -> list[Generation]:
        body = {"model": self.model, "prompt": [list(map(int, p)) for p in prompts], "max_tokens": params.max_new_tokens,
                "temperature": params.temperature, "top_p": params.top_p, "logprobs": 1,
                "return_tokens_as_token_ids": True}
        if params.stop:
            body["stop"] = list(params.stop)
        if params.seed is not None:
            body["seed"] = params.seed
        request = urllib.request.Request(f"{self.base_url}/completions", data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.api_key}"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                payload = json.loads(response.read())
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"{self.base_url}/completions answered {e.code}: {e.read()[:300]!r}") from None
        choices = sorted(payload["choices"], key=lambda c: c["index"])
        if len(choices) != len(prompts):
            raise RuntimeError(f"asked for {len(prompts)} completions, got {len(choices)}")
        return [self._generation(c) for c in choices]

    @staticmethod
    def _generation(choice: dict) -> Generation:
        logprobs = choice.get("logprobs") or {}
        tokens = logprobs.get("tokens") or []
        if tokens and not all(isinstance(t, str) and t.startswith("token_id:") for t in tokens):
            raise RuntimeError("the server returned token strings, not ids; it must support "
                               "return_tokens_as_token_ids (vLLM, assay serve) for exact token-in/token-out")
        ids = tuple(int(t.split(":", 1)[1]) for t in tokens)
        reason = choice.get("finish_reason") or "length"
        return Generation(ids, tuple(float(x) for x in logprobs.get("token_logprobs") or ()), choice.get("text", ""),
                          "length" if reason == "length" else "stop")
