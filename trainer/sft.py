"""Supervised warm start (``assay pretrain-tiny``): teach the tiny model the answer format on
procedural tasks before RL, as a real pipeline warm-starts from an instruction-tuned checkpoint.

Loss is next-token cross-entropy on the response tokens only (the prompt is context). The result
is a standard Hugging Face directory, used by ``assay train model=DIR`` like any real checkpoint.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch

import assay
from assay.chat import chat_ids
from assay.trainer.tiny import build_model, build_tokenizer


@dataclass(frozen=True)
class SFTConfig:
    """Settings of ``assay pretrain-tiny`` (one docstring per field, as in GRPOConfig)."""

    out: str = "runs/tiny-sft"
    """Directory the warm-started model is written to."""
    env_id: str = "assay/arithmetic-v0"
    """Environment whose tasks (and gold answers) make the training data."""
    env_kwargs: dict | None = None
    """Its constructor arguments, e.g. {difficulty: 1}."""
    steps: int = 150
    """Optimisation steps."""
    batch_size: int = 32
    """Examples per step."""
    lr: float = 3e-3
    """AdamW learning rate."""
    seed: int = 0
    """Seed of the model initialisation and the task draw (seeds below 10**9, disjoint from evaluation)."""

    def __post_init__(self) -> None:
        from assay.config import ConfigError

        if self.steps < 1 or self.batch_size < 1:
            raise ConfigError(f"steps and batch_size must be >= 1, got {self.steps} and {self.batch_size}")
        if self.lr <= 0:
            raise ConfigError(f"lr must be > 0, got {self.lr}")


def example_ids(tokenizer, prompt_messages: list[dict], answer: str) -> tuple[list[int], list[int]]:
    """(input ids, labels) for one example: the labels are -100 on the prompt."""
    prompt = chat_ids(tokenizer, prompt_messages)
    response = tokenizer.encode(f"\\boxed{{{answer}}}", add_special_tokens=False) + [tokenizer.eos_token_id]
    return prompt + response, [-100] * len(prompt) + response


def pretrain_tiny(cfg: SFTConfig, log=print) -> Path:
    torch.manual_seed(cfg.seed)
    tokenizer = build_tokenizer()
    model = build_model(len(tokenizer), seed=cfg.seed)
    env = assay.make(cfg.env_id, **(cfg.env_kwargs or {}))
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / 10) * max(0.05, 1 - s / cfg.steps))
    seed = cfg.seed * 7_919
    started = time.perf_counter()
    model.train()
    for step in range(1, cfg.steps + 1):
        rows = []
        for _ in range(cfg.batch_size):
            _, info = env.reset(seed=seed)
            seed += 1
            rows.append(example_ids(tokenizer, info["messages"], str(info["task"].answer)))
        width = max(len(ids) for ids, _ in rows)
        ids = torch.full((len(rows), width), tokenizer.pad_token_id)
        labels = torch.full((len(rows), width), -100)
        attn = torch.zeros((len(rows), width), dtype=torch.long)
        for i, (x, y) in enumerate(rows):
            ids[i, : len(x)], labels[i, : len(y)], attn[i, : len(x)] = torch.tensor(x), torch.tensor(y), 1
        loss = model(input_ids=ids, attention_mask=attn, labels=labels).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        if step % 25 == 0 or step == cfg.steps:
            log(f"sft step {step}/{cfg.steps}  loss {loss.item():.3f}  {time.perf_counter() - started:.0f}s")
    out = Path(cfg.out)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
