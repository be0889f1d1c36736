"""``assay/web-v0`` in real headless Chromium: every oracle scores 1 in both modes and both modes
show the same observations; page JavaScript cannot change the reward; screenshots; cleanup.

One browser serves the whole module (an env keeps its browser), each episode gets a fresh context.
Needs Debian's ``chromium`` (skips without it, fails under ASSAY_REQUIRE_ALL=1).
"""

from __future__ import annotations

import re

import pytest

import assay
from assay.envs.web.tasks import load_tasks
from assay.errors import AssayError
from tests.conftest import require_binary

TASKS = load_tasks()
BY_ID = {t.id: t for t in TASKS}


@pytest.fixture(scope="module")
def browser_env():
    require_binary("chromium")
    env = assay.make("assay/web-v0", mode="browser")
    yield env
    env.close()


@pytest.fixture(scope="module")
def text_env():
    env = assay.make("assay/web-v0", mode="text")
    yield env
    env.close()


def oracle_transcript(env, task):
    """Observations and actions of the oracle's episode (the per-episode port masked), and its reward."""
    obs, _ = env.reset(options={"task": task})
    seen = [obs]
    for _ in range(30):
        action = env.unwrapped.oracle_action()
        obs, reward, terminated, truncated, info = env.step(action)
        seen += [action, obs]
        if terminated or truncated:
            return [re.sub(r"127\.0\.0\.1:\d+", "SITE", s) for s in seen], reward, info
    raise AssertionError("oracle did not finish")


@pytest.mark.parametrize("task_id", sorted(BY_ID))
def test_oracle_scores_one_in_both_modes_which_agree(browser_env, text_env, task_id):
    in_browser, reward, info = oracle_transcript(browser_env, BY_ID[task_id])
    assert reward == 1.0, info["verdict"].feedback
    in_text, reward, info = oracle_transcript(text_env, BY_ID[task_id])
    assert reward == 1.0, info["verdict"].feedback
    assert in_browser == in_text


def page_of(env):
    return env.unwrapped._episode.driver.tab


def test_page_script_cannot_forge_page_content(browser_env):
    """Script rewrites the element the check reads; the check reads the page the site serves."""
    browser_env.reset(options={"task": BY_ID["admin-henry-team-lead"]})
    browser_env.step('goto("/employees/7")')
    page_of(browser_env).evaluate("() => { document.querySelector('#role').textContent = 'Team Lead'; }")
    browser_env.unwrapped._episode.driver.refresh()
    assert 'Team Lead' in browser_env.unwrapped._observation()  # the agent's page says so ...
    _, reward, terminated, _, info = browser_env.step('answer("done")')
    assert terminated and reward == 0.0  # ... the site does not


def test_page_script_cannot_forge_the_url(browser_env):
    """history.pushState changes the address bar, fetch() asks the server: neither is a page load."""
    target = "/employees?department=Engineering&status=active"
    browser_env.reset(options={"task": BY_ID["admin-active-engineering"]})
    page_of(browser_env).evaluate(f"async () => {{ history.pushState({{}}, '', '{target}'); await fetch('{target}'); }}")
    assert page_of(browser_env).url.endswith(target)
    _, reward, *_ = browser_env.step('answer("done")')
    assert reward == 0.0
    browser_env.reset(options={"task": BY_ID["admin-active-engineering"]})
    browser_env.step(f'goto("{target}")')  # the real page load passes
    assert browser_env.step('answer("done")')[1] == 1.0


def test_episode_closes_its_browser_context(browser_env):
    browser_env.reset(options={"task": BY_ID["shop-count-clothing"]})
    browser = browser_env.unwrapped._host.browser
    assert len(browser.contexts) == 1
    browser_env.step('answer("3")')
    assert browser.contexts == []


def test_screenshot_option():
    require_binary("chromium")
    env = assay.make("assay/web-v0", mode="browser", screenshot=True)
    try:
        env.reset(options={"task": BY_ID["shop-count-clothing"]})
        *_, info = env.step('scroll("down")')
        assert info["screenshot"].startswith(b"\x89PNG")
    finally:
        env.close()


def test_back_reloads_from_the_site(browser_env):
    """The URL check reads the server's record of the last page it served, so back() must ask the
    server again (pages are sent no-store, which keeps them out of Chromium's back/forward cache)."""
    target = "/employees?department=Engineering&status=active"
    browser_env.reset(options={"task": BY_ID["admin-active-engineering"]})
    browser_env.step(f'goto("{target}")')
    browser_env.step('goto("/requests")')
    obs, *_ = browser_env.step("back()")
    assert obs.splitlines()[0].endswith(target)
    assert browser_env.step('answer("done")')[1] == 1.0


def test_two_browser_episodes_side_by_side_are_isolated(browser_env):
    """Two envs in one thread, steps interleaved: each has its own site, server and context."""
    other = assay.make("assay/web-v0", mode="browser")
    try:
        task = BY_ID["shop-add-two-mice"]
        browser_env.reset(options={"task": task})
        other.reset(options={"task": task})
        for _ in range(3):  # the oracle's first three steps, in one env only; the other just scrolls
            browser_env.step(browser_env.unwrapped.oracle_action())
            other.step('scroll("down")')
        assert other.step('answer("done")')[1] == 0.0
        assert browser_env.step('answer("done")')[1] == 1.0
    finally:
        other.close()


def test_missing_browser_is_a_clear_error():
    env = assay.make("assay/web-v0", mode="browser", executable="/nonexistent/chromium")
    try:
        with pytest.raises(AssayError, match="apt-get install chromium"):
            env.reset(seed=0)
    finally:
        env.close()


def test_the_browser_reaches_only_loopback(browser_env):
    """Past the action checks: even a page load the agent's actions cannot make fails off loopback."""
    from playwright.sync_api import Error

    browser_env.reset(options={"task": BY_ID["shop-count-clothing"]})
    with pytest.raises(Error, match="ERR_PROXY_CONNECTION_FAILED"):
        page_of(browser_env).goto("http://192.0.2.1/", timeout=5000)
    obs, *_ = browser_env.step('goto("http://192.0.2.1/")')
    assert "not on this site" in obs
