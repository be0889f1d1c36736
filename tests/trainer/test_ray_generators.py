"""Generators on Ray actors (assay.trainer.ray_backend.generators), on a local 2-CPU cluster started
here: one actor samples exactly what the local HFGenerator samples, a sync gives every actor the
driver's weights and version (and a pinned older version is still served as asked), two actors
return their shards in order with distinct seeds, and training with a generator actor equals
training on the driver, bit for bit; the async pipeline and partial rollouts run on actors too."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from assay.protocols import SamplingParams
from assay.trainer.config import GRPOConfig
from assay.trainer.generators.hf import HFGenerator
from assay.trainer.policy import load_policy
from assay.trainer.tiny import save_tiny
from tests.trainer.ray_cluster import local_cluster, ray  # skips the module without ray
from tests.trainer import long_env, ray_envs

@pytest.fixture(scope="module", autouse=True)
def cluster():
    yield from local_cluster(ray_envs.register, long_env.register)


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return save_tiny(tmp_path_factory.mktemp("m") / "tiny", hidden_size=32, layers=1, heads=2)


@pytest.fixture()
def policy(model, tmp_path):
    return load_policy(str(model), tmp_path)


def prompts_for(tok) -> list[list[int]]:
    # different lengths (left padding inside a batch) and more prompts than one HF batch of 2
    return [tok.encode(text, add_special_tokens=False) for text in ("Q: 1+1=?", "Q: hi", "Q: say 7", "A", "Q: 12 + 30 =")]


def ray_generators(policy, tok, n, **kw):
    from assay.trainer.ray_backend.generators import RayGenerators

    return RayGenerators(policy, tok, n, batch_size=2, torch_threads=torch.get_num_threads(), **kw)


def test_one_actor_samples_exactly_what_the_local_generator_samples(policy):
    model, tok = policy
    prompts, params = prompts_for(tok), SamplingParams(max_new_tokens=8, seed=123)
    local = HFGenerator(model, tok, batch_size=2).generate(prompts, params)
    gens = ray_generators(model, tok, 1)
    try:
        remote = gens.generate(prompts, params)
    finally:
        gens.close()
    assert remote == local  # token ids, log-probs (float equality), text, finish reason
    other = HFGenerator(model, tok, batch_size=2).generate(prompts, SamplingParams(max_new_tokens=8, seed=124))
    assert [g.token_ids for g in other] != [g.token_ids for g in local]  # the seed decides: equality is not trivial


def update_once(model, tok) -> None:
    """One AdamW step on a language-model loss: every weight moves."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    ids = torch.tensor([tok.encode("Q: 1+1=? A: 2", add_special_tokens=False)])
    model(input_ids=ids, labels=ids).loss.backward()
    opt.step()


def test_sync_gives_every_actor_the_drivers_weights_and_version(policy):
    from assay.trainer.ray_backend.generators import PinnedGenerator, StaleWeights, cpu_state

    model, tok = policy
    before = copy.deepcopy(model)
    gens = ray_generators(model, tok, 2)
    try:
        assert gens.held_versions() == [0, 0]
        update_once(model, tok)
        gens.sync(model, 1)
        assert gens.held == [1, 1] and gens.held_versions() == [1, 1]
        driver = model.state_dict()
        for actor in range(2):
            got = gens.weights(actor)
            assert got.keys() == driver.keys()
            for k, v in driver.items():
                torch.testing.assert_close(got[k], v, rtol=0, atol=0, msg=f"actor {actor}: {k} differs")
        assert any(not torch.equal(v, before.state_dict()[k]) for k, v in driver.items())  # the update moved weights
        # generation now follows the new weights ...
        prompts, params = prompts_for(tok)[:2], SamplingParams(max_new_tokens=6, seed=7)
        assert gens.generate(prompts[:1], params) == HFGenerator(model, tok, 2).generate(prompts[:1], params)
        # ... an actor asked for a version it does not hold refuses instead of sampling stale weights ...
        with pytest.raises(StaleWeights):
            ray.get(gens.actors[0].generate.remote(prompts, params, 0))
        # ... and a view pinned at version 0 (what the async pipeline hands out) is served version 0
        pinned = PinnedGenerator(gens, 0, ray.put(cpu_state(before)))
        assert pinned.generate(prompts[:1], params) == HFGenerator(before, tok, 2).generate(prompts[:1], params)
        assert gens.held_versions()[0] == 0
        assert gens.generate(prompts[:1], params) == HFGenerator(model, tok, 2).generate(prompts[:1], params)
        assert gens.held_versions()[0] == 1  # the newest version is loaded back before the next plain call
    finally:
        gens.close()


def test_two_actors_return_shards_in_order_with_distinct_fixed_seeds(policy):
    from assay.trainer.ray_backend.generators import shard_seed

    model, tok = policy
    prompts, params = prompts_for(tok), SamplingParams(max_new_tokens=6, seed=11)
    gens = ray_generators(model, tok, 2)
    try:
        got = gens.generate(prompts, params)
        same = [prompts[0]] * 4
        twins = gens.generate(same, params)
    finally:
        gens.close()
    # contiguous shards [0:3] and [3:5]: shard 0 with the call's seed, shard 1 with its own
    local = HFGenerator(model, tok, batch_size=2)
    expected = local.generate(prompts[:3], params) + local.generate(prompts[3:], SamplingParams(max_new_tokens=6, seed=shard_seed(11, 1)))
    assert got == expected
    assert shard_seed(11, 0) == 11 and shard_seed(11, 1) != 11
    # four copies of one prompt: the shards differ (distinct seeds), each shard is what its seed gives
    assert [g.token_ids for g in twins[:2]] != [g.token_ids for g in twins[2:]]
    assert twins[:2] == local.generate(same[:2], params)


def config(model: Path, run_dir: Path, **changes) -> GRPOConfig:
    base = dict(model=str(model), run_dir=str(run_dir), env_id="assay/test-digits2-v0", env_kwargs={}, max_turns=2,
                steps=3, prompts_per_step=2, group_size=4, max_new_tokens=6, eval_every=100, eval_size=2, save_every=100,
                seed=5, ray_workers=2)
    return GRPOConfig(**{**base, **changes})


def train(cfg: GRPOConfig):
    from assay.trainer.grpo import GRPOTrainer

    trainer = GRPOTrainer(cfg, progress=False)
    try:
        history = trainer.train()
        held = trainer.generator.held_versions() if cfg.ray_generators else None
    finally:
        if trainer._env_runner is not None:
            trainer._env_runner.close()
        if cfg.ray_generators:
            trainer.generator.close()
    weights = {k: v.detach().clone() for k, v in trainer.policy.state_dict().items()}
    return trainer, history, weights, held


def test_training_with_a_generator_actor_equals_training_on_the_driver(model, tmp_path):
    _, local, local_w, _ = train(config(model, tmp_path / "local"))
    trainer, remote, remote_w, held = train(config(model, tmp_path / "ray", backend="ray", ray_generators=1))

    def rows(history):
        return [r for r in history if "reward" in r]

    assert [r["eval_accuracy"] for r in local if "eval_accuracy" in r] == [r["eval_accuracy"] for r in remote if "eval_accuracy" in r]
    assert [r["reward"] for r in rows(local)] == [r["reward"] for r in rows(remote)]
    assert [r["rollout_tokens"] for r in rows(local)] == [r["rollout_tokens"] for r in rows(remote)]
    assert all(r["grad_norm"] > 0 for r in rows(local))  # the weights really moved: equality means something
    for k in local_w:
        torch.testing.assert_close(remote_w[k], local_w[k], rtol=0, atol=0, msg=f"{k} differs")
    assert held == [3] and trainer.generator.version == 3  # synced after every update


def test_async_training_on_generator_actors_respects_the_staleness_bound(model, tmp_path):
    trainer, history, _, held = train(config(model, tmp_path, backend="ray", ray_generators=2, max_staleness=1, steps=4))
    rows = [r for r in history if "reward" in r]
    assert len(rows) == 4 and max(r["staleness"] for r in rows) <= 1
    assert all(r["step"] - 1 - r["policy_version"] == r["staleness"] for r in rows)
    assert trainer.generator.version == 4 and all(v is not None and v >= 3 for v in held)


def test_partial_rollouts_on_ray_workers_and_generators(model, tmp_path):
    """Paused episodes keep their environments on the env workers while new episodes (and the
    held-out evaluation between steps) reset other slots; LongEnv raises on a step past an
    episode's end, so a paused env that was reset or continued twice would show as an error."""
    trainer, _, _, _ = train(config(model, tmp_path, backend="ray", ray_generators=1, env_id="assay/test-long-v0",
                                    max_turns=3, partial_rollout_turns=1, max_staleness=2, steps=4, eval_every=1))
    rows = [r for r in trainer.run.rows() if "carried_in" in r]
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    assert sum(r["errors"] for r in rows) == 0 and sum(r["carried_trained"] for r in rows) > 0
    assert max(r["staleness"] for r in rows) <= 2
    partial = trainer._partial
    assert partial.started == sum(r["groups"] * 4 for r in rows) + partial.dropped + partial.paused_episodes


def test_a_killed_actor_is_replaced_and_its_shard_sampled_again_the_same(policy):
    """The shard seed depends on the shard's position, not on the actor, so the replacement returns
    what the killed actor would have; it is loaded with the call's version before it samples."""
    from assay.trainer.ray_backend.generators import GeneratorLost

    model, tok = policy
    prompts, params = prompts_for(tok), SamplingParams(max_new_tokens=6, seed=11)
    gens = ray_generators(model, tok, 2, retries=1)
    try:
        update_once(model, tok)
        gens.sync(model, 1)
        expected = gens.generate(prompts, params)
        dead = gens.actors[1]
        ray.kill(dead)
        assert gens.generate(prompts, params) == expected
        assert gens.replaced == 1 and gens.actors[1] is not dead and gens.held_versions() == [1, 1]
        # a replacement that dies too uses up the retries: the call fails with a clear error
        gens._new_actor, build = (lambda i: _killed(build(i))), gens._new_actor
        ray.kill(gens.actors[1])
        with pytest.raises(GeneratorLost, match="generator actor 1 died, and so did the 1 replacement"):
            gens.generate(prompts, params)
    finally:
        gens.close()


def _killed(actor):
    ray.kill(actor)
    return actor


def test_with_lora_the_actors_hold_the_merged_weights(model, tmp_path):
    """LoRA adapters live on the driver; generator actors hold plain models, so every sync sends
    the merged weights (W + scale * B A), equal to what the run's checkpoint holds."""
    from safetensors.torch import load_file

    from assay.trainer.grpo import GRPOTrainer

    cfg = config(model, tmp_path, backend="ray", ray_generators=1, lora_rank=4, lr=1e-2, steps=2, save_every=2)
    trainer = GRPOTrainer(cfg, progress=False)
    try:
        trainer.train()
        actor = trainer.generator.weights(0)
        assert trainer.generator.held_versions() == [2]
    finally:
        trainer._env_runner.close()
        trainer.generator.close()
    saved = load_file(tmp_path / "checkpoints" / "step_000002" / "model.safetensors")
    base = load_file(model / "model.safetensors")
    assert any(not torch.equal(saved[k], base[k]) for k in saved)  # the adapters moved the merged weights
    for k, v in saved.items():
        torch.testing.assert_close(actor[k], v, rtol=0, atol=0, msg=k)

