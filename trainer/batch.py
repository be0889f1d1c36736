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
    advantages: torch.Tensor  # (B,), or (B, T) with dense process advantages
    lengths: torch.Tensor  # (B,) generated tokens per sequence

    def __len__(self) -> int:
        return self.input_ids.shape[0]

    def to(self, device: torch.device | str) -> Batch:
        return Batch(*(getattr(self, f).to(device) for f in self.__dataclass_fields__))

    def select(self, rows: slice | torch.Tensor) -> Batch:
        """A sub-batch (micro-batch or rank shard), trimmed to its own longest sequence and its own
        longest response: padding past them costs forward and backward compute and changes nothing
        (attention is causal and right-padded positions carry no loss)."""
        sub = Batch(*(getattr(self, f)[rows] for f in self.__dataclass_fields__))
        if not len(sub):
            return sub
        true_lengths = sub.attention_mask.sum(dim=1)
        width, response_width = int(true_lengths.max()), int((true_lengths - sub.prompt_lens).max())
        if width >= sub.input_ids.shape[1] and response_width >= sub.response_ids.shape[1]:
            return sub
        advantages = sub.advantages[:, :response_width] if sub.advantages.dim() == 2 else sub.advantages  # dense: (B, T)
        return Batch(sub.input_ids[:, :width], sub.attention_mask[:, :width], sub.prompt_lens,
                     sub.response_ids[:, :response_width], sub.loss_mask[:, :response_width],
                     sub.sampler_logprobs[:, :response_width], advantages, sub.lengths)

    def by_length(self) -> Batch:
        """The rows in order of sequence length, so that micro-batches taken in turn hold sequences of
        like length and :meth:`select` trims each to little padding (the update sums over rows, so
        their order does not change it beyond float rounding)."""
        return self.select(torch.argsort(self.attention_mask.sum(dim=1), stable=True))


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
