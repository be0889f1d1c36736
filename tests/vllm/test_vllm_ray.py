"""generator=vllm with ray_generators: each generator actor runs a vLLM engine, loaded with the
version the call asks for; and a GRPO run on such actors leaves them holding its final weights."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM

from assay.protocols import SamplingParams
from assay.trainer.config import GRPOConfig
from assay.trainer.policy import load_policy
from assay.trainer.tiny import save_tiny
from tests.trainer.ray_cluster import local_cluster  # skips (fails under ASSAY_REQUIRE_ALL) without ray


@pytest.fixture(scope="module", autouse=True)
def cluster():
    yield from local_cluster()


def forward_logprobs(model, prompt, tokens) -> torch.Tensor:
    with torch.no_grad():
        logits = model(torch.tensor([list(prompt) + list(tokens)])).logits[0, len(prompt) - 1 : -1].float()
    return logits.log_softmax(-1).gather(-1, torch.tensor(tokens)[:, None]).squeeze(-1)


def prompts_for(tok) -> list[list[int]]:
    return [tok.encode(text, add_special_tokens=False) for text in ("Q: 1+1=?", "Q: hi", "Q: say 7", "A")]


def test_vllm_actors_sample_the_version_asked_for(tmp_path):
    from assay.trainer.ray_backend.generators import RayGenerators

    first, tok = load_policy(str(save_tiny(tmp_path / "a", hidden_size=64, layers=1, heads=2)), tmp_path)
    second, _ = load_policy(str(save_tiny(tmp_path / "b", seed=5, hidden_size=64, layers=1, heads=2)), tmp_path)
    gens = RayGenerators(first, tok, 2, engine="vllm", num_cpus=0.5)
    try:
        params = SamplingParams(max_new_tokens=6, temperature=1.0, seed=9)
        prompts = prompts_for(tok)
        outs = gens.generate(prompts, params)
        assert gens.generate(prompts, params) == outs  # seeded shards: reproducible
        for p, out in zip(prompts, outs):  # placeholder weights were replaced by version 0's
            torch.testing.assert_close(torch.tensor(out.logprobs), forward_logprobs(first, p, out.token_ids),
                                       rtol=1e-4, atol=1e-4)
        pinned = gens.pinned(first, 0)
        gens.sync(second, 1)
        for p, out in zip(prompts, gens.generate(prompts, params)):
            torch.testing.assert_close(torch.tensor(out.logprobs), forward_logprobs(second, p, out.token_ids),
                                       rtol=1e-4, atol=1e-4)
        assert pinned.generate(prompts, params) == outs  # an older version is loaded back when asked for
    finally:
        gens.close()


def test_a_grpo_run_on_vllm_actors_leaves_them_its_final_weights(tmp_path):
    from assay.trainer.grpo import GRPOTrainer

    model = save_tiny(tmp_path / "tiny", hidden_size=64, layers=1, heads=2)
    cfg = GRPOConfig(model=str(model), run_dir=str(tmp_path / "run"), generator="vllm", backend="ray", ray_generators=2,
                     ray_workers=1, steps=2, prompts_per_step=4, group_size=4, max_new_tokens=6, overlong_buffer=5,
                     eval_every=2, eval_size=4, save_every=2, lr=1e-3, env_kwargs={"difficulty": 1})
    trainer = GRPOTrainer(cfg, progress=False)
    trainer.train()
    final = AutoModelForCausalLM.from_pretrained(tmp_path / "run" / "checkpoints" / "step_000002")
    prompt = prompts_for(trainer.tokenizer)[0]
    out = trainer.generator.generate([prompt], SamplingParams(max_new_tokens=6, temperature=1.0, seed=1))[0]
    torch.testing.assert_close(torch.tensor(out.logprobs), forward_logprobs(final, prompt, out.token_ids),
                               rtol=1e-4, atol=1e-4)
    trainer.generator.close()


def test_asynchronous_rollouts_on_vllm_actors(tmp_path):
    """max_staleness=1: batches are sampled on the actors while the driver trains, each with the
    version it was published at (the actors are loaded with it); the run goes through and logs
    every step once."""
    from assay.trainer.grpo import GRPOTrainer

    model = save_tiny(tmp_path / "tiny", hidden_size=64, layers=1, heads=2)
    cfg = GRPOConfig(model=str(model), run_dir=str(tmp_path / "run"), generator="vllm", backend="ray", ray_generators=2,
                     ray_workers=1, max_staleness=1, tis_cap=2.0, steps=3, prompts_per_step=4, group_size=4,
                     max_new_tokens=6, overlong_buffer=5, eval_every=3, eval_size=4, save_every=3, lr=1e-3,
                     env_kwargs={"difficulty": 1})
    trainer = GRPOTrainer(cfg, progress=False)
    rows = trainer.train()
    trainer.close()
    steps = [r for r in rows if "loss" in r]
    assert [r["step"] for r in steps] == [1, 2, 3] and all(r["rollout_tokens"] > 0 for r in steps)
    assert all(0 <= r["staleness"] <= 1 for r in steps) and any(r["staleness"] == 1 for r in steps)
