"""A policy's accuracy on an environment's held-out tasks (``assay eval``).

The tasks are the ones the trainer's evaluations use (``held_out_tasks``: seeds from
``EVAL_SEED_BASE`` on, which no training step draws), and the episodes run through the trainer's
own rollout code, so ``assay eval`` of a run's checkpoint under the run's settings gives the
``eval_accuracy`` the run logged for it. With ``samples`` > 1 it also reports pass@k for k = 1, 2,
4, ... up to ``samples``, with the unbiased estimator of Chen et al. 2021 (HumanEval):
``pass@k = 1 - C(n - c, k) / C(n, k)`` per task (n samples, c of them correct), averaged over tasks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from math import comb

from assay.protocols import Generator, SamplingParams
from assay.envs.episode import draw_task, task_list
from assay.envs.mixture import MEMBER_KEY
from assay.trainer.rollout import LocalEnvRunner, run_episodes
from assay.trainer.run_state import derive_seed
from assay.types import Task, Trajectory

EVAL_SEED_BASE = 10**9  # held-out tasks come from seeds no training step draws


def held_out_tasks(task_env, n: int) -> list[Task]:
    """The first ``n`` held-out tasks of ``task_env``: the same tasks for the same environment
    settings, in every run and every evaluation. An env whose tasks are a finite list
    (``task_list()``: a file, a dataset split) gives its first ``n`` in order, each once (all of
    them when it has fewer); any other is reset with seeds no training step draws."""
    tasks = task_list(task_env)
    if tasks is not None:
        return list(tasks[:n])
    return [draw_task(task_env, EVAL_SEED_BASE + i) for i in range(n)]


def pass_at_k(n: int, c: int, k: int) -> float:
    """Probability that at least one of ``k`` samples drawn without replacement from ``n`` (``c``
    of them correct) is correct."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass_at_k needs 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    return 1.0 - comb(n - c, k) / comb(n, k)


@dataclass(frozen=True)
class EvalReport:
    """What ``evaluate_policy`` measured. ``accuracy`` is the share of all episodes that passed
    (pass@1 when ``samples`` is 1, its estimate otherwise); ``errors`` counts episodes no verdict
    could be reached for (an environment crash, a verifier error), which count as failed."""

    tasks: int
    samples: int
    accuracy: float
    pass_at: dict[int, float]
    mean_reward: float
    mean_response_tokens: float
    errors: int
    by_member: dict[str, float] = field(default_factory=dict)  # an env mixture's accuracy per member (assay.envs.mixture)

    def rows(self) -> list[tuple[str, str]]:
        """(metric, value) pairs for a table."""
        out = [("tasks", str(self.tasks)), ("samples per task", str(self.samples)), ("accuracy", f"{self.accuracy:.4f}")]
        out += [(f"accuracy ({member})", f"{value:.4f}") for member, value in self.by_member.items()]
        out += [(f"pass@{k}", f"{v:.4f}") for k, v in self.pass_at.items() if self.samples > 1]
        out += [("mean reward", f"{self.mean_reward:.4f}"), ("response tokens", f"{self.mean_response_tokens:.1f}"),
                ("episodes with errors", str(self.errors))]
        return out


def evaluate_policy(generator: Generator, tokenizer, make_env: Callable, tasks: Sequence[Task], params: SamplingParams,
                    samples: int = 1, max_turns: int = 1, seed: int = EVAL_SEED_BASE,
                    env_threads: int = 1) -> tuple[EvalReport, list[Trajectory]]:
    """``samples`` episodes of every task (one batched generator call per turn, the envs stepped on
    ``env_threads`` threads); returns the report and the trajectories, grouped by task in task order."""
    if samples < 1 or not tasks:
        raise ValueError(f"evaluate_policy needs tasks and samples >= 1, got {len(tasks)} tasks and samples={samples}")
    runner = LocalEnvRunner(make_env, threads=env_threads)
    try:
        trajectories = run_episodes(make_env, tasks, samples, generator, tokenizer, params, max_turns, seed=seed,
                                    runner=runner)
    finally:
        runner.close()
    passed = [t.verdict is not None and t.verdict.passed for t in trajectories]
    per_task = [sum(passed[i * samples:(i + 1) * samples]) for i in range(len(tasks))]
    report = EvalReport(
        tasks=len(tasks), samples=samples, accuracy=sum(passed) / len(passed),
        pass_at={k: total / len(tasks) for k, total in pass_at_sums(per_task, samples).items()},
        mean_reward=sum(t.reward for t in trajectories) / len(trajectories),
        mean_response_tokens=sum(sum(t.loss_mask) for t in trajectories) / len(trajectories),
        errors=sum(t.verdict is None or t.verdict.error is not None for t in trajectories),
        by_member=member_accuracy(tasks, passed, samples))
    return report, trajectories


def eval_sampling_seed(run_seed: int, rank: int = 0) -> int:
    """The sampling seed of a sampled evaluation (``eval_samples`` > 1): the trainer's at every
    evaluation, and ``assay eval``'s default, so it reproduces what a one-process run logged."""
    return derive_seed(run_seed, EVAL_SEED_BASE, rank)


def pass_at_sums(correct_per_task: Sequence[int], samples: int) -> dict[int, float]:
    """``{k: sum over tasks of pass@k}`` for k = 1, 2, 4, ... up to ``samples`` and ``samples``
    itself, from each task's number of correct episodes out of ``samples``. Sums, so that ranks'
    shares add up before dividing by the number of tasks."""
    ks = sorted({k for k in (2 ** j for j in range(samples.bit_length())) if k <= samples} | {samples})
    return {k: sum(pass_at_k(samples, c, k) for c in correct_per_task) for k in ks}


def member_passes(tasks: Sequence[Task], passed: Sequence[bool], samples: int) -> dict[str, tuple[int, int]]:
    """``{member: (episodes passed, episodes)}`` per mixture member (tasks tagged ``meta["env"]``),
    members in order of first appearance; ``passed`` holds ``samples`` episodes per task, in task order."""
    out: dict[str, tuple[int, int]] = {}
    for i, task in enumerate(tasks):
        if MEMBER_KEY in task.meta:
            done, total = out.get(task.meta[MEMBER_KEY], (0, 0))
            out[task.meta[MEMBER_KEY]] = (done + sum(passed[i * samples:(i + 1) * samples]), total + samples)
    return out


def member_accuracy(tasks: Sequence[Task], passed: Sequence[bool], samples: int) -> dict[str, float]:
    """Share of episodes passed per mixture member (:func:`member_passes`)."""
    return {member: done / total for member, (done, total) in member_passes(tasks, passed, samples).items()}
