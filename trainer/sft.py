"""Supervised warm start (``assay pretrain-tiny``): teach the tiny model the answer format on
procedural tasks before RL, as a real pipeline warm-starts from an instruction-tuned checkpoint.

Loss is next-token cross-entropy on the response tokens only (the prompt is context). The result
is a standard Hugging Face directory, used by ``assay train model=DIR`` like any real checkpoint.

The output directory is a run directory too (``assay.trainer.run_state``, the rule every trainer
follows): ``out/metrics.jsonl`` has one row per step, ``save_every`` checkpoints under
``out/checkpoints``, and ``--resume`` continues a killed run to the weights of one never stopped.
The data need no state of their own: step s trains on the tasks of seeds
``seed * 7919 + (s - 1) * batch_size`` onwards.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

import assay
from assay.chat import chat_ids
from assay.trainer.progress import StepProgress
from assay.trainer.run_state import RunDir, resume_point, rng_state, set_rng_state
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
    save_every: int = 0
    """Checkpoint to out/checkpoints every this many steps, for --resume (0: none; the model is written at the end
    either way)."""
    keep_checkpoints: int = 0
    """Keep only the newest this many checkpoints (0: keep all)."""

    def __post_init__(self) -> None:
        from assay.config import ConfigError

        if self.steps < 1 or self.batch_size < 1:
            raise ConfigError(f"steps and batch_size must be >= 1, got {self.steps} and {self.batch_size}")
        if self.lr <= 0:
            raise ConfigError(f"lr must be > 0, got {self.lr}")
        if self.save_every < 0 or self.keep_checkpoints < 0:
            raise ConfigError(f"save_every and keep_checkpoints must be >= 0 (0: none / keep all), got {self.save_every} "
                              f"and {self.keep_checkpoints}")


RESUMABLE_CHANGES = ("out", "save_every", "keep_checkpoints")
"""Settings a resumed run may change: where it lives and how it checkpoints."""


def example_ids(tokenizer, prompt_messages: list[dict], answer: str) -> tuple[list[int], list[int]]:
    """(input ids, labels) for one example: the labels are -100 on the prompt."""
    prompt = chat_ids(tokenizer, prompt_messages)
    response = tokenizer.encode(f"\\boxed{{{answer}}}", add_special_tokens=False) + [tokenizer.eos_token_id]
    return prompt + response, [-100] * len(prompt) + response


def pretrain_tiny(cfg: SFTConfig, log=print, resume: bool = False, progress: bool = False) -> Path:
    """Train and write the model to ``cfg.out``; ``resume`` continues from the newest checkpoint
    there (``save_every``); ``progress`` shows a rich bar over the steps."""
    run = RunDir(cfg.out)
    checkpoint, state = resume_point(run, asdict(cfg), resume, RESUMABLE_CHANGES, "out", log)
    torch.manual_seed(cfg.seed)
    tokenizer = build_tokenizer()
    model = build_model(len(tokenizer), seed=cfg.seed)
    if checkpoint is not None:
        from safetensors.torch import load_file

        # into the parameters just built: the same fresh allocations as an uninterrupted run (CPU
        # kernels round differently on weights left where a loaded file put them; see load_policy)
        saved = load_file(checkpoint / "model.safetensors")
        loaded = model.load_state_dict(saved, strict=False)
        live = model.state_dict()
        saved_storage = {live[name].data_ptr() for name in saved if name in live}
        untied = [k for k in loaded.missing_keys if live[k].data_ptr() not in saved_storage]  # tied ones load with their twin
        if loaded.unexpected_keys or untied:
            from assay.errors import AssayError

            raise AssayError(f"checkpoint {checkpoint} does not fit the tiny model (missing {untied}, unexpected "
                             f"{loaded.unexpected_keys})")
    env = assay.make(cfg.env_id, **(cfg.env_kwargs or {}))
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / 10) * max(0.05, 1 - s / cfg.steps))
    done = 0
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        set_rng_state(state["rng"])
        done = state["step"]
        run.truncate_metrics(done)
        log(f"sft resumed from step {done}")
    started = time.perf_counter() - (state["elapsed_s"] if state is not None else 0.0)
    model.train()
    with StepProgress(cfg.steps, done, enabled=progress) as bar:
        for step in range(done + 1, cfg.steps + 1):
            rows = [example(tokenizer, env, cfg.seed * 7_919 + (step - 1) * cfg.batch_size + i) for i in range(cfg.batch_size)]
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
            lr = optimizer.param_groups[0]["lr"]
            optimizer.step()
            schedule.step()
            elapsed = time.perf_counter() - started
            run.log({"step": step, "loss": loss.item(), "lr": lr, "elapsed_s": round(elapsed, 2)})
            bar.update(step, f"loss {loss.item():.3f}")
            if step % 25 == 0 or step == cfg.steps:
                log(f"sft step {step}/{cfg.steps}  loss {loss.item():.3f}  {elapsed:.0f}s")
            if cfg.save_every and step % cfg.save_every == 0:
                run.save(step, model, tokenizer, {"optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(),
                                                  "rng": rng_state(), "step": step, "elapsed_s": elapsed, "config": asdict(cfg)},
                         keep=cfg.keep_checkpoints)
    out = Path(cfg.out)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def example(tokenizer, env, seed: int) -> tuple[list[int], list[int]]:
    """The training example of task seed ``seed``."""
    obs, info = env.reset(seed=seed)
    task = info.get("task")
    if task is None or task.answer is None:
        from assay.errors import AssayError

        name = getattr(env.spec, "id", type(env.unwrapped).__name__)
        raise AssayError(f"pretrain-tiny learns from gold answers, and {name} states none (no assay.Task with an answer "
                         "in info['task']): warm-start on an assay env such as assay/arithmetic-v0")
    return example_ids(tokenizer, info.get("messages") or [{"role": "user", "content": obs}], str(task.answer))
