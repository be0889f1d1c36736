"""A ``Policy`` over any ``Generator`` (transformers in-process, an OpenAI-compatible server, vLLM).

A step is what the generator writes up to and including ``step_delimiter`` (one line by
default); generation that ends any other way (end of sequence, length) finishes the solution.
The context is the prompt's chat ids followed by the steps' own token ids, exactly as generated:
nothing is re-tokenized, so search output can be trained on token for token.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from assay.chat import MessagesFn, chat_ids, task_messages
from assay.protocols import Generator, Prefix, SamplingParams, Step


class GeneratorPolicy:
    """``max_steps`` bounds a solution's steps (the step that reaches it is terminal);
    ``params.seed``, when set, is advanced on every call so repeated calls differ but a run
    repeats."""

    def __init__(self, generator: Generator, tokenizer, params: SamplingParams = SamplingParams(),
                 step_delimiter: str = "\n", max_steps: int = 16, messages: MessagesFn = task_messages):
        if not step_delimiter:
            raise ValueError("step_delimiter must be a non-empty string (a newline splits steps by line)")
        if max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {max_steps}")
        self.generator, self.tokenizer, self.messages = generator, tokenizer, messages
        self.params = dataclasses.replace(params, stop=tuple(dict.fromkeys(params.stop + (step_delimiter,))))
        self.step_delimiter, self.max_steps = step_delimiter, max_steps
        self._calls = 0
        self._prompts: dict[tuple, list[int]] = {}

    def _context(self, prefix: Prefix) -> list[int]:
        key = (prefix.task.id, prefix.hints)
        if key not in self._prompts:
            self._prompts[key] = chat_ids(self.tokenizer, self.messages(prefix.task, prefix.hints))
        ids = list(self._prompts[key])
        for step in prefix.steps:
            if not step.token_ids and step.text:
                raise ValueError("GeneratorPolicy continues only prefixes whose steps carry their token ids "
                                 "(steps written by another policy would have to be re-tokenized)")
            ids += step.token_ids
        return ids

    def _params(self) -> SamplingParams:
        self._calls += 1
        seed = None if self.params.seed is None else self.params.seed + self._calls
        return dataclasses.replace(self.params, seed=seed)

    def _steps(self, contexts: list[list[int]], depths: list[int]) -> list[Step]:
        generations = self.generator.generate(contexts, self._params())
        steps = []
        for g, depth in zip(generations, depths):
            terminal = g.finish_reason != "stop" or depth + 1 >= self.max_steps
            steps.append(Step(g.text, tuple(g.token_ids), float(sum(g.logprobs)), terminal, tuple(g.logprobs)))
        return steps

    def propose(self, prefixes: Sequence[Prefix], k: int) -> list[list[Step]]:
        contexts = [self._context(p) for p in prefixes for _ in range(k)]
        depths = [len(p.steps) for p in prefixes for _ in range(k)]
        steps = self._steps(contexts, depths)
        return [steps[j * k:(j + 1) * k] for j in range(len(prefixes))]

    def complete(self, prefixes: Sequence[Prefix], max_steps: int | None = None) -> list[tuple[Step, ...]]:
        """Step by step, all unfinished prefixes in one generator call per step."""
        written: list[list[Step]] = [[] for _ in prefixes]
        current = list(prefixes)
        while True:
            open_ = [j for j, p in enumerate(current) if not p.done and (max_steps is None or len(written[j]) < max_steps)]
            if not open_:
                return [tuple(w) for w in written]
            for j, step in zip(open_, self._steps([self._context(current[j]) for j in open_],
                                                  [len(current[j].steps) for j in open_])):
                written[j].append(step)
                current[j] = current[j].extend(step)
