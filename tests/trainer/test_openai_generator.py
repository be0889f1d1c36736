"""The OpenAI-compatible client against `assay serve` for real, over loopback: sampling, chunking,
errors, loading new weights into the server (SGLang's /update_weights_from_disk), and a GRPO run
that samples through the server equal to one that samples in process."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from assay.protocols import Generator, SamplingParams
from assay.trainer.generators.hf import HFGenerator
from assay.trainer.generators.openai import OpenAIGenerator
from assay.trainer.tiny import save_tiny


@contextlib.contextmanager
def serving(path: Path, *extra: str):
    """``assay serve PATH`` in a subprocess on a free loopback port; yields its /v1 URL."""
    proc = subprocess.Popen([sys.executable, "-m", "assay.cli.main", "serve", str(path), "--port", "0", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = proc.stdout.readline()  # "serving ... at http://127.0.0.1:PORT/v1"
        assert "serving" in line, line
        yield line.split(" at ")[1].split()[0]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A server whose weights no test changes."""
    path = save_tiny(tmp_path_factory.mktemp("m") / "tiny", hidden_size=32, layers=1, heads=2)
    with serving(path) as url:
        yield path, url


def test_client_gets_exactly_what_the_local_model_samples(served):
    path, url = served
    model, tok = AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)
    prompts = [tok.encode("Q: 1+1?\nA: ", add_special_tokens=False), tok.encode("Q: Step?\nA: ", add_special_tokens=False)]
    params = SamplingParams(max_new_tokens=10, temperature=0.8, seed=5)
    remote = OpenAIGenerator(url, "tiny").generate(prompts, params)
    local = HFGenerator(model, tok).generate(prompts, params)
    assert isinstance(OpenAIGenerator(url, "tiny"), Generator)
    for r, l in zip(remote, local):
        assert r.token_ids == l.token_ids and r.text == l.text
        assert r.logprobs == pytest.approx(l.logprobs, abs=1e-5)


def test_many_prompts_are_chunked_and_kept_in_order(served):
    path, url = served
    tok = AutoTokenizer.from_pretrained(path)
    prompts = [tok.encode(f"Q: {i}?\nA: ", add_special_tokens=False) for i in range(10)]
    gen = OpenAIGenerator(url, "tiny", max_prompts_per_request=3, parallel_requests=3)
    out = gen.generate(prompts, SamplingParams(max_new_tokens=4, temperature=0))
    single = [gen.generate([p], SamplingParams(max_new_tokens=4, temperature=0))[0] for p in prompts]
    assert [o.token_ids for o in out] == [s.token_ids for s in single]


def test_a_seeded_call_in_several_requests_samples_what_local_batches_do(served):
    """Requests of 2 prompts: request k > 0 carries a seed mixed from (seed, k), as HFGenerator's
    batch k does, so the server (one batch per request) samples what HFGenerator(batch_size=2)
    samples; one seed for every request would repeat request 0's draws in request 1."""
    path, url = served
    model, tok = AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)
    prompts = [tok.encode("Q: 1+1?\nA: ", add_special_tokens=False)] * 4
    params = SamplingParams(max_new_tokens=10, temperature=1.0, seed=5)
    remote = OpenAIGenerator(url, "tiny", max_prompts_per_request=2).generate(prompts, params)
    local = HFGenerator(model, tok, batch_size=2).generate(prompts, params)
    assert [r.token_ids for r in remote] == [g.token_ids for g in local]
    assert remote[2].token_ids != remote[0].token_ids


def test_bad_request_is_a_clear_error(served):
    _, url = served
    with pytest.raises(RuntimeError, match="400"):
        OpenAIGenerator(url, "tiny").generate([[]], SamplingParams(max_new_tokens=2))


def test_server_without_token_ids_is_refused():
    """A server that returns token strings would force re-tokenization: refuse it."""

    class StringTokens(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            body = json.dumps({"choices": [{"index": 0, "text": "hi", "finish_reason": "stop",
                                            "logprobs": {"tokens": ["h", "i"], "token_logprobs": [-1.0, -1.0]}}]}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), StringTokens)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        with pytest.raises(RuntimeError, match="token strings"):
            OpenAIGenerator(f"http://127.0.0.1:{httpd.server_address[1]}/v1", "x").generate([[1, 2]], SamplingParams(max_new_tokens=2))
    finally:
        httpd.shutdown()


def model_info(url: str) -> dict:
    with urllib.request.urlopen(url.removesuffix("/v1") + "/get_model_info", timeout=30) as response:
        return json.loads(response.read())


def test_the_server_loads_new_weights_and_refuses_ones_that_do_not_fit(tmp_path):
    first = save_tiny(tmp_path / "first", hidden_size=32, layers=1, heads=2, seed=0)
    second = save_tiny(tmp_path / "second", hidden_size=32, layers=1, heads=2, seed=1)
    bigger = save_tiny(tmp_path / "bigger", hidden_size=48, layers=1, heads=2)
    tok = AutoTokenizer.from_pretrained(second)
    prompts = [tok.encode("Q: 1+1?\nA: ", add_special_tokens=False)]
    params = SamplingParams(max_new_tokens=8, temperature=0.0)
    with serving(first) as url:
        client = OpenAIGenerator(url, "tiny")
        assert model_info(url)["weights_version"] == 0
        client.load_weights(str(second))
        assert model_info(url) == {"model_path": str(second), "served_model_name": "first", "weights_version": 1}
        remote = client.generate(prompts, params)[0]
        local = HFGenerator(AutoModelForCausalLM.from_pretrained(second), tok).generate(prompts, params)[0]
        assert remote.token_ids == local.token_ids and remote.logprobs == pytest.approx(local.logprobs, abs=1e-5)
        with pytest.raises(RuntimeError, match="do not fit the served model"):
            client.load_weights(str(bigger))
        with pytest.raises(RuntimeError, match="cannot load weights from"):
            client.load_weights(str(tmp_path / "missing"))
        assert model_info(url)["weights_version"] == 1  # a refused load changes nothing


def test_grpo_sampling_through_a_server_equals_sampling_in_process(tmp_path):
    """Three steps with generator_url (the policy written and loaded into `assay serve` before the
    first rollout and after every update) against the same run sampling in process: the same
    rewards and the same final weights. Without the loads after updates the server would sample
    with the starting weights from step 2 on."""
    from safetensors.torch import load_file

    from assay.trainer.config import GRPOConfig
    from assay.trainer.grpo import GRPOTrainer

    policy = save_tiny(tmp_path / "policy", hidden_size=32, layers=1, heads=2)
    base = dict(model=str(policy), steps=3, prompts_per_step=2, group_size=4, max_new_tokens=6, eval_size=4,
                eval_every=10, save_every=10, env_kwargs={"difficulty": 1}, seed=3, lr=5e-3)
    local = GRPOTrainer(GRPOConfig(run_dir=str(tmp_path / "local"), **base), progress=False).train()
    with serving(save_tiny(tmp_path / "other", hidden_size=32, layers=1, heads=2, seed=9)) as url:  # other weights at first
        remote = GRPOTrainer(GRPOConfig(run_dir=str(tmp_path / "remote"), generator_url=url, **base), progress=False).train()
        assert model_info(url)["weights_version"] == 4  # before step 1, then after each of 3 updates
    assert [r.get("reward") for r in remote] == [r.get("reward") for r in local]
    assert [r.get("eval_accuracy") for r in remote] == [r.get("eval_accuracy") for r in local]
    a = load_file(tmp_path / "local" / "checkpoints" / "step_000003" / "model.safetensors")
    b = load_file(tmp_path / "remote" / "checkpoints" / "step_000003" / "model.safetensors")
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=f"{k} differs")


def test_with_an_admin_key_only_its_bearer_may_update_weights(tmp_path):
    first = save_tiny(tmp_path / "first", hidden_size=32, layers=1, heads=2, seed=0)
    second = save_tiny(tmp_path / "second", hidden_size=32, layers=1, heads=2, seed=1)
    with serving(first, "--admin-key", "s3cret") as url:
        with pytest.raises(RuntimeError, match="needs the server's admin key"):
            OpenAIGenerator(url, "tiny").load_weights(str(second))
        with pytest.raises(RuntimeError, match="needs the server's admin key"):
            OpenAIGenerator(url, "tiny", api_key="wrong").load_weights(str(second))
        assert model_info(url)["weights_version"] == 0
        OpenAIGenerator(url, "tiny", api_key="s3cret").load_weights(str(second))
        assert model_info(url)["weights_version"] == 1


@pytest.mark.parametrize("ip, auth, key, allowed", [
    ("127.0.0.1", None, None, True),
    ("::1", None, None, True),
    ("::ffff:127.0.0.1", None, None, True),
    ("10.0.0.7", None, None, False),  # a network client, and no key to prove itself with
    ("10.0.0.7", "Bearer k", "k", True),
    ("127.0.0.1", "Bearer other", "k", False),  # with a key, loopback is not enough
    ("127.0.0.1", None, "k", False),
])
def test_who_may_update_weights(ip, auth, key, allowed):
    from assay.trainer.serve import may_update_weights

    assert may_update_weights(ip, auth, key) is allowed


def test_the_official_openai_client_chats_with_assay_serve(served):
    """/v1/chat/completions through OpenAI's own Python client: the messages go through the chat
    template (as every assay prompt does), and a seeded request returns what the local model samples
    from those ids."""
    import openai

    from assay.chat import chat_ids

    path, url = served
    model, tok = AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)
    client = openai.OpenAI(base_url=url, api_key="EMPTY", max_retries=0, timeout=60)
    messages = [{"role": "user", "content": "Q: 1+1?"}]
    reply = client.chat.completions.create(model="tiny", messages=messages, max_tokens=8, temperature=0.8, seed=5,
                                           n=2, logprobs=True)
    local = HFGenerator(model, tok).generate([chat_ids(tok, messages)] * 2, SamplingParams(max_new_tokens=8, temperature=0.8, seed=5))
    assert [c.message.content for c in reply.choices] == [g.text for g in local]
    assert [c.message.role for c in reply.choices] == ["assistant", "assistant"]
    assert [lp.logprob for lp in reply.choices[0].logprobs.content] == pytest.approx(list(local[0].logprobs), abs=1e-5)
    assert reply.usage.prompt_tokens == len(chat_ids(tok, messages))
    parts = client.chat.completions.create(model="tiny", max_tokens=8, temperature=0.8, seed=5,
                                           messages=[{"role": "user", "content": [{"type": "text", "text": "Q: 1+1?"}]}])
    alone = HFGenerator(model, tok).generate([chat_ids(tok, messages)], SamplingParams(max_new_tokens=8, temperature=0.8, seed=5))
    assert parts.choices[0].message.content == alone[0].text  # content parts read as their text
    with pytest.raises(openai.BadRequestError, match="messages must be a non-empty list"):
        client.chat.completions.create(model="tiny", messages=[])


class Flaky(BaseHTTPRequestHandler):
    """Answers the first ``fail`` requests with ``status``, then one token-id completion per prompt;
    counts what it saw."""

    fail, status, seen = 0, 503, 0

    def log_message(self, *a):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        cls = type(self)
        cls.seen += 1
        if cls.seen <= cls.fail:
            self._reply(cls.status, {"error": {"message": "not now"}})
            return
        self._reply(200, {"choices": [{"index": i, "text": "x", "finish_reason": "stop", "logprobs":
                                       {"tokens": ["token_id:7"], "token_logprobs": [-0.5]}}
                                      for i in range(len(body["prompt"]))]})

    def _reply(self, status: int, payload: dict):
        raw = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


@contextlib.contextmanager
def flaky(fail: int, status: int = 503):
    handler = type("Handler", (Flaky,), {"fail": fail, "status": status, "seen": 0})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", handler
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_transient_failures_are_retried_and_other_refusals_are_not():
    from assay.errors import AssayError
    from assay.trainer.generators.openai import ServerError, ServerUnavailable

    params = SamplingParams(max_new_tokens=2, seed=1)
    with flaky(fail=2) as (url, handler):  # a server busy for two requests, then answering
        out = OpenAIGenerator(url, "x", retries=2, backoff_s=0.01).generate([[1, 2]], params)
        assert [g.token_ids for g in out] == [(7,)] and handler.seen == 3
    with flaky(fail=10) as (url, handler):
        with pytest.raises(ServerUnavailable, match=r"after 2 tries .*HTTP 503.*is the server running\?") as e:
            OpenAIGenerator(url, "x", retries=1, backoff_s=0.01).generate([[1, 2]], params)
        assert isinstance(e.value, AssayError) and handler.seen == 2
    with flaky(fail=10, status=400) as (url, handler):  # the request itself is wrong: asking again cannot help
        with pytest.raises(ServerError, match="answered 400") as e:
            OpenAIGenerator(url, "x", retries=3, backoff_s=0.01).generate([[1, 2]], params)
        assert not isinstance(e.value, ServerUnavailable) and handler.seen == 1


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_training_against_no_server_is_one_clear_line(tmp_path, capsys):
    from assay.cli.main import main

    code = main(["train", "--no-progress", "model=tiny", f"run_dir={tmp_path / 'run'}", "steps=1", "generator_retries=1",
                 f"generator_url=http://127.0.0.1:{free_port()}/v1"])
    err = capsys.readouterr().err
    assert code == 2, err
    last = err.strip().splitlines()[-1]  # above it: transformers' progress bars building the tiny model
    assert last.startswith("assay: error: no answer from http://127.0.0.1:") and "after 2 tries" in last, err
    assert "Traceback" not in err


def test_a_run_whose_server_dies_stops_saved_and_resumes_to_the_uninterrupted_weights(tmp_path):
    """The server goes away after step 2's weights were loaded into it. The run stops while sampling
    step 3 (no evaluation comes between) and saves step 2 (save_every is 10: only the stop writes it), and its error names that
    checkpoint. A server started again on the same port (with other weights: the resumed run loads
    its own) lets --resume finish: the same rewards, evaluations and final weights as a run that
    sampled in process throughout, each step logged once."""
    from safetensors.torch import load_file

    from assay.trainer.config import GRPOConfig
    from assay.trainer.generators.openai import ServerUnavailable
    from assay.trainer.grpo import GRPOTrainer
    from assay.trainer.serve import CompletionServer

    policy = save_tiny(tmp_path / "policy", hidden_size=32, layers=1, heads=2)
    other = save_tiny(tmp_path / "other", hidden_size=32, layers=1, heads=2, seed=9)
    base = dict(model=str(policy), steps=4, prompts_per_step=2, group_size=4, max_new_tokens=6, eval_size=4,
                eval_every=4, save_every=10, env_kwargs={"difficulty": 1}, seed=3, lr=5e-3)
    local = GRPOTrainer(GRPOConfig(run_dir=str(tmp_path / "local"), **base), progress=False).train()

    def start(port: int) -> CompletionServer:
        server = CompletionServer(HFGenerator(AutoModelForCausalLM.from_pretrained(other), AutoTokenizer.from_pretrained(other)),
                                  "tiny", port=port)
        server.start_background()
        return server

    first = start(0)
    port = first.httpd.server_address[1]
    loads = first.update_weights

    def load_then_die_after_step_2(model_path):  # loads: before step 1, then after each update
        answer = loads(model_path)
        if first.weights_version == 3:
            first.shutdown()  # the listening socket closes; this answer still goes out
        return answer

    first.update_weights = load_then_die_after_step_2
    run_dir = tmp_path / "remote"
    config = GRPOConfig(run_dir=str(run_dir), generator_url=f"http://127.0.0.1:{port}/v1", generator_retries=1, **base)
    with pytest.raises(ServerUnavailable) as e:
        GRPOTrainer(config, progress=False).train()
    assert "stopped the run at step 2" in str(e.value) and "step_000002" in str(e.value) and "--resume" in str(e.value)
    assert (run_dir / "checkpoints" / "latest").read_text().strip() == "step_000002"

    second = start(port)
    try:
        GRPOTrainer(config, resume=True, progress=False).train()
    finally:
        second.shutdown()
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "reward" in r] == [1, 2, 3, 4]
    assert [r.get("reward") for r in rows if "reward" in r] == [r.get("reward") for r in local if "reward" in r]
    assert [r["eval_accuracy"] for r in rows if "eval_accuracy" in r] == \
        [r["eval_accuracy"] for r in local if "eval_accuracy" in r]
    a = load_file(tmp_path / "local" / "checkpoints" / "step_000004" / "model.safetensors")
    b = load_file(run_dir / "checkpoints" / "step_000004" / "model.safetensors")
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=f"{k} differs")


def test_serving_on_a_taken_port_is_one_clear_line(capsys):
    import socket

    from assay.cli.main import main

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "tiny", "--port", str(port)]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == \
        f"assay: error: cannot listen on 127.0.0.1:{port}: Address already in use; pick another --port (0 picks a free one) or --host"
    assert main(["serve", "tiny", "--port", "70000"]) == 2
    assert "--port must be in 0..65535" in capsys.readouterr().err
