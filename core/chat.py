"""Prompt token ids from chat messages: shared by the trainer's rollouts and search's policies,
so a model sees the same prompt ids whichever of them drives it."""

from __future__ import annotations

from collections.abc import Callable

from assay.types import Task

MessagesFn = Callable[[Task, tuple[str, ...]], list[dict]]


def chat_ids(tokenizer, messages: list[dict]) -> list[int]:
    """Prompt ids from the tokenizer's chat template, generation prompt appended (plain text
    joined by blank lines when the tokenizer has no template)."""
    if getattr(tokenizer, "chat_template", None):
        out = tokenizer.apply_chat_template(messages, add_generation_prompt=True)
        return list(out["input_ids"] if isinstance(out, dict) or hasattr(out, "keys") else out)
    return tokenizer.encode("\n\n".join(m["content"] for m in messages), add_special_tokens=True)


def task_messages(task: Task, hints: tuple[str, ...] = ()) -> list[dict]:
    """The chat messages a policy or scorer reads for ``task``, hints appended as guidance."""
    messages = ([{"role": "user", "content": task.prompt}] if isinstance(task.prompt, str)
                else [dict(m) for m in task.prompt])
    if hints:
        messages.append({"role": "user", "content": "\n\n".join(hints)})
    return messages
