"""Reward-model data readers: the formats named in assay.trainer.rm_data."""

import json

import pytest

from assay.errors import AssayError
from assay.trainer import rm_data


def write(tmp_path, rows, name="d.jsonl"):
    return rm_data.write_jsonl(rows, tmp_path / name)


def test_preferences_plain_conversational_and_rewardbench_subset(tmp_path):
    path = write(tmp_path, [
        {"prompt": "2 + 2 =", "chosen": "4", "rejected": "5", "category": "near"},
        {"chosen": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}],
         "rejected": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "go away"}], "subset": "chat"},
    ])
    a, b = rm_data.load_preferences(path)
    assert (a.task.prompt, a.chosen, a.rejected, a.category) == ("2 + 2 =", "4", "5", "near")
    assert b.task.prompt == [{"role": "user", "content": "hi"}] and (b.chosen, b.rejected, b.category) == ("hello", "go away", "chat")
    assert a.task.id == rm_data.prompt_task("2 + 2 =").id  # stable ids


def test_preferences_from_a_hugging_face_dataset():
    datasets = pytest.importorskip("datasets")
    table = datasets.Dataset.from_list([{"prompt": "p", "chosen": "c", "rejected": "r"}])
    [pair] = rm_data.load_preferences(datasets.DatasetDict({"test": table}), split="test")
    assert (pair.chosen, pair.rejected, pair.category) == ("c", "r", "")


def test_step_labels_plain_prm800k_ratings_and_math_shepherd(tmp_path):
    path = write(tmp_path, [
        {"prompt": "q", "steps": ["a\n", "b\n"], "labels": [1, 0.25]},
        {"prompt": "q", "steps": ["a", "b", "c"], "ratings": [1, 0, -1]},
        {"input": "What is 1+1? Step 1: 1+1=2 ки\nStep 2: so 3 ки", "label": "What is 1+1? Step 1: 1+1=2 +\nStep 2: so 3 -"},
    ])
    plain, prm800k, shepherd = rm_data.load_step_labels(path)
    assert plain.labels == (1.0, 0.25)
    assert prm800k.labels == (1.0, 1.0, 0.0)
    assert shepherd.task.prompt == "What is 1+1?"
    assert shepherd.steps == ("Step 1: 1+1=2 ", "\nStep 2: so 3 ") and shepherd.labels == (1.0, 0.0)


@pytest.mark.parametrize("row, message", [
    ({"prompt": "q", "steps": ["a"], "labels": [1, 0]}, "one label"),
    ({"prompt": "q", "steps": ["a"], "labels": [2]}, "one label"),
    ({"prompt": "q", "steps": ["a"]}, "labels"),
    ({"steps": ["a"], "labels": [1]}, "missing prompt"),
])
def test_bad_step_label_rows_say_what_is_wrong(tmp_path, row, message):
    with pytest.raises(AssayError, match=message):
        rm_data.load_step_labels(write(tmp_path, [row]))


def test_bad_jsonl_names_the_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"prompt": "p", "chosen": "c", "rejected": "r"}) + "\n{oops\n")
    with pytest.raises(AssayError, match=r"bad.jsonl:2"):
        rm_data.load_preferences(path)
    with pytest.raises(AssayError, match="no such"):
        rm_data.load_preferences(tmp_path / "missing.jsonl")


def test_search_step_labels_round_trip_through_jsonl(tmp_path):
    from assay.protocols import Step
    from assay.search.training import StepLabels
    from assay.types import Task

    labels = [StepLabels(Task("t", "prompt"), (Step("Step 1: 3\n"), Step("Step 2: 4\n")), (0.75, 0.0), "monte_carlo")]
    [ex] = rm_data.load_step_labels(write(tmp_path, rm_data.step_labels_rows(labels)))
    assert ex.task.prompt == "prompt" and ex.steps == ("Step 1: 3\n", "Step 2: 4\n") and ex.labels == (0.75, 0.0)


def test_synthetic_arithmetic_preferences_keep_held_out_facts_apart():
    train = rm_data.arithmetic_preferences(300, seed=0)
    held = rm_data.arithmetic_preferences(100, seed=1, held_out=True)
    assert not {p.task.prompt for p in train} & {p.task.prompt for p in held}
    for p in train[:50]:
        assert p.chosen == f"\\boxed{{{p.task.answer}}}" and p.rejected != p.chosen
        gap = abs(int(p.rejected[7:-1]) - int(p.task.answer))
        assert (1 <= gap <= 2) if p.category == "near" else (3 <= gap <= 10)
    assert {p.category for p in train} == {"near", "far"}


def test_all_arithmetic_preferences_hold_every_pair_the_sampler_draws_once():
    """Each held-out expression with its 20 wrong answers (4 near, 16 far), no pair twice, every
    sampled held-out pair among them, and no training expression."""
    full = rm_data.all_arithmetic_preferences(held_out=True)
    keys = [(p.task.prompt, p.rejected) for p in full]
    assert len(keys) == len(set(keys))
    expressions = {p.task.prompt for p in full}
    assert len(full) == 20 * len(expressions)
    for prompt in list(expressions)[:10]:
        mine = [p for p in full if p.task.prompt == prompt]
        assert sum(p.category == "near" for p in mine) == 4
        assert sorted(abs(int(p.rejected[7:-1]) - int(p.task.answer)) for p in mine) == sorted([*range(1, 11)] * 2)
    assert {(p.task.prompt, p.rejected) for p in rm_data.arithmetic_preferences(500, seed=7, held_out=True)} <= set(keys)
    assert not expressions & {p.task.prompt for p in rm_data.arithmetic_preferences(500, seed=7)}
