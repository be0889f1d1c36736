"""A prefix (task, hints, steps) as token ids with exact step boundaries, for scorer models.

Steps are tokenized one by one, or taken as generated when ``use_step_ids`` and the steps carry
ids from the same tokenizer (nothing is re-tokenized then), so every step's boundary is an exact
token position.
"""

from __future__ import annotations

import torch

from assay.chat import MessagesFn, chat_ids, task_messages
from assay.protocols import Prefix


def encode_prefix(tokenizer, prefix: Prefix, messages: MessagesFn = task_messages,
                  use_step_ids: bool = False) -> tuple[list[int], int, list[int]]:
    """``(ids, prompt_len, step_ends)``: ``step_ends[j]`` is the position of step j's last token
    (the previous step's end, or the prompt's last token, when a step has no tokens)."""
    ids = chat_ids(tokenizer, messages(prefix.task, prefix.hints))
    prompt_len, ends = len(ids), []
    for step in prefix.steps:
        if use_step_ids and step.token_ids:
            ids += step.token_ids
        else:
            ids += tokenizer.encode(step.text, add_special_tokens=False)
        ends.append(len(ids) - 1)
    return ids, prompt_len, ends


def pad_batch(rows: list[list[int]], pad: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for b, r in enumerate(rows):  # right padding: positions are the same as unpadded
        ids[b, :len(r)] = torch.tensor(r, dtype=torch.long)
        mask[b, :len(r)] = 1
    return ids.to(device), mask.to(device)


def final_hidden(model, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Final hidden states ``(B, L, D)`` (after the last norm), without the LM head's logits."""
    return model.base_model(input_ids=ids, attention_mask=mask).last_hidden_state


def pad_id(tokenizer) -> int:
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)
