"""``assay/web-v0`` in text mode (no browser): every oracle solves its task, doing nothing or
answering with every candidate does not, episodes start from seeded state and never share it."""

from __future__ import annotations

import dataclasses
import socket
import threading
from urllib.parse import urlsplit

import gymnasium
import pytest

import assay
from assay.envs.web.tasks import load_tasks, task_from_config
from assay.errors import AssayError
from assay.verifiers.web.spec import EvalSpec

TASKS = load_tasks()
BY_ID = {t.id: t for t in TASKS}


@pytest.fixture(scope="module")
def env():
    env = assay.make("assay/web-v0")
    yield env
    env.close()


def run_oracle(env, task):
    env.reset(options={"task": task})
    for _ in range(30):
        obs, reward, terminated, truncated, info = env.step(env.unwrapped.oracle_action())
        assert "action_error" not in info, info.get("action_error")
        if terminated or truncated:
            return reward, info
    raise AssertionError("oracle did not finish")


def test_ships_enough_tasks_on_every_site():
    sites = {t.answer["site"] for t in TASKS}
    assert len(TASKS) >= 30 and sites == {"shop", "forum", "admin"}
    kinds = {kind for t in TASKS for kind in t.answer["eval"]["eval_types"]}
    assert kinds == {"string_match", "url_match", "program_html", "db_state"}


@pytest.mark.parametrize("task_id", sorted(BY_ID))
def test_every_oracle_scores_one(env, task_id):
    reward, info = run_oracle(env, BY_ID[task_id])
    assert reward == 1.0 and info["verdict"].passed, info["verdict"].feedback


def test_doing_nothing_scores_zero(env):
    """No task is solved by the seeded state itself (the checks look at something the agent does)."""
    for task in TASKS:
        env.reset(options={"task": task})
        _, reward, terminated, _, info = env.step('answer("")')
        assert terminated and reward == 0.0, (task.id, info["verdict"].feedback)


def test_answering_every_candidate_fails(env):
    for task in TASKS:
        ref = EvalSpec.from_config(task.answer["eval"]).reference
        if ref is None or not (ref.must_include or ref.must_exclude):
            continue
        env.reset(options={"task": task})
        stuffed = ", ".join([*ref.must_include, *ref.must_exclude])
        _, reward, *_ = env.step(f"answer({stuffed!r})")
        assert reward == 0.0, task.id


def test_near_miss_url_scores_zero(env):
    task = BY_ID["admin-active-engineering"]
    for miss in ["/employees?department=Engineering", "/employees?department=Engineering&status=active&sort=status",
                 "/employees?department=Engineering&status=on+leave"]:
        env.reset(options={"task": task})
        env.step(f"goto({miss!r})")
        _, reward, *_ = env.step('answer("done")')
        assert reward == 0.0, miss
    env.reset(options={"task": task})
    env.step('goto("/employees?status=active&department=Engineering")')
    assert env.step('answer("done")')[1] == 1.0


def test_each_episode_starts_from_the_seeded_state(env):
    task = BY_ID["admin-grace-inactive"]
    assert run_oracle(env, task)[0] == 1.0
    obs, _ = env.reset(options={"task": task})
    env.step('goto("/employees?q=Grace")')
    assert "Grace Liu" in env.render() and "| active" in env.render()


def test_concurrent_episodes_do_not_share_state():
    task = BY_ID["shop-add-two-mice"]
    results = {}

    def worker(name, solve):
        env = assay.make("assay/web-v0")
        try:
            env.reset(options={"task": task})
            for _ in range(10):
                action = env.unwrapped.oracle_action() if solve else 'scroll("down")'
                if not solve and env.unwrapped._steps == 3:
                    action = 'answer("done")'
                _, reward, terminated, truncated, _ = env.step(action)
                if terminated or truncated:
                    results[name] = reward
                    return
        finally:
            env.close()

    threads = [threading.Thread(target=worker, args=(f"{i}", i % 2 == 0)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == {"0": 1.0, "1": 0.0, "2": 1.0, "3": 0.0}


def test_invalid_actions_give_error_observations_then_end(env):
    env.reset(options={"task": BY_ID["shop-count-clothing"]})
    obs, reward, terminated, truncated, info = env.step("click(999)")
    assert "Last action error: no element [999]" in obs and reward == 0.0 and not (terminated or truncated)
    obs, *_ = env.step('fill(1, "x")')
    assert "needs a textbox" in obs
    obs, *_ = env.step('scroll("down")')  # a valid action resets the count of errors in a row
    assert "Last action error" not in obs
    obs, *_ = env.step('goto("http://example.com/")')
    assert "not on this site" in obs
    obs, *_ = env.step('goto("javascript:alert(1)")')
    assert "not on this site" in obs
    obs, reward, terminated, truncated, info = env.step("I refuse to answer.")
    assert truncated and reward == 0.0 and "3 invalid actions in a row" in info["verdict"].feedback
    with pytest.raises(gymnasium.error.ResetNeeded):
        env.step("back()")


def test_max_steps_truncates(env):
    small = assay.make("assay/web-v0", max_steps=2)
    try:
        small.reset(options={"task": BY_ID["shop-count-clothing"]})
        assert small.step('scroll("down")')[2:4] == (False, False)
        _, reward, terminated, truncated, info = small.step('scroll("down")')
        assert truncated and not terminated and reward == 0.0 and "verdict" in info
    finally:
        small.close()


def test_server_does_not_outlive_its_episode(env):
    env.reset(options={"task": BY_ID["shop-count-clothing"]})
    port = urlsplit(env.unwrapped._episode.server.base_url).port
    env.reset(options={"task": BY_ID["shop-count-clothing"]})  # a new episode ends the old one
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    port = urlsplit(env.unwrapped._episode.server.base_url).port
    env.step('answer("3")')
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_bad_configuration_is_refused():
    with pytest.raises(AssayError, match="mode"):
        assay.make("assay/web-v0", mode="firefox")
    with pytest.raises(AssayError, match="screenshot"):
        assay.make("assay/web-v0", screenshot=True)


def test_an_agent_can_sign_in_through_the_page(env):
    """Tasks with ``login`` start signed in; without it the agent can use the login form itself,
    and the site enforces who may edit what."""
    task = dataclasses.replace(BY_ID["forum-new-post"], meta={"login": None, "oracle": None})
    env.reset(options={"task": task})
    obs, *_ = env.step('goto("/post/1/edit")')
    assert "Log in" in obs
    obs, *_ = env.step('goto("/login")')
    page = env.unwrapped._episode.driver.page
    bid = {e.name: e.bid for e in page.elements}
    env.step(f'fill({bid["Username"]}, "alice")')
    env.step(f'fill({bid["Password"]}, "alice-pass")')
    obs, *_ = env.step(f'click({bid["Log in"]})')
    assert "Signed in as alice" in obs
    obs, *_ = env.step('goto("/post/1/edit")')  # bob's post
    assert "Only the author can edit this post." in obs
    env.step('answer("done")')


def test_bad_task_configs_are_refused_with_the_reason():
    good = {"task_id": "x", "sites": ["shop"], "start_url": "/", "intent": "?",
            "eval": {"eval_types": ["string_match"], "reference_answers": {"exact_match": "3"}}, "oracle": [["answer", "3"]]}
    assert task_from_config(good).id == "x"
    for change, fragment in [({"sites": ["bank"]}, "sites"), ({"start_url": "http://x/"}, "start_url"),
                             ({"eval": {"eval_types": []}}, "eval_types"), ({"oracle": [["click", "link", "A"]]}, "answer"),
                             ({"login": {"user": "a"}}, "login")]:
        with pytest.raises(AssayError, match=fragment):
            task_from_config({**good, **change})


def test_gold_response_plays_the_oracle_step_by_step(env):
    """``play`` with the gold response (what ``assay demo --tour`` does) solves a multi-step task."""
    from assay.envs.episode import play

    trajectory = play(env, lambda obs, info: env.unwrapped.gold_response(info["task"]),
                      options={"task": BY_ID["admin-file-vacation"]})
    assert trajectory.reward == 1.0 and trajectory.verdict.passed
    with pytest.raises(AssayError, match="step by step"):
        env.unwrapped.gold_response(BY_ID["admin-file-vacation"])  # the episode has ended
