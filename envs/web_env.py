"""``assay/web-v0``: complete tasks on locally served web sites, in a real browser or in text mode.

Each episode gets a fresh copy of its site (own sqlite database, seeded state) served on a free
127.0.0.1 port, and a fresh driver: ``mode="text"`` (HTTP plus HTML parsing, no browser; the
default, for large-scale RL) or ``mode="browser"`` (headless Chromium through Playwright). Both
show the same observation (URL, tabs, simplified DOM with numbered elements) and take the same
actions (``assay.envs.web.actions``). The episode ends with ``answer(text)``, after ``max_errors``
invalid actions in a row, or after ``max_steps`` steps (truncated); then the ``web`` verifier
judges the site's own state (database, pages it serves, the last page it served, the answer) and
the reward is paid on that step (0 before it), with the Verdict in ``info["verdict"]`` (earlier
steps carry none: nothing has been judged yet).

The site, its server and the browser context live exactly as long as the episode: ending it,
``reset()`` and ``close()`` release them, and they die with the process (see ``server.py`` and
``browser_driver.py``). The browser itself is kept for the env's lifetime and closed by ``close()``.
"""

from __future__ import annotations

import dataclasses
import weakref
from typing import Any

import gymnasium

from assay.envs.sources import ListSource, TaskSource
from assay.envs.spaces import FreeText
from assay.envs.web.actions import USAGE, ActionError, parse_action
from assay.envs.web.observe import render_observation
from assay.envs.web.oracle import action_for
from assay.errors import AssayError
from assay.types import Provenance, Task, Verdict

MODES = ("text", "browser")
INSTRUCTIONS = ("Act on the web page one action per turn: " + USAGE + ". Element ids are the numbers in brackets. "
                "Finish with answer(\"...\"): your answer to a question, or \"done\" when the task is an action.")


class _Episode:
    """What one episode owns: the site, its server, the driver. ``close`` is idempotent."""

    def __init__(self, task: Task, mode: str, host, timeout_s: float) -> None:
        from assay.envs.web.server import SiteServer
        from assay.envs.web.sites import SITES

        gold = task.answer if isinstance(task.answer, dict) else {}
        if gold.get("site") not in SITES:
            raise AssayError(f"task {task.id}: answer['site'] must be one of {sorted(SITES)}, got {gold.get('site')!r}")
        self.site = SITES[gold["site"]]()
        self.server = SiteServer(self.site)
        # an env dropped without close() still stops its server (the thread would keep it alive)
        weakref.finalize(self, self.server.close)
        try:
            if mode == "text":
                from assay.envs.web.text_driver import TextDriver

                self.driver = TextDriver(self.server.base_url, timeout_s=timeout_s)
            else:
                from assay.envs.web.browser_driver import BrowserDriver

                self.driver = BrowserDriver(host, self.server.base_url, timeout_ms=int(timeout_s * 1000))
            login = (task.meta or {}).get("login")
            if login:
                self.driver.login("/login", login)
            self.driver.open(self.server.base_url + gold.get("start_url", "/"))
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        driver = getattr(self, "driver", None)
        self.driver = None
        try:
            if driver is not None:
                driver.close()
        finally:
            self.server.close()


class WebEnv(gymnasium.Env[str, str]):
    metadata = {"render_modes": ["ansi"]}

    def __init__(self, mode: str = "text", max_steps: int = 30, max_errors: int = 3, screenshot: bool = False,
                 tasks: str | None = None, source: TaskSource | None = None, executable: str | None = None,
                 headless: bool = True, timeout_s: float = 10.0, verifier: str = "web", render_mode: str | None = None):
        if mode not in MODES:
            raise AssayError(f"mode must be one of {MODES} ('text' needs no browser), got {mode!r}")
        for name, value in (("max_steps", max_steps), ("max_errors", max_errors)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise AssayError(f"{name} must be an int >= 1, got {value!r}")
        if screenshot and mode != "browser":
            raise AssayError("screenshot=True needs mode='browser' (text mode renders no pixels)")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']}, got {render_mode!r}")
        if tasks is not None and source is not None:
            raise AssayError("give one task source: tasks= (a JSON file of configs) or source=, not both")
        if source is None:
            from assay.envs.web.tasks import load_tasks

            source = ListSource(load_tasks(tasks), name=str(tasks or "web_tasks"))
        self.mode, self.max_steps, self.max_errors, self.screenshot = mode, max_steps, max_errors, screenshot
        self.executable, self.headless, self.timeout_s = executable, headless, timeout_s
        self.verifier_name, self.render_mode, self.source = verifier, render_mode, source
        self.observation_space = FreeText(max_length=1 << 20)
        self.action_space = FreeText(max_length=1 << 16)
        self._verifier = None
        self._host = None
        self._episode: _Episode | None = None
        self._task: Task | None = None
        self._seed: int | None = None
        self._done = True
        self._steps = self._errors = self._oracle_step = 0
        self._transcript: list[dict] = []
        self._last_obs = ""

    @property
    def verifier(self):
        if self._verifier is None:
            from assay import verifiers

            self._verifier = verifiers.get(self.verifier_name)
        return self._verifier

    def _browser_host(self):
        if self._host is None:
            from assay.envs.web.browser_driver import BrowserHost

            self._host = BrowserHost(self.executable, self.headless)
        return self._host

    # -- Gymnasium API ----------------------------------------------------------------------------
    def task_list(self) -> list[Task] | None:
        """Every task in order when the source is a finite list (the shipped tasks are); else None."""
        return list(self.source.tasks) if isinstance(self.source, ListSource) else None

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[str, dict]:
        super().reset(seed=seed)
        self._end_episode()
        task = (options or {}).get("task")
        if task is None:
            task = self.source.sample(self.np_random)
        elif not isinstance(task, Task):
            raise TypeError(f"options['task'] must be an assay.Task, got {type(task).__name__}")
        self._episode = _Episode(task, self.mode, self._browser_host() if self.mode == "browser" else None, self.timeout_s)
        self._task, self._seed, self._done = task, seed, False
        self._steps = self._errors = self._oracle_step = 0
        obs = f"Task: {task.prompt}\n\n{INSTRUCTIONS}\n\n{self._observation()}"
        self._transcript = [{"role": "user", "content": obs}]
        self._last_obs = obs
        return obs, self._info()

    def step(self, action: str) -> tuple[str, float, bool, bool, dict]:
        if self._done or self._episode is None:
            raise gymnasium.error.ResetNeeded("call reset() before step(); this episode has ended")
        if not isinstance(action, str):
            raise TypeError(f"the action is text such as 'click(3)', got {type(action).__name__}")
        self._steps += 1
        self._transcript.append({"role": "assistant", "content": action})
        error, answer = "", None
        try:
            parsed = parse_action(action)
            if parsed.name == "answer":
                answer = parsed.text
            else:
                self._episode.driver.act(parsed)
            self._errors = 0
        except ActionError as e:
            error, self._errors = str(e), self._errors + 1
        if answer is not None or self._errors >= self.max_errors or self._steps >= self.max_steps:
            verdict = self._finish(answer)
            if answer is None:  # say why the episode ended without an answer
                why = (f"episode ended after {self._errors} invalid actions in a row: {error}" if self._errors >= self.max_errors
                       else f"episode ran out of steps ({self.max_steps}) before answer(...)")
                verdict = dataclasses.replace(verdict, feedback=f"{verdict.feedback}; {why}")
            return "", float(verdict.reward), answer is not None, answer is None, self._info(verdict)
        obs = self._observation(error)
        self._transcript.append({"role": "user", "content": obs})
        self._last_obs = obs
        info = self._info()
        if error:
            info["action_error"] = error
        if self.screenshot:
            info["screenshot"] = self._episode.driver.screenshot()
        return obs, 0.0, False, False, info

    def _observation(self, error: str = "") -> str:
        driver = self._episode.driver
        tabs, active = driver.tabs()
        return render_observation(driver.page, tabs, active, error)

    def _finish(self, answer: str | None) -> Verdict:
        from assay.verifiers.web.verifier import SiteState

        episode, self._episode, self._done = self._episode, None, True
        # close the browser context and the server first: from here on no page script and no
        # request can touch the site; the verifier reads it in-process
        episode.close()
        site = episode.site
        return self.verifier.evaluate(self._task, SiteState(answer, site.last_document, site.fetch, site.query_readonly))

    def _info(self, verdict: Verdict | None = None) -> dict[str, Any]:
        info: dict[str, Any] = {"task": self._task, "messages": list(self._transcript), "step": self._steps}
        if verdict is not None:
            info["verdict"], info["provenance"] = verdict, self.provenance()
        return info

    def provenance(self) -> Provenance:
        spec = self.spec or getattr(self.unwrapped, "spec", None)
        return Provenance(env_id=spec.id if spec else "", seed=self._seed, verifier=self.verifier_name,
                          verifier_version=self.verifier.version)

    # -- the scripted oracle ------------------------------------------------------------------------
    def oracle_action(self) -> str:
        """The oracle's next action for the current page (BrowserGym's ``cheat()``), as text that
        ``step`` takes. Raises when the task has no oracle or its script is used up."""
        if self._done or self._task is None:
            raise gymnasium.error.ResetNeeded("no running episode")
        steps = (self._task.meta or {}).get("oracle") or []
        if self._oracle_step >= len(steps):
            raise AssayError(f"task {self._task.id}: the oracle has no step {self._oracle_step + 1}")
        step = steps[self._oracle_step]
        self._oracle_step += 1
        return action_for(step, self._episode.driver.page)

    def gold_response(self, task: Task) -> str:
        """The oracle's next action in the running episode of ``task``: a web task's gold is a
        sequence of actions, so "respond with the gold" is asked once per step (as the demo tour's
        ``play(env, lambda obs, info: env.unwrapped.gold_response(info["task"]))`` does)."""
        if task != self._task or self._done:
            raise AssayError(f"web gold is played step by step: reset(options={{'task': ...}}) with task {task.id} first")
        return self.oracle_action()

    # -- lifetime -----------------------------------------------------------------------------------
    def _end_episode(self) -> None:
        episode, self._episode = self._episode, None
        self._done = True
        if episode is not None:
            episode.close()

    def close(self) -> None:
        try:
            self._end_episode()
        finally:
            host, self._host = self._host, None
            if host is not None:
                host.close()
        super().close()

    def render(self) -> str:
        return self._last_obs

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.update(_verifier=None, _host=None, _episode=None, _done=True)
        return state
