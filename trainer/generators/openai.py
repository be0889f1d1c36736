"""A Generator backed by any OpenAI-compatible ``/v1/completions`` server (vLLM, SGLang,
``assay serve``, ...).

Token-in/token-out: prompts are sent as token ids and ``return_tokens_as_token_ids`` asks for the
sampled ids back (a vLLM extension that ``assay serve`` implements). A server that only returns
token strings is refused rather than silently re-tokenized, since re-tokenized ids are not the
ids the model sampled.

For training (``GRPOConfig.generator_url``), ``load_weights`` asks the server to load a checkpoint
the trainer wrote (``POST /update_weights_from_disk``, SGLang's API, which ``assay serve``
implements), so the server samples with the current policy.

Failures. What a restarting or overloaded server does (connection refused or reset, a timeout,
HTTP 429 / 500 / 502 / 503 / 504) is retried with exponential backoff, ``retries`` times (by default
5 retries over ~15 s); then :class:`ServerUnavailable`. Any other refusal is a :class:`ServerError`
at once. Both are ``AssayError``s: the CLI prints one line, and the trainer says which checkpoint
to ``--resume`` from. A retried generation is the same request again (same seed), so it samples
what the first try would have.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from assay.errors import AssayError
from assay.protocols import Generation, SamplingParams
from assay.trainer.seeds import chunk_seed

TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})


class ServerError(AssayError, RuntimeError):
    """The server refused a request, or answered something that is not the API."""


class ServerUnavailable(ServerError):
    """No usable answer after every retry: the server is down, restarting or overloaded."""


class _Refused(Exception):
    """A non-transient HTTP error; the caller words it (its body may be the API's own answer)."""

    def __init__(self, status: int, body: bytes):
        super().__init__(status)
        self.status, self.body = status, body


def exchange(url: str, body: dict | None = None, *, api_key: str = "EMPTY", timeout_s: float = 300.0,
             retries: int = 5, backoff_s: float = 0.5) -> dict:
    """GET (``body`` None) or POST JSON to ``url`` and return the JSON answer, retrying transient
    failures with waits of ``backoff_s * 2**k``. Raises :class:`ServerUnavailable` when every try
    failed, ``_Refused`` on another HTTP error, :class:`ServerError` on an answer that is not JSON."""
    headers = {"Authorization": f"Bearer {api_key}"}
    data = None
    if body is not None:
        data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
    last = ""
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(backoff_s * 2 ** (attempt - 1))
        try:
            with urllib.request.urlopen(urllib.request.Request(url, data=data, headers=headers), timeout=timeout_s) as response:
                raw = response.read()
        except urllib.error.HTTPError as e:
            detail = e.read()[:300]
            if e.code not in TRANSIENT_STATUS:
                raise _Refused(e.code, detail) from None
            last = f"HTTP {e.code} {detail!r}"
            continue
        except (urllib.error.URLError, OSError, http.client.HTTPException) as e:  # refused, reset, timed out
            last = str(getattr(e, "reason", None) or e) or type(e).__name__
            continue
        try:
            return json.loads(raw)
        except ValueError:
            raise ServerError(f"{url} answered with something other than JSON: {raw[:200]!r}") from None
    waited = sum(backoff_s * 2**k for k in range(retries))
    raise ServerUnavailable(f"no answer from {url} after {retries + 1} tries over {waited:.1f} s (last: {last}); "
                            "is the server running?")


class OpenAIGenerator:
    def __init__(self, base_url: str, model: str, api_key: str = "EMPTY", timeout_s: float = 300.0,
                 max_prompts_per_request: int = 32, parallel_requests: int = 4, retries: int = 5, backoff_s: float = 0.5):
        self.base_url = base_url.rstrip("/")
        self.model, self.api_key, self.timeout_s = model, api_key, timeout_s
        self.chunk, self.parallel = max_prompts_per_request, parallel_requests
        self.retries, self.backoff_s = retries, backoff_s

    @staticmethod
    def served_model(base_url: str, api_key: str = "EMPTY", timeout_s: float = 30.0, retries: int = 5,
                     backoff_s: float = 0.5) -> str:
        """The first model id the server lists at ``/models`` (waiting, as every call does, for a
        server that is still starting)."""
        url = f"{base_url.rstrip('/')}/models"
        try:
            answer = exchange(url, api_key=api_key, timeout_s=timeout_s, retries=retries, backoff_s=backoff_s)
        except _Refused as e:
            raise ServerError(f"{url} answered {e.status}: {e.body!r}; is {base_url} an OpenAI-compatible API "
                              "(its /v1 root)?") from None
        models = answer.get("data") if isinstance(answer, dict) else None
        if not models or not isinstance(models, list) or not isinstance(models[0], dict) or "id" not in models[0]:
            raise ServerError(f"{url} lists no model: {str(answer)[:200]}")
        return models[0]["id"]

    def load_weights(self, model_path: str) -> None:
        """Have the server load the Hugging Face checkpoint in ``model_path`` (a path the server can
        read) in place of its weights; raises ServerError when it does not."""
        root = self.base_url.removesuffix("/v1")  # SGLang serves the endpoint at the root, not under /v1
        try:
            answer = self._exchange(f"{root}/update_weights_from_disk", {"model_path": model_path})
        except _Refused as e:
            try:
                answer = json.loads(e.body)  # the API's own {"success": false, "message": ...}
            except ValueError:
                raise ServerError(f"{root}/update_weights_from_disk answered {e.status}: {e.body!r}") from None
        if not isinstance(answer, dict) or not answer.get("success"):
            why = answer.get("message", answer) if isinstance(answer, dict) else answer
            raise ServerError(f"the server at {root} did not load {model_path}: {why}")

    def _exchange(self, url: str, body: dict | None = None) -> dict:
        return exchange(url, body, api_key=self.api_key, timeout_s=self.timeout_s, retries=self.retries,
                        backoff_s=self.backoff_s)

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
        try:
            payload = self._exchange(f"{self.base_url}/completions", body)
        except _Refused as e:
            raise ServerError(f"{self.base_url}/completions answered {e.status}: {e.body!r}") from None
        if not isinstance(payload, dict) or not isinstance(payload.get("choices"), list):
            raise ServerError(f"{self.base_url}/completions answered without choices: {str(payload)[:200]}")
        choices = sorted(payload["choices"], key=lambda c: c["index"])
        if len(choices) != len(prompts):
            raise ServerError(f"asked for {len(prompts)} completions, got {len(choices)}")
        return [self._generation(c) for c in choices]

    @staticmethod
    def _generation(choice: dict) -> Generation:
        logprobs = choice.get("logprobs") or {}
        tokens = logprobs.get("tokens") or []
        if tokens and not all(isinstance(t, str) and t.startswith("token_id:") for t in tokens):
            raise ServerError("the server returned token strings, not ids; it must support "
                              "return_tokens_as_token_ids (vLLM, assay serve) for exact token-in/token-out")
        ids = tuple(int(t.split(":", 1)[1]) for t in tokens)
        reason = choice.get("finish_reason") or "length"
        return Generation(ids, tuple(float(x) for x in logprobs.get("token_logprobs") or ()), choice.get("text", ""),
                          "length" if reason == "length" else "stop")
