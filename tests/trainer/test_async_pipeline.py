"""The async rollout pipeline and cost-aware placement, without Ray: the staleness bound holds
however fast the producer runs, long episodes carry over to a newer version mid-batch, and
placement balances expected cost (longest first onto the least-loaded worker)."""

from __future__ import annotations

import threading
import time

import pytest

from assay.trainer.ray_backend.pipeline import AsyncRollouts
from assay.trainer.ray_backend.placement import CostModel, chunk, place


class VersionTag:
    """A 'generator' that only says which policy version it wraps (read from the policy itself, so a
    snapshot taken with the wrong weights shows)."""

    def __init__(self, policy: dict, version: int):
        self.version = policy["v"]

    def generate(self, prompts, params):
        return [self.version for _ in prompts]


def run_pipeline(k: int, steps: int, turns: int = 1, train_s: float = 0.02):
    seen = []

    def produce(generator):  # one "turn" per generate call; a fast producer
        versions = [generator.generate([0], None)[0] for _ in range(turns)]
        seen.append(versions)
        return [], {}

    policy = {"v": 0}
    pipe = AsyncRollouts(produce, VersionTag, policy, first_step=0, max_staleness=k)
    rows = []
    try:
        for step in range(steps):
            if step:
                policy["v"] = step
                pipe.publish(step, policy)
            _, stats = pipe.next(step)
            rows.append(stats)
            time.sleep(train_s)  # the update
    finally:
        pipe.close()
    return rows, seen


@pytest.mark.parametrize("k", [0, 1, 3])
def test_staleness_never_exceeds_k_and_reaches_it(k):
    rows, _ = run_pipeline(k, steps=8)
    staleness = [r["staleness"] for r in rows]
    assert max(staleness) <= k
    assert max(staleness) == k, staleness  # a fast producer runs as far ahead as it is allowed
    assert all(r["staleness"] == step - r["policy_version"] for step, r in enumerate(rows))


def test_a_long_episode_carries_over_to_the_next_version():
    """The batch for step 1 starts under version 0 (k=1 allows it), the trainer publishes version
    1 while its episode is between turns, and the second turn samples with version 1."""
    between_turns, published = threading.Event(), threading.Event()
    batches = []

    def produce(generator):
        first = generator.generate([0], None)[0]
        if len(batches) == 1:  # the batch for step 1
            between_turns.set()
            published.wait(5)
        second = generator.generate([0], None)[0]
        batches.append((first, second))
        return [(first, second)], {}

    policy = {"v": 0}
    pipe = AsyncRollouts(produce, VersionTag, policy, first_step=0, max_staleness=1)
    try:
        pipe.next(0)
        assert between_turns.wait(5)
        policy["v"] = 1
        pipe.publish(1, policy)
        published.set()
        trajs, stats = pipe.next(1)
    finally:
        pipe.close()
    assert trajs == [(0, 1)]  # begun under version 0, finished under version 1
    assert stats["policy_version"] == 0 and stats["staleness"] == 1


def test_place_puts_the_long_job_alone():
    # round-robin would give loads 7 and 3; longest-first gives 5 and 5
    assert place([5, 1, 1, 1, 1, 1], 2) == [0, 1, 1, 1, 1, 1]
    assert place([1, 2, 3], 1) == [0, 0, 0]
    assert place([], 3) == []
    with pytest.raises(ValueError):
        place([1.0], 0)


def test_chunk_groups_consecutive_calls_within_the_budget():
    assert chunk([0.1, 0.1, 0.1, 0.1, 0.1], 0.25) == [[0, 1], [2, 3], [4]]
    assert chunk([0.1, 1.0, 0.1, 0.1], 0.25) == [[0], [1], [2, 3]]  # a call over budget travels alone
    assert chunk([0.3, 0.1], 0.25) == [[0], [1]]
    assert chunk([0.0, 0.0, 0.0], 0.0) == [[0], [1], [2]]  # budget 0: one call per round trip
    assert chunk([], 1.0) == []


def test_cost_model_learns_per_task_and_falls_back_to_the_mean():
    m = CostModel(alpha=0.5, default_s=1.0)
    assert m.expect("a") == 1.0
    m.observe("a", 4.0)
    m.observe("a", 2.0)  # 0.5 * 4 + 0.5 * 2
    m.observe("b", 1.0)
    assert m.expect("a") == 3.0 and m.expect("b") == 1.0 and m.expect("new") == 2.0


def test_config_validates_the_scale_fields():
    from assay.config import ConfigError
    from assay.trainer.config import GRPOConfig

    with pytest.raises(ConfigError, match="tis_cap"):
        GRPOConfig(max_staleness=1, tis_cap=None)  # off-policy samples without the IS correction
    with pytest.raises(ConfigError, match="backend"):
        GRPOConfig(backend="spark")
    for bad in (dict(ray_workers=0), dict(worker_retries=-1), dict(step_timeout_s=0), dict(max_staleness=-1)):
        with pytest.raises(ConfigError):
            GRPOConfig(**bad)
    assert GRPOConfig(backend="ray", max_staleness=2).max_staleness == 2
