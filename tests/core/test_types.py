"""Core values: frozen, validated, and lossless through JSONL."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assay import Provenance, Task, Trajectory, Turn, Verdict
from assay.serialization import decode, encode, iter_jsonl, write_jsonl
from assay.errors import AssayError

json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(), st.binary(max_size=16))
values = st.recursive(
    json_leaf,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.tuples(inner, inner),
                            st.dictionaries(st.text(min_size=2, max_size=8).filter(lambda k: not k.startswith("__")), inner, max_size=4)),
    max_leaves=12,
)


def full_trajectory() -> Trajectory:
    task = Task("t1", [{"role": "user", "content": "2+2?"}], answer=("4", 4), domain="math", meta={"blob": b"\x00\xff", "w": 0.1})
    return Trajectory(
        task_id="t1",
        group_id="g0",
        turns=(Turn("user", "2+2?"), Turn("assistant", "\\boxed{4}", (5, 6, 7), (-0.1, -1e-300, -2.5)),
               Turn("environment", "ok"), Turn("assistant", "done", (9,), (-0.3,))),
        prompt_ids=(1, 2),
        token_ids=(5, 6, 7, 8, 9),
        loss_mask=(1, 1, 1, 0, 1),
        logprobs=(-0.1, -1e-300, -2.5, 0.0, -0.3),
        step_boundaries=(3, 5),
        reward=1.0,
        step_rewards=(0.5, 1.0),
        verdict=Verdict(1.0, True, {"correctness": 1.0, "format": 1.0}, "ok", {"extracted": "4"}),
        task=task,
        provenance=Provenance(env_id="assay/math-v0", seed=7, verifier="math", verifier_version="1.0.0"),
    )


def test_trajectory_jsonl_round_trip_is_exact(tmp_path):
    traj = full_trajectory()
    path = tmp_path / "t.jsonl"
    write_jsonl(path, [traj, traj])
    back = [Trajectory.from_dict(obj) for _, obj in iter_jsonl(path)]
    assert back == [traj, traj]
    assert isinstance(back[0].turns[1], Turn) and isinstance(back[0].token_ids, tuple)
    assert back[0].task.meta["blob"] == b"\x00\xff" and back[0].task.answer == ("4", 4)
    assert back[0].logprobs[1] == -1e-300


@settings(max_examples=200, deadline=None)
@given(values)
def test_encode_decode_is_identity(value):
    assert decode(json.loads(json.dumps(encode(value)))) == value


def test_values_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Task("a", "p").answer = 3  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        Verdict(1.0, True).reward = 0.0  # type: ignore[misc]


@pytest.mark.parametrize("bad", [
    dict(token_ids=(1, 2), loss_mask=(1,)),
    dict(token_ids=(1, 2), logprobs=(0.0,)),
    dict(token_ids=(1, 2), loss_mask=(1, 2)),
    dict(token_ids=(1, 2), step_boundaries=(2, 1)),
    dict(token_ids=(1, 2), step_boundaries=(3,)),
    dict(task=Task("other", "p")),
])
def test_trajectory_rejects_inconsistent_fields(bad):
    with pytest.raises(ValueError):
        Trajectory(task_id="t", **bad)


def test_verdict_invariants():
    with pytest.raises(ValueError):
        Verdict(float("nan"), False)
    with pytest.raises(ValueError):
        Verdict(1.0, True, error="timeout")
    v = Verdict.failure("timeout after 5s")
    assert (v.reward, v.passed, v.error) == (0.0, False, "timeout after 5s") and "timeout" in v.feedback


def test_task_validation():
    with pytest.raises(ValueError):
        Task("", "p")
    with pytest.raises(TypeError):
        Task("a", 42)  # type: ignore[arg-type]


def test_unknown_fields_and_non_lossless_values_are_rejected():
    with pytest.raises(ValueError, match="unknown fields"):
        Task.from_dict({"id": "a", "prompt": "p", "bogus": 1})
    with pytest.raises(TypeError):
        encode({1: "int key"})
    with pytest.raises(TypeError):
        encode({"x": object()})
    assert math.isinf(decode(json.loads(json.dumps(encode(float("inf"))))))


def test_bad_jsonl_line_names_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"a": 1}\n\n{not json}\n')
    with pytest.raises(AssayError, match=r"bad.jsonl:3"):
        list(iter_jsonl(path))
