"""Run a text episode against any assay env and keep it as a Trajectory.

Text-level only: token ids and behaviour log-probs belong to a generator and are filled in by
the trainer's rollout code, which builds its Trajectories itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium

from assay.types import Task, Trajectory, Turn, Verdict


def play(env: gymnasium.Env, respond: Callable[[str, dict], str], *, seed: int | None = None,
         options: dict | None = None, max_turns: int = 64) -> Trajectory:
    """Play one episode: ``respond(observation, info) -> action`` until the env terminates.
    Any Gymnasium text env works: one without a Task in ``info`` poses :func:`plain_task`, and one
    without a Verdict is judged by :func:`plain_verdict`.

    Raises RuntimeError if the env has not terminated after ``max_turns`` steps.
    """
    obs, info = env.reset(seed=seed, options=options)
    task = info.get("task") if isinstance(info.get("task"), Task) else plain_task(env, obs, seed)
    turns: list[Turn] = [Turn("user", obs)]
    total, step_info = 0.0, info
    for _ in range(max_turns):
        action = respond(obs, step_info)
        turns.append(Turn("assistant", action))
        obs, reward, terminated, truncated, step_info = env.step(action)
        total += float(reward)  # the return; assay envs pay only at the end
        if obs:
            turns.append(Turn("environment", obs))
        if terminated or truncated:
            break
    else:
        raise RuntimeError(f"episode did not end within {max_turns} turns")
    return trajectory_from_info(task.id, turns, total, {"task": task, **step_info})


def trajectory_from_info(task_id: str, turns: list[Turn], reward: float, info: dict[str, Any]) -> Trajectory:
    provenance, verdict = info.get("provenance"), info.get("verdict")
    return Trajectory(
        task_id=task_id,
        turns=tuple(turns),
        reward=reward,
        verdict=verdict if verdict is not None else plain_verdict(reward, info),
        task=info.get("task"),
        **({"provenance": provenance} if provenance is not None else {}),
    )


RESET_SEED = "reset_seed"  # Task.meta key of a plain env's task: the seed that poses it


def draw_task(env: gymnasium.Env, seed: int) -> Task:
    """The task ``env.reset(seed=seed)`` poses: ``info["task"]`` of an assay env (which can be reset
    to it by ``options``), else :func:`plain_task`."""
    obs, info = env.reset(seed=seed)
    task = info.get("task") if isinstance(info, dict) else None
    return task if isinstance(task, Task) else plain_task(env, obs, seed)


def task_list(env: gymnasium.Env) -> list[Task] | None:
    """The env's tasks in order when they are a finite list (its ``task_list()``: a file, a dataset
    split), else None."""
    listed = getattr(env.unwrapped, "task_list", None)
    return listed() if callable(listed) else None


def plain_task(env: gymnasium.Env, obs: Any, seed: int | None) -> Task:
    """The task of a plain Gymnasium text env, which names none: the observation, tied to the seed
    (``meta["reset_seed"]``). Resetting with that seed is the one way to pose it again, so the
    trainer resets every episode of a GRPO group with it."""
    if not isinstance(obs, str) or not obs.strip():
        from assay.errors import AssayError

        name = getattr(env.spec, "id", None) or type(env.unwrapped).__name__
        raise AssayError(f"{name}: reset() must return the prompt as text (or put an assay.Task in info['task']); "
                         f"got an observation of type {type(obs).__name__}")
    return Task(id=f"seed-{seed}", prompt=obs, meta={RESET_SEED: seed})


def plain_verdict(episode_return: float, info: dict) -> Verdict:
    """The Verdict of an episode whose env gave none (a plain Gymnasium env): passed when the last
    ``info`` says ``is_success`` (Gymnasium's convention), else when the return is positive."""
    success = info.get("is_success") if isinstance(info, dict) else None
    passed = bool(success) if success is not None else episode_return > 0
    return Verdict(episode_return, passed, {}, feedback="judged by the environment's reward (it gave no Verdict)")
