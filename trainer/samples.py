"""What the policy wrote: a few episodes of each training step and evaluation, as text.

A metric row says the reward went up; only the text says whether the model learned the task or a
way around the verifier (a format trick, a repeated answer). The trainer appends ``log_samples``
episodes per step and per evaluation to ``run_dir/samples.jsonl``, one JSON object per line::

    {"step": 10, "split": "train", "task_id": "...", "prompt": "...", "answer": "...",
     "turns": [{"role": "assistant", "text": "..."}], "reward": 1.0, "passed": true,
     "feedback": "...", "error": null}

``reward`` is the reward trained on (after shaping); ``turns`` leaves out the prompt, which is
``prompt``. ``assay samples RUN_DIR`` prints them.
"""

from __future__ import annotations

from collections.abc import Sequence

from assay.types import Trajectory

SPLITS = ("train", "eval")


def spread(total: int, n: int) -> list[int]:
    """``n`` indices spread evenly over ``range(total)`` (all of them when ``n >= total``). Even
    spacing takes one episode from each of ``n`` groups rather than ``n`` answers to one prompt,
    and takes no random draw, which would move the run's RNG streams."""
    if n <= 0 or total <= 0:
        return []
    if n >= total:
        return list(range(total))
    return [i * total // n for i in range(n)]


def sample_rows(step: int, split: str, trajectories: Sequence[Trajectory], n: int,
                rewards: Sequence[float] | None = None) -> list[dict]:
    """Rows for ``n`` of ``trajectories`` (spread over them); ``rewards[i]`` is trajectory i's
    reward as trained on, default its env reward."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if rewards is not None and len(rewards) != len(trajectories):
        raise ValueError(f"{len(rewards)} rewards for {len(trajectories)} trajectories")
    rows = []
    for i in spread(len(trajectories), n):
        t = trajectories[i]
        turns = list(t.turns)
        prompt = turns.pop(0).text if turns and turns[0].role == "user" else (t.task.prompt if t.task else "")
        verdict = t.verdict
        rows.append({
            "step": step,
            "split": split,
            "task_id": t.task_id,
            "prompt": prompt,
            "answer": t.task.answer if t.task is not None else None,
            "turns": [{"role": turn.role, "text": turn.text} for turn in turns],
            "reward": float(rewards[i] if rewards is not None else t.reward),
            "passed": bool(verdict and verdict.passed),
            "feedback": verdict.feedback if verdict else "",
            "error": verdict.error if verdict else None,
        })
    return rows


def markdown(rows: Sequence[dict]) -> str:
    """The rows as Markdown, for TensorBoard's text tab."""
    parts = []
    for row in rows:
        mark = "passed" if row["passed"] else ("error: " + row["error"] if row["error"] else "failed")
        lines = [f"**{row['task_id']}** reward {row['reward']:.3f} ({mark})", "", _quoted(row["prompt"])]
        for turn in row["turns"]:
            lines += ["", f"*{turn['role']}*", "", _quoted(turn["text"])]
        parts.append("\n".join(lines))
    return "\n\n---\n\n".join(parts)


def _quoted(text: str) -> str:
    return "\n".join("    " + line for line in (text or "(empty)").splitlines() or [""])
