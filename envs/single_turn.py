"""The base of assay's single-turn environments: the prompt is the observation, one response is
the action, and the verifier's Verdict ends the episode.

Multi-turn environments (code with feedback, SWE, web) build on the same reset/step contract.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import gymnasium

from assay.envs.sources import ListSource, TaskSource, make_source
from assay.envs.spaces import FreeText
from assay.protocols import Verifier
from assay.types import Provenance, Task, Verdict


class SingleTurnEnv(gymnasium.Env[str, str]):
    """``reset`` -> prompt text; ``step(response)`` -> (``""``, reward, True, False, info).

    ``info`` on reset holds ``task`` and chat ``messages``; on the final step it adds ``verdict``
    and ``provenance``. The verifier is named (``"math"``) rather than held, so the env pickles
    into worker processes and rebuilds its verifier there.
    """

    metadata = {"render_modes": ["ansi", "human"]}

    def __init__(
        self,
        verifier: str = "math",
        source: TaskSource | None = None,
        render_mode: str | None = None,
        max_response_chars: int = 1 << 20,
        verifier_options: dict | None = None,
        prompt_format: str | None = None,
        system_prompt: str | None = None,
        **source_kwargs: Any,
    ):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']}, got {render_mode!r}")
        if prompt_format is not None and not isinstance(prompt_format, str):
            raise TypeError(f"prompt_format must be a str.format template such as '{{expression}} =', "
                            f"got {type(prompt_format).__name__}")
        if system_prompt is not None and not isinstance(system_prompt, str):
            raise TypeError(f"system_prompt must be a str, got {type(system_prompt).__name__}")
        self.verifier_name = verifier
        # The system message of every episode (replacing one a task brings), as verifiers' envs take
        # one: set on the env, it reaches training, evaluation, search and `assay try` alike.
        self.system_prompt = system_prompt
        # Rewrites each sampled task's prompt: a str.format template over ``prompt`` and the task's
        # meta keys. Procedural tasks carry ``expression``, so "{expression} =" gives the terse
        # prompts a tiny CPU model trains on in seconds rather than minutes (the long instruction
        # is ~100 tokens that every forward pass re-reads and the model cannot use).
        self.prompt_format = prompt_format
        self.verifier_options = dict(verifier_options or {})
        self.source = source if source is not None else make_source(**source_kwargs)
        self.render_mode = render_mode
        self.observation_space = FreeText(max_length=1 << 20)
        self.action_space = FreeText(max_length=max_response_chars)
        self._verifier: Verifier | None = None
        self._task: Task | None = None
        self._seed: int | None = None
        self._last: tuple[str, Verdict] | None = None
        self._done = True

    # -- pieces subclasses may change -------------------------------------------------------
    @property
    def verifier(self) -> Verifier:
        if self._verifier is None:
            from assay import verifiers  # envs sit above verifiers: this import points downward

            self._verifier = verifiers.get(self.verifier_name, **self.verifier_options)
        return self._verifier

    def prompt_text(self, task: Task) -> str:
        if isinstance(task.prompt, str):
            return task.prompt
        return "\n\n".join(str(m.get("content", "")) for m in task.prompt)

    def messages(self, task: Task) -> list[dict]:
        return list(task.prompt) if isinstance(task.prompt, list) else [{"role": "user", "content": task.prompt}]

    def chat(self, task: Task) -> list[dict]:
        """The episode's opening messages: :meth:`messages`, under ``system_prompt`` when one is set."""
        messages = self.messages(task)
        if self.system_prompt is None:
            return messages
        if messages and messages[0].get("role") == "system":
            messages = messages[1:]
        return [*self.system_messages(), *messages]

    def system_messages(self) -> list[dict]:
        return [] if self.system_prompt is None else [{"role": "system", "content": self.system_prompt}]

    def task_list(self) -> list[Task] | None:
        """Every task in order, as ``reset`` poses them, when the source is a finite list (a file, a
        dataset split); None for an endless generator. Evaluation takes its held-out tasks from the
        front of this list, each once, rather than sampling it with replacement."""
        if not isinstance(self.source, ListSource):
            return None
        return [self._formatted(task) for task in self.source.tasks]

    def _formatted(self, task: Task) -> Task:
        if self.prompt_format is None:
            return task
        fields = {**(task.meta or {}), "prompt": self.prompt_text(task)}
        try:
            prompt = self.prompt_format.format(**fields)
        except (KeyError, IndexError) as e:
            raise ValueError(f"prompt_format {self.prompt_format!r} names {e}, which task {task.id} does not have; "
                             f"available fields: {sorted(fields)}") from None
        return dataclasses.replace(task, prompt=prompt)

    def gold_response(self, task: Task) -> str:
        """A response that states the gold answer; the conformance test expects reward 1.0 for it."""
        return self.verifier.gold_response(task)

    # -- Gymnasium API ----------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[str, dict]:
        super().reset(seed=seed)
        task = (options or {}).get("task")
        if task is None:
            task = self._formatted(self.source.sample(self.np_random))
        elif not isinstance(task, Task):
            raise TypeError(f"options['task'] must be an assay.Task, got {type(task).__name__}")
        self._task, self._seed, self._last, self._done = task, seed, None, False
        return self.prompt_text(task), {"task": task, "messages": self.chat(task)}

    def step(self, action: str) -> tuple[str, float, bool, bool, dict]:
        if self._done or self._task is None:
            raise gymnasium.error.ResetNeeded("call reset() before step(); this episode has ended")
        if not isinstance(action, str):
            raise TypeError(f"the action is the model's response text (str), got {type(action).__name__}")
        verdict = self.verifier.verify(self._task, action[: self.action_space.max_length])
        self._done, self._last = True, (action, verdict)
        info = {
            "task": self._task,
            "verdict": verdict,
            "messages": [*self.chat(self._task), {"role": "assistant", "content": action}],
            "provenance": self.provenance(),
        }
        if self.render_mode == "human":
            print(self.render_text())
        return "", float(verdict.reward), True, False, info

    def provenance(self) -> Provenance:
        spec = self.spec or getattr(self.unwrapped, "spec", None)
        return Provenance(
            env_id=spec.id if spec else "",
            seed=self._seed,
            verifier=self.verifier_name,  # the name `verifiers.get` rebuilds it by (assay rescore)
            verifier_version=self.verifier.version,
        )

    def render(self) -> str | None:
        text = self.render_text()
        if self.render_mode == "human":
            print(text)
            return None
        return text

    def render_text(self) -> str:
        if self._task is None:
            return "(no episode: call reset())"
        lines = [f"task {self._task.id}", self.prompt_text(self._task)]
        if self._last is not None:
            response, verdict = self._last
            lines += [f"response: {response}", f"reward {verdict.reward:g}  passed={verdict.passed}", verdict.feedback]
        return "\n".join(lines)

    # -- pickling: drop the live verifier (it may own worker processes) ----------------------
    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_verifier"] = None
        return state
