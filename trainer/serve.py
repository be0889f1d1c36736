"""``assay serve MODEL``: a local model behind an OpenAI-compatible ``/v1/completions`` API (and
``/v1/chat/completions``, which applies the model's chat template, for any OpenAI client).

Enough of the API for RL rollouts, with vLLM's extensions: ``prompt`` may be token ids (a list of
ints, or a list of such lists), and ``return_tokens_as_token_ids`` makes ``logprobs.tokens`` read
``"token_id:<id>"`` so the client gets the exact ids sampled. Served from this process with
:class:`~assay.trainer.generators.hf.HFGenerator`; requests are handled one at a time (the model
is not thread-safe), each batched over its prompts and ``n``.

``POST /update_weights_from_disk`` with ``{"model_path": DIR}`` loads new weights into the served
model, SGLang's API for RL trainers that sample through a server (``GRPOConfig.generator_url``):
the trainer writes its policy to ``DIR`` after each update and asks for it to be loaded. Requests
queued meanwhile wait, then sample with the new weights. ``GET /get_model_info`` says which weights
are served. Swapping the weights is an admin action: with an ``admin_key`` it needs
``Authorization: Bearer <admin_key>``; without one, only loopback clients may do it.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import threading
import time
import uuid
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from assay.protocols import SamplingParams
from assay.trainer.generators.hf import HFGenerator


class CompletionServer:
    def __init__(self, generator: HFGenerator, model_name: str, host: str = "127.0.0.1", port: int = 8000,
                 model_path: str = "", admin_key: str | None = None):
        self.generator, self.model_name, self.admin_key = generator, model_name, admin_key
        self.model_path, self.weights_version = model_path, 0  # what is served: updated by update_weights
        self.lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"server_state": self})
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def serve_forever(self) -> None:
        self.httpd.serve_forever(poll_interval=0.2)

    def start_background(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name="assay-serve", daemon=True)
        thread.start()
        return thread

    def shutdown(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def update_weights(self, model_path: str) -> dict:
        """Load the weights in ``model_path`` (a Hugging Face directory of the same architecture) into
        the served model in place, between requests. Raises ValueError when they do not fit."""
        from transformers import AutoModelForCausalLM

        model = self.generator.model
        try:
            new = AutoModelForCausalLM.from_pretrained(model_path, dtype=next(model.parameters()).dtype)
        except (OSError, ValueError) as e:
            raise ValueError(f"cannot load weights from {model_path!r}: {e}") from None
        state = new.state_dict()
        ours = model.state_dict()
        if state.keys() != ours.keys() or any(state[k].shape != ours[k].shape for k in ours):
            raise ValueError(f"the weights in {model_path} do not fit the served model (other architecture or size)")
        with self.lock:
            model.load_state_dict(state)  # copies into the existing tensors: their memory layout stays
            self.model_path, self.weights_version = model_path, self.weights_version + 1
        return {"success": True, "message": f"loaded the weights of {model_path}", "num_paused_requests": 0}

    def model_info(self) -> dict:
        return {"model_path": self.model_path, "served_model_name": self.model_name, "weights_version": self.weights_version}

    def _sample(self, prompts: list[list[int]], body: dict, default_max_tokens: int) -> list:
        """``n`` generations per prompt with the request's sampling parameters, between weight swaps."""
        n = int(body.get("n", 1))
        if not 1 <= n <= 64:
            raise ValueError("n must be in [1, 64]")
        stop = body.get("stop") or ()
        params = SamplingParams(
            max_new_tokens=int(next((body[k] for k in ("max_completion_tokens", "max_tokens") if body.get(k) is not None),
                                    default_max_tokens)),
            temperature=float(body.get("temperature", 1.0)),
            top_p=float(body.get("top_p", 1.0)),
            stop=tuple([stop] if isinstance(stop, str) else stop),
            seed=body.get("seed"),
        )
        with self.lock:
            return self.generator.generate([p for p in prompts for _ in range(n)], params)

    def chat(self, body: dict) -> dict:
        """``/v1/chat/completions``: the messages through the model's chat template (as every assay
        prompt is built, ``assay.chat.chat_ids``), one assistant message per choice."""
        from assay.chat import chat_ids

        prompt = chat_ids(self.generator.tokenizer, _messages(body.get("messages")))
        gens = self._sample([prompt], body, default_max_tokens=256)
        tok = self.generator.tokenizer
        choices = []
        for i, g in enumerate(gens):
            choice = {"index": i, "message": {"role": "assistant", "content": g.text},
                      "finish_reason": "length" if g.finish_reason == "length" else "stop", "logprobs": None}
            if body.get("logprobs"):
                choice["logprobs"] = {"content": [{"token": tok.decode([t]), "logprob": lp, "bytes": list(tok.decode([t]).encode()),
                                                   "top_logprobs": []} for t, lp in zip(g.token_ids, g.logprobs)]}
            choices.append(choice)
        usage = {"prompt_tokens": len(prompt), "completion_tokens": sum(len(g.token_ids) for g in gens)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        return {"id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion", "created": int(time.time()),
                "model": self.model_name, "choices": choices, "usage": usage}

    def complete(self, body: dict) -> dict:
        prompts = _prompts(body.get("prompt"), self.generator.tokenizer)
        n = int(body.get("n", 1))
        gens = self._sample(prompts, body, default_max_tokens=16)
        as_ids = bool(body.get("return_tokens_as_token_ids"))
        tok = self.generator.tokenizer
        choices = []
        for i, g in enumerate(gens):
            choice = {"index": i, "text": g.text, "finish_reason": "length" if g.finish_reason == "length" else "stop"}
            if body.get("logprobs") is not None:
                tokens = [f"token_id:{t}" if as_ids else tok.convert_ids_to_tokens(t) for t in g.token_ids]
                choice["logprobs"] = {"tokens": tokens, "token_logprobs": list(g.logprobs)}
            choices.append(choice)
        usage = {"prompt_tokens": sum(len(p) for p in prompts) * n, "completion_tokens": sum(len(g.token_ids) for g in gens)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        return {"id": f"cmpl-{uuid.uuid4().hex[:12]}", "object": "text_completion", "created": int(time.time()),
                "model": self.model_name, "choices": choices, "usage": usage}


def may_update_weights(client_ip: str, authorization: str | None, admin_key: str | None) -> bool:
    """Whether a client may swap the served weights: the admin key as a bearer token when the server
    has one, else any loopback client (a server bound to a public address must not let anyone on the
    network load a checkpoint of their choosing)."""
    if admin_key:
        return hmac.compare_digest((authorization or "").encode(), f"Bearer {admin_key}".encode())
    return ipaddress.ip_address(client_ip.removeprefix("::ffff:")).is_loopback


def _messages(messages) -> list[dict]:
    """Chat messages as the chat template reads them: role and text content (a list of content
    parts is joined from its text parts, as OpenAI's API allows)."""
    if not isinstance(messages, list) or not messages:
        raise ValueError("messages must be a non-empty list of {role, content}")
    out = []
    for m in messages:
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise ValueError("each message needs a role and a content")
        content = m.get("content")
        if isinstance(content, list):
            content = "".join(part.get("text", "") for part in content if isinstance(part, dict) and part.get("type") == "text")
        if not isinstance(content, str):
            raise ValueError(f"message content must be text, got {type(content).__name__}")
        out.append({"role": m["role"], "content": content})
    return out


def _prompts(prompt, tokenizer) -> list[list[int]]:
    if isinstance(prompt, str):
        return [tokenizer.encode(prompt, add_special_tokens=False)]
    if isinstance(prompt, list) and prompt and all(isinstance(x, int) for x in prompt):
        return [prompt]
    if isinstance(prompt, list) and prompt and all(isinstance(x, (str, list)) for x in prompt):
        return [p for item in prompt for p in _prompts(item, tokenizer)]
    raise ValueError("prompt must be a string, a list of token ids, or a list of those")


class _Handler(BaseHTTPRequestHandler):
    server_state: CompletionServer

    def log_message(self, format, *args):  # quiet: one line per request would drown training logs
        pass

    def _send(self, status: HTTPStatus, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        path = self.path.rstrip("/")
        if path == "/v1/models":
            self._send(HTTPStatus.OK, {"object": "list", "data": [{"id": self.server_state.model_name, "object": "model"}]})
        elif path == "/get_model_info":
            self._send(HTTPStatus.OK, self.server_state.model_info())
        else:
            self._send(HTTPStatus.NOT_FOUND, {"error": {"message": f"no route {self.path}"}})

    def do_POST(self):
        path = self.path.rstrip("/")
        if path not in ("/v1/completions", "/v1/chat/completions", "/update_weights_from_disk"):
            self._send(HTTPStatus.NOT_FOUND, {"error": {"message": f"no route {self.path}; use /v1/completions, "
                                                                   "/v1/chat/completions or /update_weights_from_disk"}})
            return
        try:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
        except (ValueError, TypeError) as e:
            self._send(HTTPStatus.BAD_REQUEST, {"error": {"message": f"the body is not JSON: {e}", "type": "invalid_request_error"}})
            return
        if path == "/update_weights_from_disk":  # SGLang's shape: success and message, 400 on failure
            state = self.server_state
            if not may_update_weights(self.client_address[0], self.headers.get("Authorization"), state.admin_key):
                self._send(HTTPStatus.FORBIDDEN, {"success": False, "num_paused_requests": 0, "message":
                           "updating weights needs the server's admin key" if state.admin_key else
                           "updating weights is allowed from loopback only (start the server with --admin-key)"})
                return
            try:
                if not isinstance(body.get("model_path"), str):
                    raise ValueError("model_path (a directory) is required")
                self._send(HTTPStatus.OK, self.server_state.update_weights(body["model_path"]))
            except ValueError as e:
                self._send(HTTPStatus.BAD_REQUEST, {"success": False, "message": str(e), "num_paused_requests": 0})
            return
        try:
            state = self.server_state
            self._send(HTTPStatus.OK, state.chat(body) if path == "/v1/chat/completions" else state.complete(body))
        except (ValueError, TypeError, KeyError) as e:
            self._send(HTTPStatus.BAD_REQUEST, {"error": {"message": str(e), "type": "invalid_request_error"}})
