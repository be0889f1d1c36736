"""``assay/verilog-v0``: the multi-turn episode (submit, read feedback, retry), its two reward
modes, and its task sources. The generic contract is in test_conformance.py."""

from __future__ import annotations

from pathlib import Path

import pytest

import assay
from assay.envs.episode import play
from assay.errors import AssayError
from tests.conftest import require_binary

VERILOGEVAL_SAMPLE = Path(__file__).parents[1] / "verifiers" / "verilog" / "data" / "verilogeval"
TASK_ID = "verilog/counter8_enable"


@pytest.fixture(scope="module", autouse=True)
def icarus():
    require_binary("iverilog")
    require_binary("vvp")


def start(env_kwargs: dict):
    env = assay.make("assay/verilog-v0", **env_kwargs)
    source = env.unwrapped.source
    task = next(t for t in source if t.id == TASK_ID)
    obs, info = env.reset(seed=0, options={"task": task})
    return env, task, obs


def test_feedback_comes_back_and_a_retry_can_pass():
    env, task, obs = start({"max_turns": 3})
    assert "TopModule" in obs
    obs, reward, terminated, truncated, info = env.step(task.meta["buggy"])
    assert (reward, terminated, truncated) == (0.0, False, False) and info["attempt"] == 1
    assert "output 'q'" in obs and "mismatch" in obs and "2 attempts left" in obs
    assert info["messages"][-1] == {"role": "user", "content": obs}
    obs, reward, terminated, _, info = env.step(env.unwrapped.gold_response(task))
    assert (obs, reward, terminated) == ("", 1.0, True) and info["verdict"].passed and info["attempt"] == 2
    assert [m["role"] for m in info["messages"]] == ["user", "assistant", "user", "assistant"]


def test_compile_errors_are_fed_back_with_line_numbers():
    env, task, _ = start({"max_turns": 2})
    obs, *_ = env.step("```verilog\nmodule TopModule(input clk, input reset, input en, output reg [7:0] q);\n"
                       "  always @(posedge clk) q <= q + 1\nendmodule\n```")
    assert "submission.sv:3" in obs


def test_discounted_reward_pays_less_after_a_retry():
    env, task, _ = start({"max_turns": 3, "reward_mode": "discounted", "discount": 0.5})
    env.step(task.meta["buggy"])
    env.step(task.meta["buggy"])
    _, reward, terminated, _, _ = env.step(env.unwrapped.gold_response(task))
    assert terminated and reward == 0.25


def test_final_mode_pays_the_last_attempt_in_full():
    env, task, _ = start({"max_turns": 3, "reward_mode": "final"})
    env.step(task.meta["buggy"])
    _, reward, terminated, _, _ = env.step(env.unwrapped.gold_response(task))
    assert terminated and reward == 1.0


def test_the_last_allowed_attempt_ends_the_episode():
    env, task, _ = start({"max_turns": 2})
    env.step(task.meta["buggy"])
    obs, reward, terminated, truncated, info = env.step(task.meta["buggy"])
    assert (obs, reward, terminated, truncated) == ("", 0.0, True, False) and info["attempt"] == 2


def test_an_unjudgeable_task_ends_at_once():
    env, task, _ = start({"max_turns": 3})
    broken = task.__class__(id="broken", prompt="p", answer={"testbench": "", "reference": "", "top": "T"})
    env.reset(options={"task": broken})
    _, reward, terminated, _, info = env.step("module T; endmodule")
    assert terminated and reward == 0.0 and info["verdict"].error is not None


def test_play_records_every_turn():
    env, task, _ = start({"max_turns": 3})
    answers = iter([task.meta["buggy"], env.unwrapped.gold_response(task)])
    trajectory = play(env, lambda obs, info: next(answers), options={"task": task})
    assert trajectory.reward == 1.0
    assert [t.role for t in trajectory.turns] == ["user", "assistant", "environment", "assistant"]


def test_verilogeval_folder_as_the_task_source():
    env = assay.make("assay/verilog-v0", path=str(VERILOGEVAL_SAMPLE))
    _, info = env.reset(seed=0)
    assert info["task"].id.startswith("verilogeval/Prob00")
    _, reward, *_ = env.step(env.unwrapped.gold_response(info["task"]))
    assert reward == 1.0


@pytest.mark.parametrize("kwargs, match", [
    ({"max_turns": 0}, "max_turns"), ({"max_turns": True}, "max_turns"),
    ({"reward_mode": "best"}, "reward_mode"), ({"discount": 0.0}, "discount"),
    ({"path": "problems.csv"}, "VerilogEval folder or a .jsonl"),
])
def test_bad_options_say_what_to_use(kwargs, match):
    with pytest.raises(AssayError, match=match):
        assay.make("assay/verilog-v0", **kwargs)
