"""Reward-model training (``assay train-rm``): a pairwise Bradley-Terry ORM, a step-level PRM, or
PRIME's implicit PRM, over any Hugging Face causal LM.

Every kind reads its text the way its scorer will (``assay.verifiers.learned.tokens.encode_prefix``:
chat prompt, then each step tokenized on its own), so labels sit at exactly the token positions
that are scored later. The loop is one story: batch -> forward -> loss -> step; evaluation on the
held-out set before training and at every tenth of the run.

With ``save_every``, the whole training state is checkpointed under ``out/checkpoints``
(``assay.trainer.run_state.RunDir``) and ``--resume`` continues a killed run to the same weights and
metric rows as a run never stopped.

Output is a standard Hugging Face model directory (``config.json``, ``model.safetensors``,
tokenizer) plus, for ORM and PRM, ``value_head.safetensors`` (the ``ValueHeadPRM`` format), and
``reward_model.json`` saying the kind; load it with
``assay.verifiers.learned.loading.load_reward_model``.
"""

from __future__ import annotations

import contextlib
import copy
import json
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from assay.chat import task_messages
from assay.kernels import token_logprobs
from assay.protocols import Prefix, Step
from assay.trainer import rm_data, rm_eval
from assay.trainer.lora import add_lora, merged_copy
from assay.trainer.progress import StepProgress
from assay.trainer.rm_losses import bradley_terry_loss, implicit_prm_loss, step_bce_loss
from assay.trainer.run_state import BestModel, RunDir, resume_point, rng_state, set_rng_state
from assay.trainer.schedule import LR_SCHEDULES, lr_at
from assay.verifiers.learned.loading import RM_KINDS, RM_META_FILE
from assay.verifiers.learned.tokens import encode_prefix, final_hidden, pad_batch, pad_id


@dataclass(frozen=True)
class RMConfig:
    """Settings of ``assay train-rm`` (one docstring per field, as in GRPOConfig)."""

    kind: str = "orm"
    """orm (pairwise Bradley-Terry) | prm (per-step BCE) | implicit (PRIME: BCE(sigmoid(beta * sum log pi/pi_ref), outcome))."""
    data: str = ""
    """Training data: a JSONL file or anything Hugging Face datasets reads (format per kind: see assay.trainer.rm_data)."""
    eval_data: str = ""
    """Held-out data in the same format, evaluated before training and at every tenth of the run (empty: none)."""
    model: str = "tiny"
    """Base model: a Hugging Face causal LM directory, or "tiny" for a fresh tiny model (tiny_hidden wide)."""
    tiny_hidden: int = 64
    """Hidden size of the fresh tiny model when model is "tiny"."""
    out: str = "runs/rm"
    """Directory the trained reward model is written to."""
    steps: int = 200
    """Optimisation steps."""
    batch_size: int = 16
    """Pairs (orm) or solutions (prm, implicit) per step."""
    lr: float = 1e-3
    """AdamW peak learning rate: linear warm-up over the first 10 steps, then lr_schedule."""
    lr_schedule: str = "linear"
    """After warm-up: linear (decay to 10% at the last step) | cosine (to 10%) | constant | wsd (constant,
    then linear to 10% over the last 20% of the steps)."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    max_grad_norm: float = 1.0
    """Gradient clipping norm (0 disables)."""
    margin: float = 0.0
    """Bradley-Terry margin (orm): loss -log sigmoid(r_c - r_r - margin)."""
    lm_coef: float = 0.0
    """orm: adds lm_coef * the mean next-token loss of the chosen responses (GRM, Yang et al. 2024: regularising
    the hidden states with text generation keeps the base model's knowledge and generalises better)."""
    ema: float = 0.0
    """Decay of an exponential moving average of the weights (e.g. 0.99), which is what gets evaluated and saved;
    0 disables. Averaging weights along the run smooths the step-to-step swings of a reward model's held-out
    accuracy (weight averaging for reward models: WARM, Rame et al. 2024)."""
    lora_rank: int = 0
    """0 trains every weight. r > 0 trains rank-r LoRA adapters (peft) on the trunk's linear layers, plus
    the head, and merges them into the weights before saving, so the output is still a plain Hugging Face
    directory. A low-rank update leaves the model less room to memorise its training prompts: on the
    synthetic arithmetic preferences it is what lets the ORM rank pairs on prompts it never saw
    (bench/results/reward_models.md)."""
    lora_alpha: float = 0.0
    """LoRA scale numerator (the update is lora_alpha / lora_rank * B A); 0 means 2 * lora_rank."""
    lora_targets: str = "all-linear"
    """Layers that get adapters: all-linear (every linear layer of the trunk) or comma-separated module names,
    e.g. q_proj,k_proj,v_proj,o_proj for attention only (peft's target_modules)."""
    beta: float = 0.05
    """PRIME's beta (implicit): the implicit reward is beta * log pi / pi_ref."""
    split: str = "train"
    """Split to read when data is a Hugging Face dataset with several."""
    seed: int = 0
    """Seed of the head initialisation, the tiny model and the batch order."""
    save_every: int = 0
    """Checkpoint the training state to out/checkpoints every this many steps, for --resume (0: none; the
    trained model is written at the end either way). A checkpoint holds the trainable tensors (the LoRA
    adapters with lora_rank, else the whole model), the head, the optimiser and EMA state, and the RNGs."""
    keep_checkpoints: int = 0
    """Keep only the newest this many checkpoints, deleting older ones as new ones land (0: keep all)."""
    keep_best: bool = False
    """Also keep the reward model of the best held-out evaluation so far (needs eval_data; the kind's accuracy:
    pairwise, step or outcome; after step 0, a tie keeps the earlier) in out/best, in the same format as out,
    with best.json giving its step and score."""

    def __post_init__(self) -> None:
        from assay.config import ConfigError

        if self.kind not in RM_KINDS:
            raise ConfigError(f"kind must be one of {', '.join(RM_KINDS)}, got {self.kind!r}")
        if not self.data:
            raise ConfigError("data is required: data=prefs.jsonl (or a Hugging Face dataset)")
        for name in ("steps", "batch_size", "tiny_hidden"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.save_every < 0 or self.keep_checkpoints < 0:
            raise ConfigError(f"save_every and keep_checkpoints must be >= 0 (0: none / keep all), got {self.save_every} "
                              f"and {self.keep_checkpoints}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ConfigError(f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}, got {self.lr_schedule!r}")
        if not 0 <= self.ema < 1:
            raise ConfigError(f"ema must be in [0, 1) (0 disables, 0.99 is typical), got {self.ema}")
        if not self.lora_targets.strip(" ,"):
            raise ConfigError("lora_targets is empty: all-linear, or module names such as q_proj,v_proj")
        if self.lora_rank < 0 or self.lora_alpha < 0:
            raise ConfigError(f"lora_rank and lora_alpha must be >= 0 (0: off / 2 * rank), got {self.lora_rank} and {self.lora_alpha}")
        if self.lm_coef < 0:
            raise ConfigError(f"lm_coef must be >= 0, got {self.lm_coef}")
        if self.lr <= 0 or self.beta <= 0:
            raise ConfigError(f"lr and beta must be > 0, got {self.lr} and {self.beta}")


def load_examples(kind: str, source, split: str = "train") -> list:
    if kind == "orm":
        return rm_data.load_preferences(source, split)
    if kind == "prm":
        return rm_data.load_step_labels(source, split)
    return rm_data.load_outcomes(source, split)


def train_reward_model(cfg: RMConfig, train=None, held_out=None, log=print, resume: bool = False,
                       progress: bool = True) -> tuple[Path, list[dict]]:
    """Train and save; ``train`` / ``held_out`` (lists of examples) replace ``data`` / ``eval_data``
    when given. Returns the output directory and the metric rows (also in ``out/metrics.jsonl``).
    ``resume`` continues from the newest checkpoint in ``out`` (written with ``save_every``);
    ``progress`` shows a rich bar over the steps."""
    run = RunDir(cfg.out)
    _, state = resume_point(run, asdict(cfg), resume, RESUMABLE_CHANGES, "out", log)  # state None: from step 0
    torch.manual_seed(cfg.seed)
    train = train if train is not None else load_examples(cfg.kind, cfg.data, cfg.split)
    held_out = held_out if held_out is not None else (load_examples(cfg.kind, cfg.eval_data, cfg.split) if cfg.eval_data else [])
    if not train:
        from assay.errors import AssayError

        raise AssayError(f"no training examples in {cfg.data}")
    if cfg.keep_best and not held_out:
        from assay.errors import AssayError

        raise AssayError("keep_best needs held-out data to pick the best model: pass eval_data=FILE")
    model, tokenizer = _base_model(cfg)
    head = torch.nn.Linear(model.config.hidden_size, 1) if cfg.kind != "implicit" else None
    ref = copy.deepcopy(model).eval().requires_grad_(False) if cfg.kind == "implicit" else None
    adapted = add_lora(model, cfg.lora_rank, cfg.lora_alpha, cfg.lora_targets) if cfg.lora_rank else None  # trains the adapters inside `model`
    params = [p for p in model.parameters() if p.requires_grad] + (list(head.parameters()) if head is not None else [])
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    rng = random.Random(cfg.seed)
    order: list[int] = []
    ema = WeightAverage(params, cfg.ema) if cfg.ema else None
    if state is None:
        done, elapsed_s, history = 0, 0.0, []
        if held_out:
            _record(run, history, {"step": 0, **_evaluate(cfg, model, tokenizer, head, ref, held_out)}, log)
    else:
        done, elapsed_s, history, order = _restore(state, model, head, optimizer, ema, rng)
        del state  # its copies of the weights would otherwise stay in memory all run
        run.truncate_metrics(done)  # rows logged after the checkpoint are logged again as the steps repeat
        log(f"rm resumed from step {done}")
    best = BestModel(run, BEST_METRIC[cfg.kind]) if cfg.keep_best else None
    started = time.perf_counter() - elapsed_s
    model.train()
    with StepProgress(cfg.steps, done, enabled=progress) as bar:
        for step in range(done + 1, cfg.steps + 1):
            if len(order) < cfg.batch_size:  # reshuffle per epoch; the tail of an epoch joins the next
                fresh = list(range(len(train)))
                rng.shuffle(fresh)
                order += fresh
            batch, order = [train[i] for i in order[:cfg.batch_size]], order[cfg.batch_size:]
            loss = _loss(cfg, model, tokenizer, head, ref, batch)  # forward
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step, cfg.lr, cfg.steps, cfg.lr_schedule, warmup_steps=min(10, cfg.steps - 1), min_lr_ratio=0.1)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.max_grad_norm > 0:
                torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
            optimizer.step()
            if ema is not None:
                ema.update()
            loss_value = float(loss.detach())
            if step % max(1, cfg.steps // 10) == 0 or step == cfg.steps:
                row = {"step": step, "loss": loss_value, "elapsed_s": round(time.perf_counter() - started, 2)}
                if held_out:
                    with ema.swapped() if ema is not None else contextlib.nullcontext():
                        row.update(_evaluate(cfg, model, tokenizer, head, ref, held_out))
                        if best is not None:  # the weights evaluated (averaged, with ema) are the ones kept
                            best.offer(row, lambda folder: _save(folder, cfg, merged_copy(model, adapted), tokenizer, head, ref))
                _record(run, history, row, log)
            bar.update(step, _headline(loss_value, history))
            if cfg.save_every and step % cfg.save_every == 0:  # no model directory: the state holds the trainable tensors
                run.save(step, None, None, _trainer_state(cfg, step, model, head, optimizer, ema, rng, order, history,
                                                          time.perf_counter() - started), keep=cfg.keep_checkpoints)
    model.eval()
    if ema is not None:
        ema.copy_to_params()  # the averaged weights are the model
    if adapted is not None:
        model = adapted.merge_and_unload()  # W + scale * B A: plain linear layers again
    return _save(Path(cfg.out), cfg, model, tokenizer, head, ref), history


class WeightAverage:
    """An exponential moving average of parameters, ``avg <- decay * avg + (1 - decay) * p`` after
    every optimiser step. It starts at zero and is divided by ``1 - decay ** n`` (Adam's bias
    correction), so after ``n`` steps it is a weighted mean of the weights those steps produced,
    not pulled toward zero or toward the starting weights."""

    def __init__(self, params, decay: float):
        self.params, self.decay, self.n = list(params), decay, 0
        self.avg = [torch.zeros_like(p, dtype=torch.float32) for p in self.params]

    @torch.no_grad()
    def update(self) -> None:
        self.n += 1
        for a, p in zip(self.avg, self.params):
            a.mul_(self.decay).add_(p.detach().float(), alpha=1 - self.decay)

    @torch.no_grad()
    def averaged(self) -> list[torch.Tensor]:
        if self.n == 0:
            return [p.detach().float().clone() for p in self.params]
        correction = 1 - self.decay ** self.n
        return [a / correction for a in self.avg]

    @torch.no_grad()
    def copy_to_params(self) -> None:
        for p, a in zip(self.params, self.averaged()):
            p.copy_(a.to(p.dtype))

    @contextlib.contextmanager
    def swapped(self):
        """The averaged weights in the parameters for the duration (evaluation), then the live ones back."""
        live = [p.detach().clone() for p in self.params]
        self.copy_to_params()
        try:
            yield
        finally:
            with torch.no_grad():
                for p, x in zip(self.params, live):
                    p.copy_(x)


# ------------------------------------------------------------------------------ per kind
def _encode(tokenizer, task, steps) -> tuple[list[int], int, list[int]]:
    return encode_prefix(tokenizer, Prefix(task, tuple(Step(s) for s in steps)), task_messages)


def _hidden(model, tokenizer, rows):
    device = next(model.parameters()).device
    ids, mask = pad_batch([r[0] for r in rows], pad_id(tokenizer), device)
    return final_hidden(model, ids, mask), ids  # (B, L, D), (B, L)


def _head_at(model, tokenizer, head, rows, last_only: bool) -> torch.Tensor:
    """The head's output at every step end (flat ``(N,)``), or at each row's last step ``(B,)``."""
    hidden, _ = _hidden(model, tokenizer, rows)
    b_idx, t_idx = [], []
    for b, (_, _, ends) in enumerate(rows):
        picked = ends[-1:] if last_only else ends
        b_idx += [b] * len(picked)
        t_idx += picked
    return head(hidden[torch.tensor(b_idx), torch.tensor(t_idx)])[:, 0]


def _sequence_logp(model, tokenizer, rows) -> torch.Tensor:
    """Sum of log p over each row's response tokens, ``(B,)``, through ``assay.kernels.token_logprobs``."""
    hidden, ids = _hidden(model, tokenizer, rows)
    b_idx, t_idx = [], []
    for b, (row, prompt_len, _) in enumerate(rows):
        b_idx += [b] * (len(row) - prompt_len)
        t_idx += range(prompt_len, len(row))
    b_t, t_t = torch.tensor(b_idx), torch.tensor(t_idx)
    logp = token_logprobs(hidden[b_t, t_t - 1], model.get_output_embeddings().weight, ids[b_t, t_t])  # (N,)
    return torch.zeros(len(rows), dtype=logp.dtype).index_add(0, b_t, logp)


def _loss(cfg: RMConfig, model, tokenizer, head, ref, batch) -> torch.Tensor:
    if cfg.kind == "orm":
        rows = [_encode(tokenizer, p.task, [p.chosen]) for p in batch] + [_encode(tokenizer, p.task, [p.rejected]) for p in batch]
        r = _head_at(model, tokenizer, head, rows, last_only=True)  # (2B,)
        loss = bradley_terry_loss(r[:len(batch)], r[len(batch):], cfg.margin)
        if cfg.lm_coef:
            chosen = rows[:len(batch)]
            tokens = sum(len(ids) - prompt_len for ids, prompt_len, _ in chosen)
            loss = loss - cfg.lm_coef * _sequence_logp(model, tokenizer, chosen).sum() / max(tokens, 1)
        return loss
    if cfg.kind == "prm":
        rows = [_encode(tokenizer, e.task, e.steps) for e in batch]
        labels = torch.tensor([x for e in batch for x in e.labels])
        return step_bce_loss(_head_at(model, tokenizer, head, rows, last_only=False), labels)
    rows = [_encode(tokenizer, e.task, e.steps) for e in batch]
    with torch.no_grad():
        ref_logp = _sequence_logp(ref, tokenizer, rows)
    outcome = torch.tensor([e.outcome for e in batch])
    return implicit_prm_loss(_sequence_logp(model, tokenizer, rows), ref_logp, outcome, cfg.beta)


@torch.no_grad()
def _evaluate(cfg: RMConfig, model, tokenizer, head, ref, held_out) -> dict:
    was_training = model.training
    model.eval()
    try:
        if cfg.kind == "orm":
            from assay.verifiers.learned.orm import ValueHeadORM

            return rm_eval.pairwise_accuracy(ValueHeadORM(model, tokenizer, head), held_out)
        if cfg.kind == "prm":
            from assay.verifiers.learned.prm import ValueHeadPRM

            return rm_eval.step_accuracy(ValueHeadPRM(model, tokenizer, head), held_out)
        from assay.verifiers.learned.implicit import ImplicitPRM

        return rm_eval.outcome_accuracy(ImplicitPRM(model, ref, tokenizer, cfg.beta, use_step_ids=False), held_out)
    finally:
        model.train(was_training)


# ------------------------------------------------------------------------------ checkpoints
BEST_METRIC = {"orm": "pairwise_accuracy", "prm": "step_accuracy", "implicit": "outcome_accuracy"}
"""What ``keep_best`` ranks evaluations by, per kind (``assay.trainer.rm_eval``)."""

RESUMABLE_CHANGES = ("out", "save_every", "keep_checkpoints", "keep_best")
"""Settings a resumed run may change: where the run lives (moved) and how it checkpoints."""


def _trainer_state(cfg: RMConfig, step: int, model, head, optimizer, ema, rng: random.Random, order: list[int],
                   history: list[dict], elapsed_s: float) -> dict:
    """Everything a resumed run needs to go on exactly as if never stopped. Of the model, only the
    trainable tensors (LoRA adapters, or every weight without LoRA): the rest is rebuilt from the
    config, as the frozen reference of the implicit PRM is."""
    return {"step": step, "config": asdict(cfg), "elapsed_s": elapsed_s, "history": history,
            "trainable": {name: p.detach() for name, p in model.named_parameters() if p.requires_grad},
            "head": head.state_dict() if head is not None else None,
            "optimizer": optimizer.state_dict(),
            "ema": {"avg": ema.avg, "n": ema.n} if ema is not None else None,
            "rng": rng_state(), "batch_rng": rng.getstate(), "order": order}


@torch.no_grad()
def _restore(state: dict, model, head, optimizer, ema, rng: random.Random) -> tuple[int, float, list[dict], list[int]]:
    """Puts ``_trainer_state``'s state back into freshly built objects (copied into their tensors,
    which keep their own allocations); returns the step, the elapsed seconds, the metric rows and the
    rest of the epoch's batch order."""
    live = dict(model.named_parameters())
    for name, value in state["trainable"].items():
        live[name].copy_(value)
    if head is not None:
        head.load_state_dict(state["head"])
    optimizer.load_state_dict(state["optimizer"])
    if ema is not None:
        for avg, value in zip(ema.avg, state["ema"]["avg"]):
            avg.copy_(value)
        ema.n = state["ema"]["n"]
    rng.setstate(state["batch_rng"])
    set_rng_state(state["rng"])
    return state["step"], state["elapsed_s"], state["history"], state["order"]


# ------------------------------------------------------------------------------ plumbing
def _base_model(cfg: RMConfig):
    if cfg.model == "tiny":
        from assay.trainer.tiny import build_model, build_tokenizer

        tokenizer = build_tokenizer()
        heads = 4 if cfg.tiny_hidden % 4 == 0 else 1
        return build_model(len(tokenizer), hidden_size=cfg.tiny_hidden, layers=2, heads=heads, seed=cfg.seed), tokenizer
    from assay.trainer.policy import load_policy

    return load_policy(cfg.model, cfg.out, cfg.seed)


def _save(out: Path, cfg: RMConfig, model, tokenizer, head, ref) -> Path:
    meta = {"kind": cfg.kind, "base_model": cfg.model, "config": asdict(cfg)}
    if head is not None:
        from assay.verifiers.learned.prm import ValueHeadPRM

        ValueHeadPRM(model, tokenizer, head).save_pretrained(out)
    else:  # implicit: the trained LM and its reference, both needed to score
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)
        ref.save_pretrained(out / "reference")  # the frozen initial model
        meta.update(beta=cfg.beta, reference="reference")
    (out / RM_META_FILE).write_text(json.dumps(meta, indent=1) + "\n")
    return out


def _record(run: RunDir, history: list[dict], row: dict, log) -> None:
    history.append(row)
    run.log(row)
    log(_fmt(row))


def _headline(loss: float, history: list[dict]) -> str:
    """The progress bar's text: this step's loss and the latest held-out accuracy."""
    accuracy = next((v for row in reversed(history) for k, v in row.items() if k.endswith("_accuracy")), None)
    return f"loss {loss:.4f}" + (f"  held-out acc {accuracy:.3f}" if accuracy is not None else "")


def _fmt(row: dict) -> str:
    return "rm " + "  ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items())
