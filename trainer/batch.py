"""Trajectories -> padded tensors for the update.

One row per trajectory: ``input_ids = prompt_ids + token_ids`` right-padded; the response part
starts at ``prompt_len``. Per-token tensors cover the response positions only, ``(B, T)`` with T
the longest response, and line up with the logits that *predict* those tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from assay.types import Trajectory


@dataclass(frozen=True)
class Batch:
    input_ids: torch.Tensor  # (B, L) prompt + response, right-padded with pad_id
    attention_mask: torch.Tensor  # (B, L)
    prompt_lens: torch.Tensor  # (B,)
    response_ids: torch.Tensor  # (B, T)
    loss_mask: torch.Tensor  # (B, T) 1 on generated tokens
    sampler_logprobs: torch.Tensor  # (B, T) the generator's log-probs (0 where masked)
    advantages: torch.Tensor  # (B,)
    lengths: torch.Tensor  # (B,) generated tokens per sequence

    def __len__(self) -> int:
        return self.input_ids.shape[0]

    def to(self, device: torch.device | str) -> Batch:
        return Batch(*(getattr(self, f).to(device) for f in self.__dataclass_fields__))

    def select(self, rows: slice | torch.Tensor) -> Batch:
        """A sub-batch (micro-batch or rank shard), trimmed to its own longest sequence."""
        sub = Batch(*(getattr(self, f)[rows] for f in self.__dataclass_fields__))
        width = int((sub.prompt_lens + sub.response_ids.shape[1]).max()) if len(sub) else 0
        return sub if width >= sub.input_ids.shape[1] else Batch(
            sub.input_ids[:, :width], sub.attention_mask[:, :width], sub.prompt_lens, sub.response_ids,
            sub.loss_mask, sub.sampler_logprobs, sub.advantages, sub.lengths)


def collate(trajectories: Sequence[Trajectory], advantages: torch.Tensor, pad_id: int) -> Batch:
    b = len(trajectories)
    resp = max((len(t.token_ids) for t in trajectories), default=0)
    width = max((len(t.prompt_ids) + len(t.token_ids) for t in trajectories), default=0)
    input_ids = torch.full((b, width), pad_id, dtype=torch.long)
    attention = torch.zeros((b, width), dtype=torch.long)
    response = torch.full((b, resp), pad_id, dtype=torch.long)
    mask = torch.zeros((b, resp), dtype=torch.float32)
    sampler = torch.zeros((b, resp), dtype=torch.float32)
    for i, t in enumerate(trajectories):
        seq = list(t.prompt_ids) + list(t.token_ids)
        input_ids[i, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        attention[i, : len(seq)] = 1
        n = len(t.token_ids)
        if n:
            response[i, :n] = torch.tensor(t.token_ids, dtype=torch.long)
            mask[i, :n] = torch.tensor(t.loss_mask, dtype=torch.float32)
            sampler[i, :n] = torch.tensor(t.logprobs, dtype=torch.float32)
    return Batch(
        input_ids, attention,
        torch.tensor([len(t.prompt_ids) for t in trajectories], dtype=torch.long),
        response, mask, sampler, advantages.to(torch.float32),
        torch.tensor([sum(t.loss_mask) for t in trajectories], dtype=torch.long),
    )
