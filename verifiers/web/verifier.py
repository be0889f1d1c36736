"""``WebVerifier``: judges a web task from the state of its site after an episode.

The environment (``assay/web-v0``) ends an episode and hands :meth:`WebVerifier.evaluate` a
:class:`SiteState`: the submitted answer, the last top-level page the server served, and two
callables into the live site (serve a page now; run read-only SQL). The verifier does not import
the sites (they live in ``assay.envs``, a layer above), so it receives them this way.

``verify(task, response)`` (the Verifier protocol) judges the response as the final answer. That
suffices for ``string_match``-only tasks; tasks that check URL, pages or database need the episode
and get a Verdict with ``error`` set that says so (re-score them by replaying the trajectory's
actions in the env). Reward is the product of the checks, as in WebArena.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from assay.types import Task, Verdict
from assay.verifiers.base import BaseVerifier
from assay.verifiers.web.evaluators import check_db, check_html, check_string, url_matches
from assay.verifiers.web.spec import EvalSpec, SpecError


@dataclass(frozen=True)
class SiteState:
    answer: str | None  # the text of the agent's answer(...) action; None when it never answered
    url: str  # path and query of the last page the site served as a top-level document
    fetch: Callable[[str], str] | None = None  # path -> HTML the site serves for it now
    query: Callable[[str], list[tuple]] | None = None  # read-only SQL on the site's database


_ANSWER_CALL = re.compile(r"""^\s*answer\(\s*(["'])(?P<text>.*)\1\s*\)\s*$""", re.S)


def spec_of(task: Task) -> EvalSpec:
    gold = task.answer
    if not isinstance(gold, dict) or "eval" not in gold:
        raise SpecError(f"task {task.id}: a web task's answer must be {{'site', 'start_url', 'eval'}}, got {gold!r:.80}")
    return EvalSpec.from_config(gold["eval"])


class WebVerifier(BaseVerifier):
    name = "web"
    version = "1"

    def evaluate(self, task: Task, state: SiteState) -> Verdict:
        """Judge an episode. Never raises: a broken spec or a failing site call is ``error``."""
        try:
            spec = spec_of(task)
        except SpecError as e:
            return Verdict.failure(f"malformed gold: {e}")
        try:
            return self._judge(spec, state)
        except Exception as e:  # a site callable failed: the verifier could not judge
            return Verdict.failure(f"could not read the site's state: {type(e).__name__}: {e}")

    def _judge(self, spec: EvalSpec, state: SiteState) -> Verdict:
        components: dict[str, float] = {}
        notes: list[str] = []
        if "string_match" in spec.eval_types:
            if state.answer is None:
                ok, why = False, "no answer(...) was given"
            else:
                ok, why = check_string(state.answer, spec.reference)
            components["string_match"], _ = float(ok), notes.append(f"answer {why}")
        if "url_match" in spec.eval_types:
            ok = url_matches(state.url, spec.reference_urls)
            components["url_match"] = float(ok)
            notes.append("final page is the expected one" if ok else f"final page {state.url!r} is not the expected one")
        if "program_html" in spec.eval_types:
            results = []
            for check in spec.program_html:
                path = state.url if check.url == "last" else check.url
                results.append(check_html(state.fetch(path), check))
            components["program_html"] = float(all(ok for ok, _ in results))
            notes += [why for _, why in results]
        if "db_state" in spec.eval_types:
            results = [check_db(state.query(c.sql), c) for c in spec.db_state]
            components["db_state"] = float(all(ok for ok, _ in results))
            notes += [f"database: {why}" for _, why in results]
        reward = 1.0
        for value in components.values():
            reward *= value
        return Verdict(reward=reward, passed=reward == 1.0, components=components, feedback="; ".join(notes),
                       details={"url": state.url, "answer": state.answer})

    def _verify(self, task: Task, response: str) -> Verdict:
        try:
            spec = spec_of(task)
        except SpecError as e:
            return Verdict.failure(f"malformed gold: {e}")
        if spec.needs_site:
            return Verdict.failure(f"task {task.id} checks {', '.join(t for t in spec.eval_types if t != 'string_match')}, "
                                   f"which needs the site's state: run it in assay/web-v0 (WebVerifier.evaluate)")
        m = _ANSWER_CALL.match(response)
        answer = m.group("text") if m else response
        return self._judge(spec, SiteState(answer=answer, url=""))

    def gold_response(self, task: Task) -> str:
        spec = spec_of(task)
        if spec.needs_site:
            raise ValueError(f"task {task.id}'s gold is a sequence of actions on its site, not a response text: "
                             f"use the env's oracle (WebEnv.oracle_action)")
        ref = spec.reference
        return ref.exact_match if ref.exact_match is not None else ", ".join(ref.must_include or ref.fuzzy_match)
