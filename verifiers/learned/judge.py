"""An LLM judge over a rubric of binary principles (RLBFF: "accuracy: yes/no", judged as
entailment, the principles chosen at inference time).

The judge only needs a ``Generator`` (token ids in, token ids out: the protocol the trainer's
rollouts use) and the judge model's tokenizer; it never imports ``assay.trainer``. One generation
per (task, response), all principles in one prompt, greedy by default.

Parsing is strict about *what* counts and lenient about *how* it is written: for every principle
the judge's last line of the form ``name: yes|no`` (also ``true/false``, ``pass/fail``, ``1/0``,
markdown bold, or a JSON object ``{"name": "yes"}``) decides it. A verdict missing any principle is
not a reward: it is a ``Verdict`` with ``error`` set, which the trainer drops or zeroes by policy.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from assay.chat import chat_ids
from assay.protocols import Generator, SamplingParams
from assay.types import Task, Verdict

_YES = {"yes", "true", "pass", "1", "y"}
_NO = {"no", "false", "fail", "0", "n"}


@dataclass(frozen=True)
class Principle:
    """One binary criterion: ``name`` (a short identifier the judge repeats) and the question."""

    name: str
    question: str
    weight: float = 1.0

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", self.name):
            raise ValueError(f"a principle name is one word (letters, digits, _ or -), got {self.name!r}")
        if self.weight < 0:
            raise ValueError(f"weight must be >= 0, got {self.weight}")


DEFAULT_RUBRIC = (Principle("accuracy", "Is the final answer correct?"),)

TEMPLATE = """You are grading a response against principles. For each principle answer yes or no.

Task:
{prompt}

Response:
{response}

Principles:
{principles}

Reply with one line per principle, exactly in the form `name: yes` or `name: no`."""


def parse_verdict(text: str, names: Sequence[str]) -> dict[str, bool] | None:
    """``{name: bool}`` for every principle, or None when any is missing or unreadable."""
    found: dict[str, bool] = {}
    lowered = {n.lower(): n for n in names}
    for blob in re.findall(r"\{[^{}]*\}", text):  # a JSON object anywhere
        try:
            obj = json.loads(blob)
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            for k, v in obj.items():
                value = _truth(str(v).lower()) if not isinstance(v, bool) else v
                if str(k).lower() in lowered and value is not None:
                    found[lowered[str(k).lower()]] = value
    line_re = re.compile(r"^[ \t*\-#>`\d.)]*([A-Za-z][\w-]*)[ \t*`]*[:=\-]+[ \t*`]*([A-Za-z0-9]+)\b", re.MULTILINE)
    for key, word in line_re.findall(text):  # later lines win (the judge's final word)
        value = _truth(word.lower())
        if key.lower() in lowered and value is not None:
            found[lowered[key.lower()]] = value
    return found if all(n in found for n in names) else None


def _truth(word: str) -> bool | None:
    return True if word in _YES else False if word in _NO else None


class RubricJudge:
    """A ``Verifier`` whose verdict is a weighted share of satisfied principles.

    ``reward = sum_i w_i * [principle i holds] / sum_i w_i``; ``passed`` when every principle
    holds; ``components[name]`` is 1.0 or 0.0. ``task.meta["principles"]`` (a list of
    ``{"name", "question"}``) replaces the rubric for that task (RLBFF's inference-time choice).
    """

    name = "rubric-judge"
    version = "1"

    def __init__(self, generator: Generator, tokenizer, principles: Sequence[Principle] = DEFAULT_RUBRIC,
                 params: SamplingParams = SamplingParams(max_new_tokens=128, temperature=0.0), template: str = TEMPLATE):
        if not principles:
            raise ValueError("a rubric needs at least one principle")
        self.generator, self.tokenizer, self.principles = generator, tokenizer, tuple(principles)
        self.params, self.template = params, template

    def verify(self, task: Task, response: str) -> Verdict:
        return self.verify_batch([task], [response])[0]

    def verify_batch(self, tasks: Sequence[Task], responses: Sequence[str]) -> list[Verdict]:
        rubrics = [self._rubric(t) for t in tasks]
        prompts = [chat_ids(self.tokenizer, [{"role": "user", "content": self._prompt(t, r, rubric)}])
                   for t, r, rubric in zip(tasks, responses, rubrics)]
        generations = self.generator.generate(prompts, self.params)
        return [self._verdict(g.text, rubric) for g, rubric in zip(generations, rubrics)]

    def _rubric(self, task: Task) -> tuple[Principle, ...]:
        chosen = task.meta.get("principles") if isinstance(task.meta, dict) else None
        return tuple(Principle(p["name"], p["question"], float(p.get("weight", 1.0))) for p in chosen) if chosen else self.principles

    def _prompt(self, task: Task, response: str, rubric: Sequence[Principle]) -> str:
        prompt = task.prompt if isinstance(task.prompt, str) else "\n".join(f"{m['role']}: {m['content']}" for m in task.prompt)
        lines = "\n".join(f"- {p.name}: {p.question}" for p in rubric)
        return self.template.format(prompt=prompt, response=response, principles=lines)

    @staticmethod
    def _verdict(text: str, rubric: Sequence[Principle]) -> Verdict:
        names = [p.name for p in rubric]
        found = parse_verdict(text, names)
        if found is None:
            missing = [n for n in names if n not in (parse_verdict_partial(text, names))]
            return Verdict.failure(f"unparsable judge verdict: no yes/no for {', '.join(missing)}", raw=text)
        total = sum(p.weight for p in rubric) or 1.0
        reward = sum(p.weight for p in rubric if found[p.name]) / total
        failed = [p.name for p in rubric if not found[p.name]]
        return Verdict(reward=reward, passed=not failed, components={n: float(found[n]) for n in names},
                       feedback="all principles hold" if not failed else f"not satisfied: {', '.join(failed)}",
                       details={"raw": text})


def parse_verdict_partial(text: str, names: Sequence[str]) -> dict[str, bool]:
    """What ``parse_verdict`` could read, principle by principle (for error messages)."""
    return {n: v for n in names if (v := (parse_verdict(text, [n]) or {}).get(n)) is not None}
