"""Evaluation on a held-out split: ``eval_env_kwargs`` builds the evaluation's tasks and envs, a
finite task list is evaluated in order with each task once, and a run evaluated on its own
training list says so."""

from __future__ import annotations

import json

import pytest

import assay
from assay.protocols import Generation
from assay.trainer.config import GRPOConfig
from assay.trainer.evaluation import EVAL_SEED_BASE, held_out_tasks
from assay.trainer.grpo import GRPOTrainer
from assay.trainer.tiny import save_tiny


def write_split(path, first: int, n: int):
    """``n`` problems 'What is k + 0?' (gold k), k from ``first``."""
    path.write_text("".join(json.dumps({"problem": f"What is {k} + 0?", "answer": str(k)}) + "\n"
                            for k in range(first, first + n)))
    return path


def test_a_finite_task_list_gives_its_first_tasks_in_order_each_once(tmp_path):
    env = assay.make("assay/math-v0", path=str(write_split(tmp_path / "test.jsonl", 0, 5)))
    assert [t.answer for t in held_out_tasks(env, 3)] == ["0", "1", "2"]
    assert [t.answer for t in held_out_tasks(env, 64)] == ["0", "1", "2", "3", "4"]  # all, none twice
    formatted = assay.make("assay/math-v0", path=str(tmp_path / "test.jsonl"), prompt_format="Q: {prompt}")
    assert held_out_tasks(formatted, 1)[0].prompt == "Q: What is 0 + 0?"  # as reset poses them


def test_an_endless_generator_is_evaluated_on_reserved_seeds():
    env = assay.make("assay/arithmetic-v0", difficulty=2)
    assert env.unwrapped.task_list() is None
    assert held_out_tasks(env, 2)[1] == env.reset(seed=EVAL_SEED_BASE + 1)[1]["task"]


class Answers:
    """Answers every prompt with ``text`` (a scripted generator)."""

    def __init__(self, tokenizer, text: str):
        self.ids = tuple(tokenizer.encode(text, add_special_tokens=False))
        self.text = tokenizer.decode(self.ids)

    def generate(self, prompts, params):
        return [Generation(self.ids, tuple(-0.1 for _ in self.ids), self.text, "eos") for _ in prompts]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return save_tiny(tmp_path_factory.mktemp("split") / "tiny", hidden_size=32, layers=1, heads=2)


def trainer(tiny, tmp_path, **kw) -> GRPOTrainer:
    train = write_split(tmp_path / "train.jsonl", 0, 8)
    cfg = GRPOConfig(model=str(tiny), run_dir=str(tmp_path / "run"), env_id="assay/math-v0", env_kwargs={"path": str(train)},
                     steps=1, eval_size=64, prompts_per_step=2, group_size=2, max_new_tokens=8, **kw)
    return GRPOTrainer(cfg, progress=False)


def test_evaluation_runs_on_the_split_eval_env_kwargs_name(tiny, tmp_path, capsys):
    test = write_split(tmp_path / "test.jsonl", 100, 3)
    t = trainer(tiny, tmp_path, eval_env_kwargs={"path": str(test)})
    try:
        assert [task.answer for task in t.held_out()] == ["100", "101", "102"]
        t.generator = Answers(t.tokenizer, r"\boxed{101}")
        row = t.evaluate()
        assert row["eval_accuracy"] == pytest.approx(1 / 3)  # over the split's 3 tasks, not eval_size
    finally:
        t.close()
    assert "training tasks too" not in capsys.readouterr().out


def test_the_evaluation_envs_are_built_with_eval_env_kwargs(tiny, tmp_path):
    """Not only the tasks: an argument that changes the episode (responses cut to 1 character)
    applies to evaluation and not to training."""
    test = write_split(tmp_path / "test.jsonl", 100, 3)
    t = trainer(tiny, tmp_path, eval_env_kwargs={"path": str(test), "max_response_chars": 1})
    try:
        t.generator = Answers(t.tokenizer, r"\boxed{101}")
        assert t.evaluate()["eval_accuracy"] == 0.0
        env = t._make_env()
        env.reset(options={"task": t.held_out()[1]})
        assert env.step(r"\boxed{101}")[1] == 1.0  # the training envs keep their own arguments
    finally:
        t.close()


def test_a_run_evaluated_on_its_training_list_says_so(tiny, tmp_path, capsys):
    t = trainer(tiny, tmp_path)
    t.close()
    assert [task.answer for task in t.held_out()] == [str(k) for k in range(8)]
    out = capsys.readouterr().out
    assert "8 of the 8 held-out tasks are training tasks too" in out and "eval_env_kwargs" in out
