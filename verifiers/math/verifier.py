"""``MathVerifier``: is the final answer of a free-text response equivalent to the gold answer?

Covers: integers, fractions, decimals (relative tolerance, never absolute rounding), percentages,
scientific notation, radicals and constants (``\\sqrt{8}`` = ``2\\sqrt{2}``, ``\\pi``), symbolic
expressions, equations (``x = 3`` vs ``3``), inequalities, tuples (ordered), sets (unordered),
intervals (open/closed ends matter), matrices, units and multiplier words (``5 cm`` vs ``5 mm``
differ; ``5`` vs ``5 cm`` match), multiple-choice letters as symbols. Comparison is math-verify's
with the fixes listed in :mod:`assay.verifiers.math.compare`; extraction is
:mod:`assay.verifiers.math.extraction`.

Does not cover: unit conversion (``50 cm`` vs ``0.5 m`` do not match), proofs or free-form
explanations, answers spread over several boxes (the last box is the answer), multi-part questions
graded per part, judging whether the reasoning is right.

Safety: parsing and comparison run in worker processes (:mod:`assay.verifiers.math.pool`) with a
per-verification timeout and a memory cap, after cheap string guards
(:mod:`assay.verifiers.math.guards`); no ``signal.alarm``, so any thread may call ``verify``.

Reward: ``correctness`` (1/0) by default. With ``format_weight`` w_f and/or ``max_length_chars`` L
(and ``length_weight`` w_l), ``reward = correctness + w_f * format + w_l * length`` where
``format`` is 1 when the answer was boxed and ``length = min(1, L / len(response))`` (1 for a
response within L characters, decaying as L/len beyond). Only ``correctness`` decides ``passed``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from assay.types import Task, Verdict
from assay.verifiers.base import BaseVerifier
from assay.verifiers.math.extraction import BOXED, extract_answer
from assay.verifiers.math.guards import Limits, screen
from assay.verifiers.math.pool import WorkerPool

_SHOWN = 120  # characters of an answer quoted in feedback


def _short(s: str) -> str:
    s = " ".join(s.split())
    return s if len(s) <= _SHOWN else s[: _SHOWN - 3] + "..."


# Only things that cannot change a value are removed; an equal result is then a certain match.
_FAST_DROP = re.compile(r"\\[,;:! ]|\\left|\\right|\\displaystyle|\s+|^\$+|\$+$")


def fast_normal_form(s: str) -> str:
    """A cheap canonical spelling used to skip the worker when gold and answer are the same."""
    s = _FAST_DROP.sub("", s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac"))
    return s.rstrip(".")


# sympy reads prose such as "I don't know" as a product of one-letter symbols; quoting that
# parse in feedback says nothing, so it is left out (the extracted text is still shown).
_LETTER_SOUP = re.compile(r"^[A-Za-z]{1,2}(\*[A-Za-z]{1,2}){2,}$")


@dataclass(frozen=True)
class _Judgement:
    match: bool
    reason: str
    gold_parsed: str = ""
    answer_parsed: str = ""
    error: str | None = None


class MathVerifier(BaseVerifier):
    """See the module docstring. All arguments have defaults: ``assay.verifiers.get("math")``."""

    name = "math"
    version = "1.0.0"

    def __init__(
        self,
        timeout_s: float = 5.0,
        rel_tol: float = 1e-6,
        workers: int | None = None,
        memory_mb: int = 1536,
        format_weight: float = 0.0,
        max_length_chars: int | None = None,
        length_weight: float = 0.1,
        limits: Limits = Limits(),
    ) -> None:
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        if not 0 <= rel_tol < 0.01:
            raise ValueError(f"rel_tol must be in [0, 0.01), got {rel_tol}; it is a relative tolerance for decimals")
        if max_length_chars is not None and max_length_chars <= 0:
            raise ValueError(f"max_length_chars must be positive or None, got {max_length_chars}")
        self.timeout_s = timeout_s
        self.rel_tol = rel_tol
        self.format_weight = format_weight
        self.max_length_chars = max_length_chars
        self.length_weight = length_weight
        self.limits = limits
        self.pool = WorkerPool(size=workers or max(2, min(8, os.cpu_count() or 2)), memory_mb=memory_mb)

    def gold_response(self, task: Task) -> str:
        return f"The answer is \\boxed{{{self._gold(task)}}}."

    @staticmethod
    def _gold(task: Task) -> str:
        answer = task.answer
        if isinstance(answer, bool) or not isinstance(answer, (str, int, float)):
            raise TypeError(f"math gold must be a str, int or float, got {type(answer).__name__}")
        return str(answer).strip()

    def _judge(self, gold: str, answer: str) -> _Judgement:
        if fast_normal_form(gold) == fast_normal_form(answer):
            return _Judgement(True, "same answer")
        why = screen(gold, self.limits)
        if why:
            return _Judgement(False, "", error=f"gold rejected by guards: {why}")
        why = screen(answer, self.limits)
        if why:
            return _Judgement(False, "", error=f"answer rejected by guards: {why}")
        tag, payload = self.pool.call((gold, answer, self.rel_tol), self.timeout_s)
        if tag != "ok":
            return _Judgement(False, "", error=f"{tag}: {payload}")
        if payload["status"] == "bad_gold":
            return _Judgement(False, "", error=f"malformed gold: could not parse {_short(gold)!r}")
        return _Judgement(payload["match"], payload["reason"], payload["gold_parsed"], payload["answer_parsed"])

    def _verify(self, task: Task, response: str) -> Verdict:
        try:
            gold = self._gold(task)
        except TypeError as e:
            return Verdict.failure(f"malformed gold: {e}")
        if not gold:
            return Verdict.failure("malformed gold: empty answer")
        extraction = extract_answer(response)
        details = {"extracted": extraction.text, "method": extraction.method, "source": extraction.source, "gold": gold}
        components = {"format": 1.0 if extraction.method == BOXED else 0.0}
        if self.max_length_chars is not None:
            components["length"] = min(1.0, self.max_length_chars / max(1, len(response)))
        if not extraction.found:
            return self._verdict(False, components, details, "no answer found")
        j = self._judge(gold, extraction.text)
        details.update(gold_parsed=j.gold_parsed, answer_parsed=j.answer_parsed)
        said = f"extracted `{_short(extraction.source)}` ({extraction.method})"
        if j.answer_parsed and not _LETTER_SOUP.match(j.answer_parsed):
            said += f" -> {_short(j.answer_parsed)}"
        if j.error is not None:
            return Verdict.failure(j.error, feedback=f"{said}; could not judge: {j.error}", **details)
        if j.match:
            return self._verdict(True, components, details, f"{said}; matches the gold answer")
        # The gold stays out of the feedback (it is in details): feedback is what a guided retry
        # shows the model, and quoting the gold there would hand it the answer.
        return self._verdict(False, components, details, f"{said}; does not match the gold answer ({j.reason})")

    def _verdict(self, correct: bool, components: dict, details: dict, feedback: str) -> Verdict:
        components = {"correctness": 1.0 if correct else 0.0, **components}
        reward = components["correctness"] + self.format_weight * components["format"]
        if "length" in components:
            reward += self.length_weight * components["length"]
        return Verdict(reward=reward, passed=correct, components=components, feedback=feedback, details=details)

    # A verifier travels to worker processes (Ray actors, env pickling); its pool does not.
    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["pool"] = (self.pool.size, self.pool.memory_mb)
        return state

    def __setstate__(self, state: dict) -> None:
        size, memory_mb = state.pop("pool")
        self.__dict__.update(state)
        self.pool = WorkerPool(size=size, memory_mb=memory_mb)

    def close(self) -> None:
        """Stop the worker processes now (they also stop at exit)."""
        self.pool.close()
