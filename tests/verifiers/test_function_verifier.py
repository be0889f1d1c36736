"""A user's reward as ``"module:attr"`` wherever a verifier name goes: a reward function (number,
bool or Verdict) or a Verifier class, imported from the current directory. Bad returns and
exceptions become Verdicts with ``error``; a bad name is one clear error."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import assay
from assay import Task, verifiers
from assay.errors import AssayError

MODULE = textwrap.dedent('''
    from assay import Verdict
    from assay.verifiers import BaseVerifier

    def exact(task, response):
        return response.strip() == task.answer

    def shared_digits(task, response):
        return sum(a == b for a, b in zip(response.strip(), task.answer)) / len(task.answer)

    def judged(task, response):
        return Verdict(0.5, True, feedback="half")

    def broken(task, response):
        raise ValueError("boom")

    def wrong_type(task, response):
        return "yes"

    def not_finite(task, response):
        return float("nan")

    class Prefix(BaseVerifier):
        name = "prefix"

        def __init__(self, length=1):
            self.length = length

        def _verify(self, task, response):
            ok = response[:self.length] == task.answer[:self.length]
            return Verdict(float(ok), ok)

    THRESHOLD = 3
''')


@pytest.fixture
def rewards_dir(tmp_path, monkeypatch):
    """A folder holding my_rewards.py, as the current directory (how a user runs `assay train`)."""
    (tmp_path / "my_rewards.py").write_text(MODULE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    yield tmp_path
    sys.modules.pop("my_rewards", None)


TASK = Task("t", "Say 42.", answer="42")


def test_a_function_returning_a_bool_or_number_or_verdict_is_a_verifier(rewards_dir):
    assert verifiers.get("my_rewards:exact").verify(TASK, " 42\n") == assay.Verdict(1.0, True)
    assert verifiers.get("my_rewards:exact").verify(TASK, "41").passed is False
    partial = verifiers.get("my_rewards:shared_digits").verify(TASK, "40")
    assert (partial.reward, partial.passed) == (0.5, True)
    assert verifiers.get("my_rewards:shared_digits").verify(TASK, "13").passed is False  # reward 0
    assert verifiers.get("my_rewards:judged").verify(TASK, "x").feedback == "half"


@pytest.mark.parametrize("name, message", [("broken", "ValueError: boom"), ("wrong_type", "returned 'yes'"),
                                           ("not_finite", "returned nan")])
def test_a_reward_function_that_fails_gives_an_error_verdict_never_an_exception(rewards_dir, name, message):
    verdict = verifiers.get(f"my_rewards:{name}").verify(TASK, "42")
    assert verdict.error is not None and message in verdict.error and not verdict.passed


def test_a_verifier_class_is_built_with_the_options(rewards_dir):
    assert verifiers.get("my_rewards:Prefix", length=1).verify(TASK, "49").passed
    assert not verifiers.get("my_rewards:Prefix", length=2).verify(TASK, "49").passed


@pytest.mark.parametrize("name, message", [
    ("my_rewards:nothing", "module 'my_rewards' has no 'nothing'"),
    ("no_such_module:exact", "cannot import 'no_such_module'"),
    ("my_rewards:THRESHOLD", "my_rewards:THRESHOLD is a int; name a Verifier class or a function"),
])
def test_a_bad_name_is_one_clear_error(rewards_dir, name, message):
    with pytest.raises(AssayError, match=message):
        verifiers.get(name)


def test_provenance_names_the_verifier_so_rescore_rebuilds_it(rewards_dir):
    """A class names itself ("prefix"); the provenance keeps the name it was built by."""
    data = rewards_dir / "data.jsonl"
    data.write_text(json.dumps({"problem": "Say 42.", "answer": "42"}) + "\n")
    env = assay.make("assay/math-v0", path=str(data), verifier="my_rewards:Prefix")
    env.reset(seed=0)
    provenance = env.step("42")[4]["provenance"]
    assert provenance.verifier == "my_rewards:Prefix" and verifiers.get(provenance.verifier).name == "prefix"


def test_a_reward_function_takes_no_options(rewards_dir):
    with pytest.raises(AssayError, match="takes no verifier_options"):
        verifiers.get("my_rewards:exact", strict=True)


def test_an_env_scores_with_it_and_pickles_with_its_name(rewards_dir):
    data = rewards_dir / "data.jsonl"
    data.write_text(json.dumps({"problem": "Say 42.", "answer": "42"}) + "\n")
    env = assay.make("assay/math-v0", path=str(data), verifier="my_rewards:exact")
    env.reset(seed=0)
    _, reward, _, _, info = env.step("42")
    assert reward == 1.0 and info["provenance"].verifier == "my_rewards:exact"
    again = pickle.loads(pickle.dumps(env))
    again.reset(seed=0)
    assert again.step("43")[1] == 0.0


def test_assay_train_uses_it_from_the_current_directory(rewards_dir, tmp_path):
    """Through the `assay` console script, which does not search the current directory itself."""
    from assay.trainer.tiny import save_tiny

    tiny = save_tiny(tmp_path / "tiny", hidden_size=32, layers=1, heads=2)
    (rewards_dir / "data.jsonl").write_text("".join(json.dumps({"problem": f"Say {k}.", "answer": str(k)}) + "\n"
                                                    for k in range(4)))
    out = subprocess.run([str(Path(sys.prefix) / "bin" / "assay"), "train", "--no-progress", "env_id=assay/math-v0",
                          "env_kwargs={path: data.jsonl, verifier: my_rewards:shared_digits}", f"model={tiny}",
                          "steps=1", "eval_size=2", "prompts_per_step=2", "group_size=2", "max_new_tokens=3",
                          f"run_dir={tmp_path / 'run'}"], cwd=rewards_dir, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "held-out accuracy:" in out.stdout
