"""The rubric judge over a scripted Generator: robust parsing, weighted rewards, and an
unparsable verdict as an error, never a reward."""

import pytest

from assay.protocols import Generation
from assay.trainer.tiny import build_tokenizer
from assay.types import Task
from assay.verifiers.learned.judge import Principle, RubricJudge, parse_verdict


class ScriptedGenerator:
    def __init__(self, replies):
        self.replies, self.prompts = list(replies), []

    def generate(self, prompts, params):
        self.prompts += [list(p) for p in prompts]
        return [Generation((), (), self.replies.pop(0), "eos") for _ in prompts]


RUBRIC = (Principle("accuracy", "Is the final answer correct?", 3.0), Principle("readable", "Is it readable?", 1.0))


@pytest.mark.parametrize("text, want", [
    ("accuracy: yes\nreadable: no", {"accuracy": True, "readable": False}),
    ("**Accuracy**: YES\n- readable - false", {"accuracy": True, "readable": False}),
    ('Reasoning... {"accuracy": "no", "readable": true}', {"accuracy": False, "readable": True}),
    ("accuracy: no\nreadable: yes\nCorrection:\naccuracy: yes", {"accuracy": True, "readable": True}),
    ("1. accuracy = pass\n2. readable = fail", {"accuracy": True, "readable": False}),
])
def test_parse_verdict_reads_common_forms_and_the_last_word_wins(text, want):
    assert parse_verdict(text, ["accuracy", "readable"]) == want


@pytest.mark.parametrize("text", ["accuracy: yes", "accuracy: maybe\nreadable: yes", "I think it is fine.", ""])
def test_parse_verdict_refuses_missing_or_unclear_principles(text):
    assert parse_verdict(text, ["accuracy", "readable"]) is None


def test_judge_reward_is_the_weighted_share_of_principles_that_hold():
    """weights 3 and 1: accuracy yes, readable no -> 3/4, not passed."""
    gen = ScriptedGenerator(["accuracy: yes\nreadable: no", "accuracy: yes\nreadable: yes"])
    judge = RubricJudge(gen, build_tokenizer(), RUBRIC)
    first, second = judge.verify_batch([Task("t", "2 + 2 ="), Task("u", "3 + 3 =")], ["4", "6"])
    assert first.reward == pytest.approx(0.75) and not first.passed and first.error is None
    assert first.components == {"accuracy": 1.0, "readable": 0.0}
    assert "readable" in first.feedback
    assert second.reward == 1.0 and second.passed
    prompt_text = build_tokenizer().decode(gen.prompts[0])
    assert "2 + 2 =" in prompt_text and "accuracy" in prompt_text and "readable" in prompt_text


def test_unparsable_judge_output_is_an_error_not_a_reward():
    judge = RubricJudge(ScriptedGenerator(["accuracy: yes, but I cannot tell"]), build_tokenizer(), RUBRIC)
    v = judge.verify(Task("t", "2 + 2 ="), "4")
    assert v.error is not None and "readable" in v.error and "accuracy" not in v.error
    assert v.reward == 0.0 and not v.passed and v.details["raw"].startswith("accuracy")


def test_principles_can_be_chosen_per_task():
    gen = ScriptedGenerator(["concise: yes"])
    task = Task("t", "2 + 2 =", meta={"principles": [{"name": "concise", "question": "Is it short?"}]})
    v = RubricJudge(gen, build_tokenizer(), RUBRIC).verify(task, "4")
    assert v.passed and v.components == {"concise": 1.0}
    with pytest.raises(ValueError, match="one word"):
        Principle("two words", "?")
