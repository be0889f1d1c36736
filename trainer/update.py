"""One optimisation step on a batch of rollouts: loss -> backward -> clip -> step.

Written for data parallelism and gradient accumulation from the start: every micro-batch loss is
normalised by the *global* batch's counts (``aggregate_loss(num_tokens=, num_seqs=)``), so the
micro-batch losses of all ranks sum to the loss of the whole batch, and the update does not depend
on how the batch is split (tests/trainer/test_invariants.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.distributed as dist

from assay.trainer import losses
from assay.trainer.batch import Batch
from assay.trainer.config import GRPOConfig
from assay.trainer.fsdp import is_sharded
from assay.trainer.policy import response_logprobs


class TrainingDiverged(RuntimeError):
    """The loss or the gradient norm is NaN or infinite."""


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1

    @classmethod
    def current(cls) -> World:
        if dist.is_available() and dist.is_initialized():
            return cls(dist.get_rank(), dist.get_world_size())
        return cls()

    def sum(self, value: float) -> float:
        return self._reduce(value, dist.ReduceOp.SUM)

    def max(self, value: float) -> float:
        return self._reduce(value, dist.ReduceOp.MAX)

    def _reduce(self, value: float, op) -> float:
        if self.size == 1:
            return float(value)
        # NCCL reduces only CUDA tensors; gloo takes CPU ones
        device = "cuda" if dist.get_backend() == "nccl" else "cpu"
        t = torch.tensor([float(value)], dtype=torch.float64, device=device)
        dist.all_reduce(t, op=op)
        return float(t.item())

    def any(self, flag: bool) -> bool:
        """True on every rank when ``flag`` is true on some rank (one all-reduce): for decisions
        that every rank must take together, such as skipping a step."""
        return self.sum(1.0 if flag else 0.0) > 0


def all_reduce_grads(model, world: World) -> None:
    """Sum gradients over ranks (one flat buffer per dtype).

    Why not DistributedDataParallel: DDP synchronises through hooks armed by its own ``forward``,
    but log-probs here go through the base model and ``assay.kernels.token_logprobs`` (never the
    LM head's full logits), so the wrapper's forward is not what runs. Since every rank's loss is
    normalised by global counts, the *sum* of rank gradients is exactly the full batch's gradient.
    """
    if world.size == 1 or is_sharded(model):  # FSDP has reduce-scattered them in the backward
        return
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    for dtype in {g.dtype for g in grads}:
        group = [g for g in grads if g.dtype == dtype]
        flat = torch.cat([g.reshape(-1) for g in group])
        dist.all_reduce(flat)
        offset = 0
        for g in group:
            g.copy_(flat[offset : offset + g.numel()].view_as(g))
            offset += g.numel()


def logprobs(model, batch: Batch, temperature: float, with_entropy: bool = False, precision: str = "fp32"):
    """``response_logprobs`` of a plain model, or through an FSDP root (``assay.trainer.fsdp``),
    whose forward gathers the shards it needs."""
    if is_sharded(model):
        return model(batch, temperature, with_entropy, precision)
    return response_logprobs(model, batch, temperature, with_entropy, precision)


def gradient_norm(model, max_norm: float) -> float:
    """The global gradient norm, clipping to ``max_norm`` when it is > 0 (sharded gradients too)."""
    if max_norm > 0:
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    else:
        norm = torch.nn.utils.get_total_norm([p.grad for p in model.parameters() if p.grad is not None])
    if hasattr(norm, "full_tensor"):  # a DTensor: the norm over every rank's shards
        norm = norm.full_tensor()
    return float(norm)


def micro_batches(n: int, size: int) -> list[slice]:
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


def lockstep(slices: list[slice], model, world: World) -> list[tuple[slice, bool]]:
    """``(slice, real)`` per forward/backward this rank runs. Under FSDP every forward and backward
    is a collective (all-gathers, reduce-scatters), so a rank with fewer micro-batches than another
    (dynamic sampling keeps a different number of groups per rank) runs its first one again, with
    weight 0, until every rank has run as many; otherwise the ranks would wait on each other forever."""
    steps = [(s, True) for s in slices]
    if not is_sharded(model) or world.size == 1:
        return steps
    return steps + [(slices[0], False)] * (int(world.max(len(slices))) - len(slices))


def _logprobs_no_grad(model, batch: Batch, steps: list[tuple[slice, bool]], cfg: GRPOConfig) -> torch.Tensor:
    """Log-probs of every row, ``(B, T)``: each micro-batch's (trimmed to its own longest response)
    padded back to the batch's response width."""
    width = batch.response_ids.shape[1]
    with torch.no_grad():
        outs = [(logprobs(model, batch.select(s), cfg.temperature, precision=cfg.precision)[0], real) for s, real in steps]
    return torch.cat([torch.nn.functional.pad(lp, (0, width - lp.shape[1])) for lp, real in outs if real])


def policy_update(model, optimizer, batch: Batch, cfg: GRPOConfig, world: World = World(), ref_model=None) -> dict[str, float]:
    """Run ``cfg.ppo_epochs`` passes over ``batch`` (this rank's shard) and step the optimiser.

    With several ranks, gradients are summed across ranks before the step (see
    :func:`all_reduce_grads`). Returns this step's metrics (summed over ranks where they are sums).
    """
    batch = batch.to(next(model.parameters()).device)
    if cfg.length_sorted_micro_batches:
        batch = batch.by_length()
    n_tokens = world.sum(batch.loss_mask.sum().item())
    n_seqs = world.sum(len(batch))
    slices = micro_batches(len(batch), cfg.micro_batch_size)
    steps = lockstep(slices, model, world)
    old_logp = ref_logp = None
    if cfg.ppo_epochs > 1:
        old_logp = _logprobs_no_grad(model, batch, steps, cfg)
    if cfg.kl_coef > 0 and ref_model is not None:
        ref_logp = _logprobs_no_grad(ref_model, batch, lockstep(slices, ref_model, world), cfg)
    totals = {"loss": 0.0, "pg_loss": 0.0, "kl": 0.0, "entropy": 0.0, "clip_frac": 0.0, "tis_weight": 0.0}
    grad_norm = 0.0
    for _ in range(cfg.ppo_epochs):
        optimizer.zero_grad(set_to_none=True)
        diverged = None  # a non-finite loss: every rank learns of it below and stops together
        for s, real in steps:
            micro = batch.select(s)
            logp, entropy = logprobs(model, micro, cfg.temperature, with_entropy=True, precision=cfg.precision)
            width = logp.shape[1]
            old = logp.detach() if old_logp is None else old_logp[s, :width]
            per_token = losses.clipped_policy_loss(logp, old, micro.advantages, cfg.clip_low, cfg.clip_high)
            if cfg.tis_cap is not None:
                weights = losses.truncated_is_weights(old, micro.sampler_logprobs[:, :width], cfg.tis_cap)
                per_token = per_token * weights
                if real:
                    totals["tis_weight"] += float((weights * micro.loss_mask).sum())
            kl = torch.zeros_like(logp)
            if ref_logp is not None:
                kl = losses.kl_penalty(logp, ref_logp[s, :width], cfg.kl_estimator)
                per_token = per_token + cfg.kl_coef * kl
            if cfg.entropy_coef:
                per_token = per_token - cfg.entropy_coef * entropy
            agg = dict(num_tokens=n_tokens, num_seqs=n_seqs, max_tokens=cfg.max_new_tokens * cfg.max_turns)
            loss = losses.aggregate_loss(per_token, micro.loss_mask, cfg.loss_agg_mode, **agg)
            if not real:  # a lockstep repeat: its collectives run, its gradient is zero
                (loss * 0.0).backward()
                continue
            if not torch.isfinite(loss):
                diverged = loss.item()
            loss.backward()
            mask = micro.loss_mask
            totals["loss"] += float(loss.detach())
            totals["pg_loss"] += float(losses.aggregate_loss(per_token.detach(), mask, cfg.loss_agg_mode, **agg))
            totals["kl"] += float((kl.detach() * mask).sum())
            totals["entropy"] += float((entropy.detach() * mask).sum())
            totals["clip_frac"] += float(losses.clip_fraction(logp.detach(), old, mask, cfg.clip_low, cfg.clip_high) * mask.sum())
        if world.any(diverged is not None):
            where = f"loss is {diverged} (non-finite)" if diverged is not None else "the loss is non-finite on another rank"
            raise TrainingDiverged(f"{where}; lower lr or check rewards")
        all_reduce_grads(model, world)
        grad_norm = gradient_norm(model, cfg.max_grad_norm)
        if not math.isfinite(grad_norm):
            raise TrainingDiverged(f"gradient norm is {grad_norm}; lower lr or check rewards")
        optimizer.step()
    epochs = cfg.ppo_epochs
    per_tok = max(n_tokens, 1.0) * epochs
    return {
        "loss": world.sum(totals["loss"]) / epochs,
        "pg_loss": world.sum(totals["pg_loss"]) / epochs,
        "kl": world.sum(totals["kl"]) / per_tok,
        "entropy": world.sum(totals["entropy"]) / per_tok,
        "clip_frac": world.sum(totals["clip_frac"]) / per_tok,
        "tis_weight": world.sum(totals["tis_weight"]) / per_tok if cfg.tis_cap is not None else 1.0,
        "grad_norm": grad_norm,
        "train_tokens": n_tokens,
        # every token the forward passes read (prompt, environment and response), over all epochs:
        # the update's throughput denominator, since prompts cost compute though they carry no loss
        "processed_tokens": world.sum(batch.attention_mask.sum().item()) * epochs,
    }
