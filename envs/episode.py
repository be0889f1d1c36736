"""Run a text episode against any assay env and keep it as a Trajectory.

Text-level only: token ids and behaviour log-probs belong to a generator and are filled in by
the trainer's rollout code, which builds its Trajectories itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium

from assay.types import Trajectory, Turn


def play(env: gymnasium.Env, respond: Callable[[str, dict], str], *, seed: int | None = None,
         options: dict | None = None, max_turns: int = 64) -> Trajectory:
    """Play one episode: ``respond(observation, info) -> action`` until the env terminates.

    Raises RuntimeError if the env has not terminated after ``max_turns`` steps.
    """
    obs, info = env.reset(seed=seed, options=options)
    task = info["task"]
    turns: list[Turn] = [Turn("user", obs)]
    reward, step_info = 0.0, info
    for _ in range(max_turns):
        action = respond(obs, step_info)
        turns.append(Turn("assistant", action))
        obs, reward, terminated, truncated, step_info = env.step(action)
        if obs:
            turns.append(Turn("environment", obs))
        if terminated or truncated:
            break
    else:
        raise RuntimeError(f"episode did not end within {max_turns} turns")
    return trajectory_from_info(task.id, turns, float(reward), step_info)


def trajectory_from_info(task_id: str, turns: list[Turn], reward: float, info: dict[str, Any]) -> Trajectory:
    return Trajectory(
        task_id=task_id,
        turns=tuple(turns),
        reward=reward,
        verdict=info.get("verdict"),
        task=info.get("task"),
        provenance=info["provenance"],
    )
