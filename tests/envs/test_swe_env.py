"""``assay/swe-v0``: tools, error observations, budgets, and scripted episodes that fix a real
bug in the shipped inflection task (bwrap; one episode on Docker)."""

from __future__ import annotations

import json

import pytest

import assay
from assay.envs.swe.tasks import shipped_tasks
from assay.envs.swe.tools import TOOL_SCHEMAS, CallError, ToolCall, format_call, parse_call
from tests.verifiers.swe.conftest import bwrap_runtime, docker_runtime, swe_cache  # noqa: F401 (fixtures)

TASK = next(t for t in shipped_tasks() if t.id.startswith("inflection-0.5.1.flip_comparison"))
BUG, FIX = "if number % 100 not in (11, 12, 13):", "if number % 100 in (11, 12, 13):"


def xml(name: str, **params: str) -> str:
    body = "".join(f"<parameter={k}>\n{v}\n</parameter>\n" for k, v in params.items())
    return f"<function={name}>\n{body}</function>"


@pytest.fixture
def env(bwrap_runtime):
    env = assay.make("assay/swe-v0", shell_timeout_s=3)
    env.reset(options={"task": TASK})
    yield env
    env.close()


# -- the call format ---------------------------------------------------------------------------

def test_both_text_forms_parse_to_the_same_call():
    want = ToolCall("str_replace", {"path": "a.py", "old": 'x = "1"\n', "new": "x = {'a': 2}\n"})
    assert parse_call(format_call("str_replace", **want.arguments)) == want
    assert parse_call(xml("str_replace", path="a.py", old='x = "1"\n', new="x = {'a': 2}\n")) == want
    assert parse_call("thinking...\n" + format_call("view", path="a", start="3")) == ToolCall("view", {"path": "a", "start": 3})


@pytest.mark.parametrize("bad, says", [
    ("just text", "no tool call"), ("<tool_call>{not json}</tool_call>", "not valid JSON"),
    (format_call("rm_rf", path="/"), "unknown tool"), (format_call("view"), "missing argument"),
    (format_call("view", path="a", color="red"), "unknown argument"), (format_call("view", path="a", start="x"), "integer"),
])
def test_malformed_calls_are_errors_not_crashes(bad, says):
    got = parse_call(bad)
    assert isinstance(got, CallError) and says in got.message


def test_json_schema_lists_every_tool_in_openai_form():
    names = [t["function"]["name"] for t in TOOL_SCHEMAS]
    assert names == ["shell", "view", "search", "str_replace", "create", "submit"]
    for t in TOOL_SCHEMAS:
        assert t["type"] == "function" and t["function"]["parameters"]["type"] == "object"
    json.dumps(TOOL_SCHEMAS)


# -- tools in the sandbox ------------------------------------------------------------------------

def test_reset_offers_the_schema_and_documents_the_format(bwrap_runtime):
    env = assay.make("assay/swe-v0")
    obs, info = env.reset(options={"task": TASK})
    assert info["tools"] == TOOL_SCHEMAS and "<tool_call>" in obs and "<function=" in obs and "<issue>" in obs
    assert env.unwrapped.setup_s < 5
    env.close()


def test_view_search_shell(env):
    obs = env.step(format_call("search", pattern="def ordinal\\("))[0]
    assert "inflection/__init__.py:" in obs and "def ordinal(" in obs
    line = int(obs.split("inflection/__init__.py:")[1].split(":")[0])
    obs = env.step(format_call("view", path="inflection/__init__.py", start=line, end=line + 1))[0]
    assert obs.splitlines()[0].strip().startswith(f"{line}\tdef ordinal(") and len(obs.splitlines()) == 2
    assert "test_inflection.py" in env.step(format_call("view", path="."))[0]
    obs = env.step(format_call("shell", command="echo hi; exit 3"))[0]
    assert "hi" in obs and "[exit code 3]" in obs


def test_shell_is_time_limited_and_truncated(env):
    obs = env.step(format_call("shell", command="sleep 20"))[0]
    assert "timed out" in obs
    obs = env.step(format_call("shell", command="yes | head -c 100000"))[0]
    assert "characters cut" in obs and len(obs) < 8000


def test_edit_errors_are_observations(env):
    assert "occurs 0 times" in env.step(xml("str_replace", path="inflection/__init__.py", old="nope", new="x"))[0]
    assert "occurs" in env.step(xml("str_replace", path="inflection/__init__.py", old="return", new="x"))[0]
    assert "exists" in env.step(xml("create", path="setup.py", content="x"))[0]
    assert "error" in env.step(format_call("view", path="missing.py"))[0]
    obs, reward, terminated, truncated, _ = env.step(format_call("view", path="../../etc/passwd"))
    assert obs.startswith("error") and not (terminated or truncated)


# -- episodes ---------------------------------------------------------------------------------------

def _fix_and_submit(env, extra: list[str] = ()):
    obs = env.step(xml("str_replace", path="inflection/__init__.py", old=BUG, new=FIX))[0]
    assert "edited" in obs, obs
    for action in extra:
        env.step(action)
    return env.step(format_call("submit"))


def test_agent_fixes_the_bug_and_is_resolved(env):
    obs, reward, terminated, truncated, info = _fix_and_submit(env, [xml("create", path="NOTES.txt", content="fixed\n")])
    assert (reward, terminated, truncated) == (1.0, True, False), info["verdict"].feedback
    assert "NOTES.txt" in info["patch"] and "__pycache__" not in info["patch"]


def test_tampering_with_dot_git_does_not_change_what_is_graded(env):
    reward = _fix_and_submit(env, [format_call("shell", command="python3 -c 'import inflection' && rm -rf .git")])[1]
    assert reward == 1.0


def test_editing_the_tests_instead_of_the_code_earns_nothing(env):
    cheat = xml("str_replace", path="test_inflection.py", old="assert ordinalized == number + inflection.ordinal(number)",
                new="assert True")
    assert "edited" in env.step(cheat)[0]
    obs, reward, terminated, truncated, info = env.step(format_call("submit"))
    assert reward == 0.0 and "test_inflection.py" in info["verdict"].details["reverted"]


def test_wrong_fix_gets_feedback_with_failing_tests(env):
    env.step(xml("str_replace", path="inflection/__init__.py", old=BUG, new="if False:"))
    _, reward, _, _, info = env.step(format_call("submit"))
    assert reward == 0.0 and "test_ordinal" in info["verdict"].feedback and "FAIL_TO_PASS" in info["verdict"].feedback


def test_step_budget_ends_the_episode_and_grades_current_changes(bwrap_runtime):
    env = assay.make("assay/swe-v0", max_steps=2)
    env.reset(options={"task": TASK})
    _, _, terminated, truncated, _ = env.step(xml("str_replace", path="inflection/__init__.py", old=BUG, new=FIX))
    assert not (terminated or truncated)
    _, reward, terminated, truncated, info = env.step(format_call("shell", command="true"))
    assert (terminated, truncated, info["budget_exhausted"], reward) == (False, True, "steps", 1.0)


def test_token_budget_and_format_error_budget(bwrap_runtime):
    env = assay.make("assay/swe-v0", max_tokens=2000)
    obs, _ = env.reset(options={"task": TASK})
    _, reward, _, truncated, info = env.step(format_call("shell", command="cat test_inflection.py"))
    assert truncated and info["budget_exhausted"] == "tokens" and reward == 0.0
    env = assay.make("assay/swe-v0", max_format_errors=2)
    env.reset(options={"task": TASK})
    assert not env.step("hmm")[3]
    _, _, _, truncated, info = env.step("hmm")
    assert truncated and info["budget_exhausted"] == "malformed calls" and not info["verdict"].passed


def test_an_episode_on_docker(docker_runtime):
    env = assay.make("assay/swe-v0", backend="docker")
    env.reset(options={"task": TASK})
    obs, reward, *_ = _fix_and_submit(env)
    assert reward == 1.0
    env.close()
