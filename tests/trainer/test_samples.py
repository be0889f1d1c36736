"""What the policy wrote: the rows of run_dir/samples.jsonl, a real run writing them, and
`assay samples` printing them."""

from __future__ import annotations

import json

import pytest

from assay.cli.main import main
from assay.trainer.config import GRPOConfig
from assay.trainer.evaluation import held_out_tasks
from assay.trainer.grpo import GRPOTrainer
from assay.trainer.run_state import RunDir
from assay.trainer.samples import markdown, sample_rows, spread
from assay.trainer.tiny import save_tiny
from assay.types import Task, Trajectory, Turn, Verdict


def test_spread_takes_evenly_spaced_indices():
    assert spread(8, 4) == [0, 2, 4, 6]
    assert spread(10, 3) == [0, 3, 6]
    assert spread(3, 5) == [0, 1, 2]
    assert spread(0, 4) == [] and spread(5, 0) == []


def episode(task_id: str, reward: float, passed: bool, error: str | None = None) -> Trajectory:
    task = Task(task_id, "2+2 =", answer="4")
    return Trajectory(task_id=task_id, turns=(Turn("user", "2+2 ="), Turn("assistant", " 5"), Turn("environment", "wrong, again"),
                                              Turn("assistant", " 4")),
                      reward=reward, verdict=Verdict(reward, passed, feedback="fb", error=error), task=task)


def test_a_row_holds_the_text_of_every_turn_after_the_prompt():
    rows = sample_rows(7, "train", [episode("a", 1.0, True)], 4)
    assert rows == [{"step": 7, "split": "train", "task_id": "a", "prompt": "2+2 =", "answer": "4",
                     "turns": [{"role": "assistant", "text": " 5"}, {"role": "environment", "text": "wrong, again"},
                               {"role": "assistant", "text": " 4"}],
                     "reward": 1.0, "passed": True, "feedback": "fb", "error": None}]


def test_rewards_given_replace_the_env_reward_and_must_match_in_number():
    eps = [episode("a", 1.0, True), episode("b", 0.0, False, error="timeout")]
    rows = sample_rows(1, "train", eps, 2, rewards=[0.75, -0.5])
    assert [r["reward"] for r in rows] == [0.75, -0.5]
    assert rows[1]["error"] == "timeout" and rows[1]["passed"] is False
    with pytest.raises(ValueError, match="1 rewards for 2"):
        sample_rows(1, "train", eps, 2, rewards=[0.0])
    with pytest.raises(ValueError, match="split"):
        sample_rows(1, "test", eps, 2)


def test_markdown_shows_task_reward_status_and_each_turn():
    text = markdown(sample_rows(1, "eval", [episode("a", 0.0, False, error="timeout")], 1))
    assert "**a** reward 0.000 (error: timeout)" in text
    assert "    2+2 =" in text and "*environment*" in text and "    wrong, again" in text


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return save_tiny(tmp_path_factory.mktemp("samples") / "tiny", hidden_size=32, layers=1, heads=2)


def config(model, run_dir, **kw) -> GRPOConfig:
    base = dict(model=str(model), run_dir=str(run_dir), steps=2, save_every=1, eval_every=2, eval_size=5,
                prompts_per_step=3, group_size=2, max_new_tokens=4, env_kwargs={"difficulty": 1}, seed=3, log_samples=2)
    return GRPOConfig(**{**base, **kw})


def test_a_run_logs_samples_of_each_step_and_evaluation(model, tmp_path):
    trainer = GRPOTrainer(config(model, tmp_path / "run"), progress=False)
    history = trainer.train()
    trainer.close()
    rows = RunDir(tmp_path / "run").sample_rows()
    assert [(r["step"], r["split"]) for r in rows] == [(0, "eval")] * 2 + [(1, "train")] * 2 + [(2, "train")] * 2 + [(2, "eval")] * 2
    assert all(row["turns"][0]["role"] == "assistant" for row in rows)
    # the held-out rows are the first and third of the five evaluation tasks, with their prompts and gold
    held_out = held_out_tasks(trainer.task_env, 5)
    evals = [r for r in rows if r["split"] == "eval"]
    for row, task in zip(evals, [held_out[0], held_out[2]] * 2):
        assert (row["task_id"], row["prompt"], row["answer"]) == (task.id, task.prompt, task.answer)
    trained = [r for r in history if "reward" in r]
    assert len(trained) == 2


def test_log_samples_zero_writes_no_file(model, tmp_path):
    trainer = GRPOTrainer(config(model, tmp_path / "run", steps=1, log_samples=0), progress=False)
    trainer.train()
    trainer.close()
    assert not RunDir(tmp_path / "run").samples_path.exists()


def test_assay_samples_prints_the_latest_step_and_filters(model, tmp_path, capsys):
    run_dir = tmp_path / "run"
    trainer = GRPOTrainer(config(model, run_dir), progress=False)
    trainer.train()
    trainer.close()
    assert main(["samples", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "step 2 train" in out and "step 2 eval" in out and "step 1" not in out
    assert main(["samples", str(run_dir), "--step", "1", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["step"], r["split"]) for r in rows] == [(1, "train")] * 2
    assert main(["samples", str(run_dir), "--split", "eval", "--failed", "--json", "-n", "1"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) <= 1 and all(r["split"] == "eval" and not r["passed"] for r in rows)
    task = RunDir(run_dir).sample_rows()[0]["task_id"]  # the first held-out task, evaluated at steps 0 and 2
    assert main(["samples", str(run_dir), "--task", task, "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["step"], r["split"], r["task_id"]) for r in rows] == [(0, "eval", task), (2, "eval", task)]
    assert main(["samples", str(run_dir), "--task", "nope"]) == 2 and "no samples of task 'nope'" in capsys.readouterr().err
    assert main(["samples", str(run_dir), "--step", "9"]) == 2
    assert "no samples at step 9; logged steps: 0, 1, 2" in capsys.readouterr().err
    assert main(["samples", str(tmp_path / "nothing")]) == 2
    assert "no samples in" in capsys.readouterr().err
