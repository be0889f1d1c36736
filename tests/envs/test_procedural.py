"""Procedural generators: determinism, gold answers, step ground truth, step checking.

Gold answers are recomputed here without the generators' code: arithmetic by parsing the rendered
expression with Python's ``ast`` and evaluating it with ``fractions.Fraction``, modchain by
re-reading the prompt's own lines.
"""

from __future__ import annotations

import ast
import re
from fractions import Fraction

import numpy as np
import pytest

from assay import Task
from assay.envs import procedural
from assay.envs.procedural import GENERATORS, arithmetic, get_generator, modchain, register_generator
from assay.errors import AssayError

SEEDS = range(30)


def rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


# --- an evaluator that shares nothing with the generator -------------------------------------

_OPS = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,  # Fraction / Fraction is exact: an inexact division shows up
}


def fraction_eval(node: ast.AST, postorder: list[Fraction]) -> Fraction:
    """Exact value of an expression AST; records each binary operation's value in post-order."""
    if isinstance(node, ast.Expression):
        return fraction_eval(node.body, postorder)
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return Fraction(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant):
        return -Fraction(node.operand.value)  # a negative literal such as (-3), not a step
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        a, b = fraction_eval(node.left, postorder), fraction_eval(node.right, postorder)
        value = _OPS[type(node.op)](a, b)
        postorder.append(value)
        return value
    raise AssertionError(f"unexpected syntax in a generated expression: {ast.dump(node)}")


def evaluate(expression: str) -> tuple[Fraction, list[Fraction]]:
    steps: list[Fraction] = []
    return fraction_eval(ast.parse(expression, mode="eval"), steps), steps


# --- shared properties ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["arithmetic", "modchain"])
@pytest.mark.parametrize("difficulty", [1, 3, 6])
def test_same_seed_same_task(name, difficulty):
    gen = get_generator(name)
    assert gen(rng(7), difficulty) == gen(rng(7), difficulty)


@pytest.mark.parametrize("name", ["arithmetic", "modchain"])
def test_different_seeds_mostly_differ(name):
    ids = {get_generator(name)(rng(s), 3).id for s in range(40)}
    assert len(ids) >= 36


@pytest.mark.parametrize("name, prefix", [("arithmetic", "arith"), ("modchain", "modchain")])
def test_task_shape(name, prefix):
    task = get_generator(name)(rng(0), 4)
    assert re.fullmatch(rf"{prefix}-d4-[0-9a-f]{{10}}", task.id)
    assert task.domain == "math" and isinstance(task.answer, str)
    assert task.meta["generator"] == name and task.meta["difficulty"] == 4
    assert all(set(step) >= {"text", "value"} for step in task.meta["steps"])
    assert "\\boxed{}" in task.prompt
    assert Task.from_dict(task.to_dict()) == task  # survives the JSONL round trip


def test_ids_are_pinned():
    """numpy's PCG64 stream is stable across versions, so these ids only change when a generator
    does. If you changed one on purpose, update the ids (saved datasets' ids move with them)."""
    assert arithmetic.generate(rng(0), 3).id == PINNED["arithmetic"]
    assert modchain.generate(rng(0), 3).id == PINNED["modchain"]


PINNED = {"arithmetic": "arith-d3-4e5794e528", "modchain": "modchain-d3-4c68e1b5fe"}


@pytest.mark.parametrize("name", ["arithmetic", "modchain"])
@pytest.mark.parametrize("bad", [0, -2, 1.5, "3", True, None])
def test_difficulty_is_validated(name, bad):
    with pytest.raises(AssayError, match="difficulty must be an int >= 1"):
        get_generator(name)(rng(0), bad)


def test_numpy_int_difficulty_is_accepted():
    assert arithmetic.generate(rng(0), np.int64(2)).meta["difficulty"] == 2


# --- arithmetic -------------------------------------------------------------------------------


@pytest.mark.parametrize("difficulty", range(1, 9))
def test_arithmetic_gold_equals_independent_evaluation(difficulty):
    for seed in SEEDS:
        task = arithmetic.generate(rng(seed), difficulty)
        value, _ = evaluate(task.meta["expression"])
        assert value.denominator == 1, task.meta["expression"]
        assert task.answer == str(value.numerator)
        assert task.meta["expression"] in task.prompt


@pytest.mark.parametrize("difficulty", range(1, 9))
def test_arithmetic_steps_are_each_operation_in_evaluation_order(difficulty):
    for seed in SEEDS:
        task = arithmetic.generate(rng(seed), difficulty)
        _, postorder = evaluate(task.meta["expression"])
        steps = task.meta["steps"]
        assert [s["value"] for s in steps] == postorder  # every intermediate is an exact integer
        for step in steps:
            assert evaluate(step["expr"])[0] == step["value"]
            assert step["text"].endswith(f"= {step['value']}")
            left_right = step["text"].rsplit("=", 1)[0]
            assert evaluate(left_right)[0] == step["value"]  # "5 * 4" really is 20
        assert steps[-1]["value"] == int(task.answer)


def test_arithmetic_difficulty_is_monotonic_in_steps():
    counts = [{len(arithmetic.generate(rng(s), d).meta["steps"]) for s in SEEDS} for d in range(1, 11)]
    assert counts == [{d} for d in range(1, 11)]


def test_arithmetic_features_by_difficulty():
    def sample(d):
        return [arithmetic.generate(rng(s), d) for s in range(60)]

    assert all(re.fullmatch(r"\d+ [+-] \d+", t.meta["expression"]) for t in sample(1))
    for d in (2, 3, 4):  # no negatives below 5, not even in intermediate values
        assert all(s["value"] >= 0 for t in sample(d) for s in t.meta["steps"])
        assert not any("(-" in t.meta["expression"] for t in sample(d))
    assert any("/" in t.meta["expression"] for t in sample(3))
    assert any("(-" in t.meta["expression"] for t in sample(5))
    assert any(re.search(r"\(.*\(", t.meta["expression"]) for t in sample(6))  # nested parentheses


# --- modchain ---------------------------------------------------------------------------------

_PROMPT_STEP = re.compile(r"x_(\d+) = \(x_(\d+) ([+*-]) (\d+)\) mod (\d+)")


def replay_prompt(task: Task) -> list[int]:
    """Recompute x_1..x_k from the prompt text alone: what the model is asked is what is graded."""
    x = int(re.search(r"x_0 = (\d+)", task.prompt).group(1))
    values = []
    for i, (idx, prev, op, a, m) in enumerate(_PROMPT_STEP.findall(task.prompt), 1):
        assert (int(idx), int(prev)) == (i, i - 1)
        x = {"+": x + int(a), "-": x - int(a), "*": x * int(a)}[op] % int(m)
        values.append(x)
    return values


@pytest.mark.parametrize("difficulty", [1, 2, 4, 7])
def test_modchain_gold_and_steps_equal_replay_of_prompt(difficulty):
    for seed in SEEDS:
        task = modchain.generate(rng(seed), difficulty)
        replay = replay_prompt(task)
        assert len(replay) == difficulty + 2
        assert modchain.step_values(task) == replay
        assert task.answer == str(replay[-1])
        m = task.meta["modulus"]
        assert all(0 <= v < m for v in replay)


def test_modchain_grows_with_difficulty():
    lengths = [len(modchain.generate(rng(0), d).meta["steps"]) for d in range(1, 9)]
    assert lengths == sorted(set(lengths))  # strictly increasing
    mean_modulus = [np.mean([modchain.generate(rng(s), d).meta["modulus"] for s in SEEDS]) for d in range(1, 9)]
    assert all(a < b for a, b in zip(mean_modulus, mean_modulus[1:]))


def _response(values, final=None, fmt="Step {i}: {v}"):
    lines = [fmt.format(i=i, v=v) for i, v in enumerate(values, 1)]
    boxed = final if final is not None else values[-1]
    return "Working it out.\n" + "\n".join(lines) + f"\n\nSo the answer is \\boxed{{{boxed}}}."


def test_check_steps_all_correct():
    task = modchain.generate(rng(3), 3)
    gold = modchain.step_values(task)
    assert modchain.check_steps(task, _response(gold)) == [True] * len(gold)


def test_check_steps_flags_the_wrong_step_only():
    task = modchain.generate(rng(3), 3)
    gold = modchain.step_values(task)
    wrong = list(gold)
    wrong[2] = (wrong[2] + 1) % task.meta["modulus"]
    expected = [True] * len(gold)
    expected[2] = False
    assert modchain.check_steps(task, _response(wrong)) == expected


def test_check_steps_missing_steps_are_none():
    task = modchain.generate(rng(3), 3)
    gold = modchain.step_values(task)
    text = "\n".join(f"Step {i}: {v}" for i, v in enumerate(gold, 1) if i != 2)
    result = modchain.check_steps(task, text)
    assert result[1] is None and result[0] is True and all(result[2:])
    assert modchain.check_steps(task, "no steps here, \\boxed{3}") == [None] * len(gold)


@pytest.mark.parametrize(
    "fmt",
    [
        "**Step {i}:** {v}",
        "**Step {i}**: {v}",
        "step {i}: x_{i} = {v}",
        "Step {i}: $x_{i} = {v}$",
        "Step {i}: (something * 3) mod m = {v}",
        "- Step {i}: {v} (reduced)",
    ],
)
def test_check_steps_reads_common_formats(fmt):
    task = modchain.generate(rng(5), 2)
    gold = modchain.step_values(task)
    assert modchain.check_steps(task, _response(gold, fmt=fmt)) == [True] * len(gold)


def test_check_steps_last_statement_wins_and_unreduced_is_wrong():
    task = modchain.generate(rng(5), 2)
    gold = modchain.step_values(task)
    m = task.meta["modulus"]
    text = _response(gold) + f"\nWait, correction:\nStep 1: {(gold[0] + 1) % m}\nStep 2: {gold[1] + m}"
    assert modchain.check_steps(task, text)[:3] == [False, False, True]


def test_step_values_rejects_other_tasks():
    with pytest.raises(AssayError, match="not a modchain task"):
        modchain.step_values(arithmetic.generate(rng(0), 2))


# --- registry ---------------------------------------------------------------------------------


def test_unknown_generator_suggests_a_name():
    with pytest.raises(AssayError, match="Did you mean 'arithmetic'"):
        get_generator("arithmatic")


def test_register_generator(monkeypatch):
    monkeypatch.setattr(procedural, "GENERATORS", dict(GENERATORS))

    def const(rng, difficulty):
        return Task(id=f"const-{difficulty}", prompt="1 + 1?", answer="2", domain="math")

    register_generator("const", const)
    assert get_generator("const") is const
    register_generator("const", const)  # same function again: a no-op
    with pytest.raises(AssayError, match="override=True"):
        register_generator("const", lambda r, d: const(r, d))
    register_generator("const", arithmetic.generate, override=True)
    assert get_generator("const") is arithmetic.generate
    with pytest.raises(AssayError, match="callable"):
        register_generator("nope", 3)
