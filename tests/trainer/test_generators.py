"""The transformers generator: exact ids, honest log-probs, stop strings, and the tiny model/tokenizer."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from assay.protocols import Generator, SamplingParams
from assay.trainer.generators.hf import HFGenerator
from assay.trainer.tiny import save_tiny


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = save_tiny(tmp_path_factory.mktemp("tiny"), hidden_size=64, layers=2, heads=2)
    return AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)


def prompt_ids(tok, text: str) -> list[int]:
    return tok.apply_chat_template([{"role": "user", "content": text}], add_generation_prompt=True)["input_ids"]


def test_tiny_tokenizer_round_trip_is_not_the_identity(tiny):
    _, tok = tiny
    chars = [tok.convert_tokens_to_ids(c) for c in "Step"]
    assert tok.decode(chars) == "Step"
    assert tok.encode("Step", add_special_tokens=False) != chars  # merged: a re-tokenizing trainer would diverge


def test_generator_protocol_and_logprobs_match_a_forward_pass(tiny):
    """The sampler's log-prob of each token equals log_softmax(logits / T) of the model at that
    position (top_p = 1): the trainer and the sampler agree, so importance ratios start at 1."""
    model, tok = tiny
    gen = HFGenerator(model, tok)
    assert isinstance(gen, Generator)
    prompts = [prompt_ids(tok, "7 + 5?"), prompt_ids(tok, "1?")]
    params = SamplingParams(max_new_tokens=12, temperature=0.7, seed=3)
    outs = gen.generate(prompts, params)
    for p, out in zip(prompts, outs):
        assert len(out.token_ids) == len(out.logprobs) >= 1 and out.finish_reason in ("eos", "length")
        ids = torch.tensor([p + list(out.token_ids)])
        with torch.no_grad():
            logits = model(ids).logits[0, len(p) - 1 : -1].float() / 0.7
        ref = logits.log_softmax(-1).gather(-1, torch.tensor(out.token_ids)[:, None]).squeeze(-1)
        torch.testing.assert_close(torch.tensor(out.logprobs), ref, rtol=1e-4, atol=1e-4)
        assert all(lp <= 0 for lp in out.logprobs)


@pytest.mark.parametrize("params", [SamplingParams(max_new_tokens=10, temperature=0.9, top_p=0.8, seed=7),
                                    SamplingParams(max_new_tokens=10, temperature=1.3, top_k=5, seed=8),
                                    SamplingParams(max_new_tokens=10, temperature=0.0)])
def test_logprobs_recorded_step_by_step_equal_generates_own_scores(tiny, params):
    """With top-p / top-k / greedy the recorded log-probs are those of the warped distribution the
    token was drawn from: equal to what generate's output_scores gives when it warps itself (which
    keeps every step's [batch, vocab] scores; the generator holds one step's)."""
    model, tok = tiny
    prompts = [prompt_ids(tok, "7 + 5?"), prompt_ids(tok, "1?")]
    outs = HFGenerator(model, tok).generate(prompts, params)
    width = max(len(p) for p in prompts)
    ids = torch.tensor([[tok.pad_token_id] * (width - len(p)) + p for p in prompts])
    torch.manual_seed(params.seed or 0)
    greedy = params.temperature == 0
    with torch.no_grad():
        ref = model.generate(input_ids=ids, attention_mask=(ids != tok.pad_token_id).long(), do_sample=not greedy,
                             max_new_tokens=params.max_new_tokens, temperature=None if greedy else params.temperature,
                             top_p=None if greedy else params.top_p, top_k=None if greedy else params.top_k,
                             pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, output_scores=True,
                             return_dict_in_generate=True)
    for row, out in enumerate(outs):
        drawn = ref.sequences[row, width : width + len(out.token_ids)]
        assert drawn.tolist() == list(out.token_ids)  # the same draws: the same distribution was sampled
        expected = [ref.scores[t][row].float().log_softmax(-1)[tok_id] for t, tok_id in enumerate(out.token_ids)]
        assert out.logprobs == pytest.approx([float(e) for e in expected], abs=1e-6)
        assert all(lp > float("-inf") for lp in out.logprobs)


def test_seeded_sampling_is_reproducible_and_greedy_is_deterministic(tiny):
    model, tok = tiny
    gen = HFGenerator(model, tok)
    p = [prompt_ids(tok, "2 * 3?")]
    a = gen.generate(p, SamplingParams(max_new_tokens=8, seed=11))
    b = gen.generate(p, SamplingParams(max_new_tokens=8, seed=11))
    assert a == b
    g1 = gen.generate(p, SamplingParams(max_new_tokens=8, temperature=0))
    g2 = gen.generate(p * 3, SamplingParams(max_new_tokens=8, temperature=0))
    assert all(g.token_ids == g1[0].token_ids for g in g2)


def test_seeded_batches_past_the_first_draw_their_own_samples(tiny):
    """One seed for a call split into batches: batch k > 0 gets its own seed, so row i of each
    batch does not repeat row i of the first (the trainer seeds every rollout call)."""
    model, tok = tiny
    p = [prompt_ids(tok, "2 * 3?")] * 4
    params = SamplingParams(max_new_tokens=8, seed=11)
    out = HFGenerator(model, tok, batch_size=2).generate(p, params)
    assert [g.token_ids for g in out[:2]] != [g.token_ids for g in out[2:]]
    assert out[:2] == HFGenerator(model, tok, batch_size=2).generate(p[:2], params)  # the first batch keeps the seed


def test_stop_string_ends_generation(tiny):
    model, tok = tiny
    gen = HFGenerator(model, tok)
    outs = gen.generate([prompt_ids(tok, "go")] * 4, SamplingParams(max_new_tokens=40, stop=("e",), seed=0))
    for out in outs:
        if out.finish_reason == "stop":
            assert "e" in out.text and "e" not in tok.decode(list(out.token_ids[:-1]), skip_special_tokens=True)
    assert any(o.finish_reason == "stop" for o in outs)
