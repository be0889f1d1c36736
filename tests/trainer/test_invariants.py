"""Invariants of the update (TRL's tests/invariant style): how a batch is split must not change the
step. Gradient accumulation 1x8 == 8x1, and 2 data-parallel processes == 1 process.

SGD is used so that the parameter change is lr * gradient: Adam's first step is ~lr * sign(g),
which turns harmless float reordering in near-zero gradient entries into sign flips."""

from __future__ import annotations

import dataclasses
import os
import sys

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from assay.trainer.batch import collate
from assay.trainer.config import GRPOConfig
from assay.trainer.tiny import build_model
from assay.trainer.update import World, policy_update
from assay.types import Trajectory

VOCAB = 119


def fixed_batch(n: int = 8):
    g = torch.Generator().manual_seed(1)
    trajs = []
    for i in range(n):
        p, r = 3 + i % 3, 4 + (i * 5) % 7
        mask = [1] * r
        if r > 5:
            mask[2:4] = [0, 0]  # an environment observation in the middle
        trajs.append(Trajectory(
            task_id=f"t{i // 4}", group_id=f"g{i // 4}",
            prompt_ids=tuple(torch.randint(4, VOCAB, (p,), generator=g).tolist()),
            token_ids=tuple(torch.randint(4, VOCAB, (r,), generator=g).tolist()),
            loss_mask=tuple(mask),
            logprobs=tuple((-torch.rand(r, generator=g) * 5).tolist()),
        ))
    adv = torch.randn(n, generator=g)
    return collate(trajs, adv, pad_id=0)


def model():
    return build_model(VOCAB, hidden_size=32, layers=2, heads=2, seed=0)


def step(m, batch, cfg, world=World()):
    opt = torch.optim.SGD(m.parameters(), lr=1.0)
    metrics = policy_update(m, opt, batch, cfg, world)
    return [p.detach().clone() for p in m.parameters()], metrics


@pytest.mark.parametrize("algorithm", ["grpo", "dapo", "dr_grpo"])
def test_gradient_accumulation_1x8_equals_8x1(algorithm):
    batch = fixed_batch()
    one, m1 = step(model(), batch, GRPOConfig(algorithm=algorithm, micro_batch_size=8, max_grad_norm=0))
    eight, m8 = step(model(), batch, GRPOConfig(algorithm=algorithm, micro_batch_size=1, max_grad_norm=0))
    for a, b in zip(one, eight):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert m1["loss"] == pytest.approx(m8["loss"], rel=1e-5, abs=1e-7)
    assert any((a - p).abs().max() > 1e-4 for a, p in zip(one, model().parameters())), "the step changed nothing"


def test_select_trims_a_micro_batch_to_its_longest_sequence_and_response():
    batch = fixed_batch()  # sequences of 7-14 tokens (prompts 3-5, responses 4-10)
    assert batch.input_ids.shape == (8, 14) and batch.response_ids.shape == (8, 10)
    short = batch.select(torch.tensor([0, 3]))  # prompt 3 + response 4, prompt 3 + response 5
    assert short.input_ids.shape == (2, 8) and short.response_ids.shape == (2, 5)
    assert short.loss_mask.shape == short.sampler_logprobs.shape == (2, 5)
    assert torch.equal(short.input_ids, batch.input_ids[[0, 3], :8]) and torch.equal(short.attention_mask.sum(1), torch.tensor([7, 8]))
    lengths = batch.by_length().attention_mask.sum(1)
    assert torch.equal(lengths, lengths.sort().values) and batch.by_length().input_ids.shape == batch.input_ids.shape


@pytest.mark.parametrize("dense,epochs,kl", [(False, 1, 0.0), (True, 2, 0.1)])
def test_length_sorted_trimmed_micro_batches_take_the_same_step(dense, epochs, kl):
    """Micro-batches of like length, each trimmed to its own longest sequence and response, take
    the step of micro-batches in rollout order at full width: with per-token (dense) advantages,
    the old log-probs of a second PPO epoch and a KL reference too (both padded back to the
    batch's width)."""
    batch = fixed_batch()
    if dense:  # per-token advantages, (B, T)
        batch = dataclasses.replace(batch, advantages=torch.randn(batch.response_ids.shape, generator=torch.Generator().manual_seed(2)))
    results = []
    for sort in (True, False):
        cfg = GRPOConfig(micro_batch_size=3, max_grad_norm=0, ppo_epochs=epochs, kl_coef=kl, length_sorted_micro_batches=sort)
        m = model()
        opt = torch.optim.SGD(m.parameters(), lr=1.0)
        metrics = policy_update(m, opt, batch, cfg, World(), ref_model=model() if kl else None)
        results.append(([p.detach().clone() for p in m.parameters()], metrics))
    (sorted_params, sorted_metrics), (given_params, given_metrics) = results
    for a, b in zip(sorted_params, given_params):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    for key in ("loss", "kl", "entropy", "clip_frac"):
        assert sorted_metrics[key] == pytest.approx(given_metrics[key], rel=1e-5, abs=1e-7), key
    assert any((a - p).abs().max() > 1e-4 for a, p in zip(sorted_params, model().parameters())), "the step changed nothing"


def _leave() -> None:
    """End a spawned rank without interpreter teardown: a rank that finalises while C++ threads
    (gloo, intra-op pools) wind down has died with "terminate called without an active
    exception" (SIGABRT) in CI, after its results were written."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _rank_main(rank: int, init_file: str, out: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    torch.manual_seed(0)
    batch = fixed_batch()
    shard = batch.select(slice(rank * 4, rank * 4 + 4))
    params, _ = step(model(), shard, GRPOConfig(micro_batch_size=2, max_grad_norm=1.0), World(rank, 2))
    if rank == 0:
        torch.save(params, out)
    dist.barrier()
    dist.destroy_process_group()
    _leave()


def test_two_processes_equal_one_process(tmp_path):
    single, _ = step(model(), fixed_batch(), GRPOConfig(micro_batch_size=8, max_grad_norm=1.0))
    out = tmp_path / "params.pt"
    mp.start_processes(_rank_main, args=(str(tmp_path / "init"), str(out)), nprocs=2, start_method="spawn", join=True)
    double = torch.load(out)
    for a, b in zip(single, double):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def _skip_rank_main(rank: int, init_file: str, out: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    world = World(rank, 2)
    # rank 1 has nothing to learn from this step; rank 0 has a batch
    decisions = [world.any(not kept) for kept in ([[1, 2]], [[]])[rank]], world.any(False)
    torch.save(decisions, f"{out}.{rank}")
    dist.barrier()
    dist.destroy_process_group()
    _leave()


def test_a_step_one_rank_skips_is_skipped_by_every_rank(tmp_path):
    """GRPOTrainer skips a step when nothing is kept; with one rank skipping alone the others would
    block in the update's all-reduce. ``World.any`` makes the decision together."""
    out = tmp_path / "decisions"
    mp.start_processes(_skip_rank_main, args=(str(tmp_path / "init"), str(out)), nprocs=2, start_method="spawn",
                       join=True)
    assert torch.load(f"{out}.0") == torch.load(f"{out}.1") == ([True], False)
    assert World().any(True) and not World().any(False)
