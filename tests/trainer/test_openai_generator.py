"""The OpenAI-compatible client against `assay serve` for real, over loopback."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from transformers import AutoModelForCausalLM, AutoTokenizer

from assay.protocols import Generator, SamplingParams
from assay.trainer.generators.hf import HFGenerator
from assay.trainer.generators.openai import OpenAIGenerator
from assay.trainer.tiny import save_tiny


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    path = save_tiny(tmp_path_factory.mktemp("m") / "tiny", hidden_size=32, layers=1, heads=2)
    proc = subprocess.Popen([sys.executable, "-m", "assay.cli.main", "serve", str(path), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = proc.stdout.readline()  # "serving ... at http://127.0.0.1:PORT/v1"
        assert "serving" in line, line
        url = line.split(" at ")[1].split()[0]
        yield path, url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


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
