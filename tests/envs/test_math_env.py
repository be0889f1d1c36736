"""assay/math-v0 on each kind of task source a user would point it at."""

from __future__ import annotations

import json

import datasets
import pytest

import assay
from assay.errors import AssayError


def play_gold(env, seed: int) -> tuple[str, float]:
    _, info = env.reset(seed=seed)
    task = info["task"]
    return task.id, env.step(env.unwrapped.gold_response(task))[1]


def test_math_env_from_a_saved_hf_dataset_in_math_format(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "cache"))
    rows = {
        "problem": ["What is $1/2 + 1/4$?", "Simplify $\\sqrt{8}$.", "Solve $2x = 6$."],
        "solution": ["We add: $\\boxed{\\frac{3}{4}}$.", "It is $\\boxed{2\\sqrt{2}}$.", "So $\\boxed{x = 3}$."],
        "unique_id": ["a", "b", "c"],
    }
    datasets.Dataset.from_dict(rows).save_to_disk(str(tmp_path / "math_ds"))
    env = assay.make("assay/math-v0", dataset=str(tmp_path / "math_ds"))
    seen = {}
    for seed in range(12):
        task_id, reward = play_gold(env, seed)
        seen[task_id] = reward
    assert set(seen) == {"a", "b", "c"} and set(seen.values()) == {1.0}
    env.reset(options={"task": env.unwrapped.source[1]})
    assert env.step(r"It is \boxed{\sqrt{8}}")[1] == 1.0  # equivalent form
    env.reset(options={"task": env.unwrapped.source[1]})
    assert env.step(r"It is \boxed{2\sqrt{3}}")[1] == 0.0


def test_math_env_from_jsonl_with_a_column_mapping(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text("\n".join(json.dumps({"q": f"{i} + {i}?", "a": str(2 * i), "key": f"k{i}"}) for i in range(5)))
    env = assay.make("assay/math-v0", path=str(path), mapping={"prompt": "q", "answer": "a", "id": "key"})
    task_id, reward = play_gold(env, 0)
    assert task_id.startswith("k") and reward == 1.0


def test_procedural_difficulty_override_changes_the_tasks():
    easy = assay.make("assay/arithmetic-v0", difficulty=1).reset(seed=0)[1]["task"]
    hard = assay.make("assay/arithmetic-v0", difficulty=6).reset(seed=0)[1]["task"]
    assert len(hard.meta["steps"]) > len(easy.meta["steps"])


def test_bad_source_arguments_are_clear_errors():
    with pytest.raises(AssayError):
        assay.make("assay/math-v0", path="/no/such/file.jsonl")
    with pytest.raises(AssayError):
        assay.make("assay/math-v0", generator="arithmetic", path="x.jsonl")


def test_a_system_prompt_opens_every_episode_and_replaces_a_tasks_own():
    env = assay.make("assay/arithmetic-v0", difficulty=1, system_prompt="Think step by step.")
    obs, info = env.reset(seed=0)
    assert info["messages"] == [{"role": "system", "content": "Think step by step."}, {"role": "user", "content": obs}]
    task = info["task"]
    step_messages = env.step("\\boxed{0}")[4]["messages"]
    assert step_messages[:2] == info["messages"] and step_messages[2]["role"] == "assistant"
    from assay import Task

    chat_task = Task("c", [{"role": "system", "content": "old"}, {"role": "user", "content": "1+1?"}], answer="2")
    _, info = env.reset(options={"task": chat_task})
    assert info["messages"] == [{"role": "system", "content": "Think step by step."}, {"role": "user", "content": "1+1?"}]
    assert assay.make("assay/arithmetic-v0", difficulty=1).reset(seed=0)[1]["messages"][0]["role"] == "user"
    assert task.prompt == obs  # the task itself is unchanged: the system prompt is the env's
    with pytest.raises(TypeError, match="system_prompt must be a str"):
        assay.make("assay/arithmetic-v0", system_prompt=["not", "text"])
