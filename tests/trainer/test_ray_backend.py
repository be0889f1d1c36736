"""The Ray backend on a local 2-CPU cluster started here (one per module): synchronous training
equals the single-process backend bit for bit, a worker SIGKILLed mid-episode or hung is
replaced and its episodes replayed (same trajectories, same weights), the staleness bound of
asynchronous training holds, and a driver killed mid-run resumes from its checkpoint."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from assay.protocols import Generation, SamplingParams
from assay.trainer.config import GRPOConfig
from assay.trainer.rollout import LocalEnvRunner, run_episodes
from assay.trainer.tiny import save_tiny
from assay.types import Task
from tests.trainer.ray_cluster import local_cluster  # skips the module without ray
from tests.trainer import ray_envs

@pytest.fixture(scope="module", autouse=True)
def cluster():
    yield from local_cluster(ray_envs.register)


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return save_tiny(tmp_path_factory.mktemp("m") / "tiny", hidden_size=32, layers=1, heads=2)


def config(model: Path, run_dir: Path, **changes) -> GRPOConfig:
    base = dict(model=str(model), run_dir=str(run_dir), env_id="assay/test-digits2-v0", env_kwargs={}, max_turns=2,
                steps=3, prompts_per_step=2, group_size=4, max_new_tokens=6, eval_every=100, eval_size=2, save_every=100,
                seed=5, ray_workers=2)
    return GRPOConfig(**{**base, **changes})


def train(cfg: GRPOConfig) -> tuple[list[dict], dict[str, torch.Tensor]]:
    from assay.trainer.grpo import GRPOTrainer

    trainer = GRPOTrainer(cfg, progress=False)
    history = trainer.train()
    weights = {k: v.detach().clone() for k, v in trainer.policy.state_dict().items()}
    if trainer._env_runner is not None:
        trainer._env_runner.close()
    evals = [r["eval_accuracy"] for r in history if "eval_accuracy" in r]
    return [r for r in history if "reward" in r], weights, evals


@pytest.fixture(scope="module")
def local_run(model, tmp_path_factory):
    return train(config(model, tmp_path_factory.mktemp("local")))


def assert_same_run(a, b) -> None:
    rows_a, weights_a, evals_a = a
    rows_b, weights_b, evals_b = b
    assert evals_a == evals_b
    assert [r["reward"] for r in rows_a] == [r["reward"] for r in rows_b]
    assert [r["rollout_tokens"] for r in rows_a] == [r["rollout_tokens"] for r in rows_b]
    for k in weights_a:
        torch.testing.assert_close(weights_a[k], weights_b[k], rtol=0, atol=0, msg=f"{k} differs")


def test_synchronous_ray_training_equals_single_process(model, tmp_path, local_run):
    ray_run = train(config(model, tmp_path, backend="ray"))
    assert_same_run(local_run, ray_run)
    assert all(r["grad_norm"] > 0 for r in local_run[0])  # the weights really moved: equality means something


def test_training_survives_a_worker_killed_mid_episode(model, tmp_path, local_run):
    """KillOnceEnv SIGKILLs its worker on some episode's second turn; that worker's episodes are
    replayed on a fresh one and the run is identical to the undisturbed single-process run."""
    marker = tmp_path / "killed"
    ray_run = train(config(model, tmp_path / "run", backend="ray", env_id="assay/test-kill-once-v0",
                           env_kwargs={"marker": str(marker)}))
    assert marker.exists(), "no worker was killed: the test proved nothing"
    assert all(r["errors"] == 0 for r in ray_run[0])
    assert_same_run(local_run, ray_run)


class ScriptedGenerator:
    """Deterministic: answers "12ab" to even-length contexts and "x1" to odd ones."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def generate(self, prompts, params):
        out = []
        for p in prompts:
            text = "12ab" if len(p) % 2 == 0 else "x1"
            ids = tuple(self.tokenizer.encode(text, add_special_tokens=False))
            out.append(Generation(ids, tuple(-0.5 for _ in ids), text, "eos"))
        return out


def rollout(runner, tokenizer, n_tasks=3):
    tasks = [Task(f"t{i}", "say " + "x" * i) for i in range(n_tasks)]
    return run_episodes(None, tasks, 2, ScriptedGenerator(tokenizer), tokenizer, SamplingParams(max_new_tokens=4),
                        max_turns=2, seed=11, runner=runner)


def test_hung_worker_is_replaced_and_its_episode_retried_or_dropped(model, tmp_path):
    from transformers import AutoTokenizer

    from assay.trainer.ray_backend import RayEnvRunner, WorkerLost
    from tests.trainer.ray_envs import TwoTurnDigitsEnv

    tok = AutoTokenizer.from_pretrained(model)
    expected = rollout(LocalEnvRunner(TwoTurnDigitsEnv), tok)
    retry = RayEnvRunner("assay/test-hang-once-v0", {"marker": str(tmp_path / "a")}, 2, step_timeout_s=2.0, max_retries=1)
    try:
        assert rollout(retry, tok) == expected
        assert retry.replaced == 1 and retry.lost == 0
    finally:
        retry.close()
    # one call per round trip: a hang inside a chunk of several blames none of them (see the chunk test)
    drop = RayEnvRunner("assay/test-hang-once-v0", {"marker": str(tmp_path / "b")}, 2, step_timeout_s=2.0, max_retries=0,
                        chunk_s=0.0)
    try:
        got = rollout(drop, tok)
    finally:
        drop.close()
    lost = [t for t in got if t.verdict.error]
    assert len(lost) == 1 and WorkerLost.__name__ in lost[0].verdict.error and lost[0].reward == 0.0
    assert [t for t in got if not t.verdict.error] == [t for t, g in zip(expected, got) if not g.verdict.error]


def test_calls_travel_in_chunks_and_a_killed_chunk_is_replayed(model, tmp_path):
    """With a budget that fits a whole turn, each worker gets one Ray call per turn; a worker
    SIGKILLed inside a chunk has its episodes replayed and the chunk's calls re-sent one by one
    (none of them blamed), and the rollout equals the single-process one."""
    from transformers import AutoTokenizer

    from assay.trainer.ray_backend import RayEnvRunner
    from tests.trainer.ray_envs import TwoTurnDigitsEnv

    tok = AutoTokenizer.from_pretrained(model)
    expected = rollout(LocalEnvRunner(TwoTurnDigitsEnv), tok, n_tasks=4)
    runner = RayEnvRunner("assay/test-kill-once-v0", {"marker": str(tmp_path / "k")}, 2, chunk_s=100.0, max_retries=0)
    sent = []
    real_send = runner._send
    runner._send = lambda piece, pending: (sent.append(len(piece)), real_send(piece, pending))[1]
    runner.costs.default_s = 0.01  # unknown tasks fit the budget: whole turns per chunk
    try:
        assert rollout(runner, tok, n_tasks=4) == expected
        assert (tmp_path / "k").exists(), "no worker was killed: the test proved nothing"
        assert runner.replaced == 1 and runner.lost == 0  # max_retries=0, yet nothing lost: a chunk blames no call
        assert max(sent) == 4  # 8 episodes on 2 workers: one chunk per worker and turn before the kill
        assert 1 in sent  # after it, the killed chunk's calls went one per round trip
    finally:
        runner.close()


def test_chunk_s_zero_sends_every_call_alone(model):
    from transformers import AutoTokenizer

    from assay.trainer.ray_backend import RayEnvRunner
    from tests.trainer.ray_envs import TwoTurnDigitsEnv

    tok = AutoTokenizer.from_pretrained(model)
    runner = RayEnvRunner("assay/test-digits2-v0", {}, 2, chunk_s=0.0)
    sent = []
    real_send = runner._send
    runner._send = lambda piece, pending: (sent.append(len(piece)), real_send(piece, pending))[1]
    runner.costs.default_s = 0.0
    try:
        assert rollout(runner, tok) == rollout(LocalEnvRunner(TwoTurnDigitsEnv), tok)
        assert set(sent) == {1}
    finally:
        runner.close()
    with pytest.raises(ValueError, match="chunk_s must be >= 0"):
        RayEnvRunner("assay/test-digits2-v0", {}, 1, chunk_s=-1.0)


def test_a_slow_task_gets_a_worker_of_its_own_once_its_cost_is_known():
    """First rollout: costs unknown, episodes alternate between workers (the slow one shares).
    Second: the learned cost puts the slow episode alone and the six fast ones on the other
    worker, and the turn takes about the slow episode's time rather than slow + 3 fast. The sleeps
    are long enough that Ray's overhead on a loaded machine stays well inside the 0.6 s margin."""
    from assay.trainer.ray_backend import RayEnvRunner

    tasks = [Task("slow", "p", meta={"seconds": 1.2})] + [Task(f"fast{i}", "p", meta={"seconds": 0.2}) for i in range(6)]
    runner = RayEnvRunner("assay/test-sleep-v0", {}, 2)
    try:
        walls = []
        for _ in range(2):
            runner.reset([(i, i, {"task": t}) for i, t in enumerate(tasks)])
            start = time.perf_counter()
            runner.step([(i, "x") for i in range(len(tasks))])
            walls.append(time.perf_counter() - start)
            homes = dict(runner.home)
        alone = [s for s, w in homes.items() if w == homes[0]]
        assert alone == [0], homes  # the slow episode's worker has nothing else
        assert walls[1] < walls[0] - 0.3, walls  # ~1.2 s instead of ~1.8 s
    finally:
        runner.close()


@pytest.mark.parametrize("k", [1, 2])
def test_async_training_respects_the_staleness_bound(model, tmp_path, k):
    rows, _, _ = train(config(model, tmp_path, backend="ray", max_staleness=k, steps=5))
    staleness = [r["staleness"] for r in rows]
    # how far behind a batch is depends on thread timing (generation picks the newest version at
    # each turn); that the producer does run k ahead is shown deterministically in
    # test_async_pipeline.py. Here: the bound holds in a real run, and each row says its version.
    assert len(rows) == 5 and max(staleness) <= k, staleness
    assert all(r["step"] - 1 - r["policy_version"] == r["staleness"] for r in rows)


def test_killed_driver_resumes_from_its_checkpoint(model, tmp_path, cluster):
    """SIGKILL the driver of a backend=ray run (joined to this module's cluster by address) after its
    first checkpoint; `--resume` ends with every step logged once and the weights of a
    single-process run that was never killed."""
    from safetensors.torch import load_file

    args = dict(env_id="assay/arithmetic-v0", env_kwargs={"difficulty": 1}, max_turns=1, steps=4, save_every=1)
    _, expected, _ = train(config(model, tmp_path / "local", **args))
    run_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "assay.cli.main", "train", "--no-progress", *(f"{k}={v}" for k, v in {
        **config(model, run_dir, backend="ray", ray_address=cluster, **args).__dict__}.items()
        if k in ("model", "run_dir", "env_id", "max_turns", "steps", "prompts_per_step", "group_size", "max_new_tokens",
                 "eval_every", "eval_size", "save_every", "seed", "backend", "ray_address", "ray_workers")),
           "env_kwargs={difficulty: 1}"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    latest = run_dir / "checkpoints" / "latest"
    deadline = time.monotonic() + 120
    while not latest.exists():
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline, "no checkpoint within 120 s"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    saved = int(latest.read_text().strip().split("_")[1])
    assert saved < 4, "the run finished before it was killed: nothing was resumed"
    out = subprocess.run(cmd + ["--resume"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "reward" in r] == [1, 2, 3, 4]
    weights = load_file(run_dir / "checkpoints" / "step_000004" / "model.safetensors")
    assert weights.keys() <= expected.keys() and weights  # the file leaves out tied weights (lm_head)
    for k, v in weights.items():
        torch.testing.assert_close(v, expected[k], rtol=0, atol=0, msg=f"{k} differs after resume")


def test_search_with_a_ray_scorer_matches_the_local_search(tmp_path):
    """`assay search --backend ray` splits the verifier scorer's batches over actors; with a
    seeded policy and a deterministic scorer every answer and cost matches the local run."""
    from assay.cli.main import main

    outputs = {}
    for backend in ("local", "ray"):
        out = tmp_path / f"{backend}.jsonl"
        code = main(["search", "assay/modchain-v0", "--strategy", "beam", "--policy", "toy", "--scorer", "verifier",
                     "--budget", "32", "--tasks", "6", "-o", "n=4", "--backend", backend, "--ray-workers", "2",
                     "--output", str(out)])
        assert code == 0
        outputs[backend] = [json.loads(line) for line in out.read_text().splitlines()]
    assert outputs["ray"] == outputs["local"]
    assert any(r["passed"] for r in outputs["local"]) and not all(r["passed"] for r in outputs["local"])


def test_evaluation_on_a_split_runs_on_ray_workers_of_its_own(model, tmp_path):
    """eval_env_kwargs under backend=ray: the evaluation's envs are built on workers with those
    arguments (responses cut to 1 character fail there), the training envs keep theirs."""
    from assay.trainer.grpo import GRPOTrainer
    from assay.trainer.ray_backend.env_workers import RayEnvRunner
    from tests.trainer.test_eval_split import Answers, write_split

    train_file, test_file = write_split(tmp_path / "train.jsonl", 0, 4), write_split(tmp_path / "test.jsonl", 100, 3)
    accuracy = {}
    for cut in (None, 1):
        eval_kwargs = {"path": str(test_file), **({"max_response_chars": cut} if cut else {})}
        trainer = GRPOTrainer(config(model, tmp_path / f"run{cut}", backend="ray", env_id="assay/math-v0", max_turns=1,
                                     env_kwargs={"path": str(train_file)}, eval_env_kwargs=eval_kwargs), progress=False)
        try:
            assert isinstance(trainer._eval_runner, RayEnvRunner) and trainer._eval_runner is not trainer._env_runner
            trainer.generator = Answers(trainer.tokenizer, r"\boxed{100}")
            accuracy[cut] = trainer.evaluate()["eval_accuracy"]
        finally:
            trainer.close()
    assert accuracy == {None: 0.5, 1: 0.0}  # eval_size=2: tasks 100 and 101
