"""Learned rewards in the GRPO trainer: an ORM's score mixed into the outcome reward, and a PRM's
(or implicit PRM's) step rewards turned into per-token process advantages.

The story per step: split each response into steps (at tokens that end a line, and at turn ends),
score the step prefixes with the reward model, shape the step rewards (clip / delta, Gao et al.
2024), take per-step returns (PURE's min-form by default, through ``assay.kernels.process_returns``),
optionally gate them on the outcome (Posterior-GRPO), subtract the group's mean trajectory value
and spread each step's value over its tokens. The trainer adds this ``(B, T)`` process advantage
to the outcome's group advantage.

Departures, said here once: steps are lines (the toy and arithmetic tasks write one step per
line), and an implicit PRM is used at step granularity (the sum of ``q_t`` over a step's tokens)
rather than PRIME's per-token reward; the process baseline is the group mean of each trajectory's
first-step return (its value under min-form), not a separate RLOO pass.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from assay.protocols import Prefix, Step
from assay.types import Trajectory
from assay.verifiers.learned.ensemble import EnsembleScorer, Standardized
from assay.verifiers.shaping import posterior_gate, shape_process


def split_steps(token_ids: Sequence[int], pieces: Sequence[str], boundaries: Sequence[int] = ()) -> list[int]:
    """Exclusive end offsets of each step: after every token whose text contains a newline, at
    every turn boundary, and at the end. ``pieces[i]`` is token i's decoded text."""
    ends = {i + 1 for i, piece in enumerate(pieces) if "\n" in piece}
    ends |= {b for b in boundaries if 0 < b <= len(token_ids)}
    if token_ids:
        ends.add(len(token_ids))
    return sorted(ends)


def token_process_advantages(step_returns: Sequence[Sequence[float]], step_ends: Sequence[Sequence[int]],
                             group_ids: Sequence[int], width: int) -> torch.Tensor:
    """``(B, T)``: token j of trajectory i gets ``G_{i, s(j)} - mean_{k in group(i)} G_{k, 0}``,
    with ``s(j)`` the step holding token j. Trajectories without steps get zeros."""
    first: dict[int, list[float]] = {}
    for returns, g in zip(step_returns, group_ids):
        if returns:
            first.setdefault(g, []).append(returns[0])
    baseline = {g: sum(v) / len(v) for g, v in first.items()}
    out = torch.zeros((len(step_returns), width), dtype=torch.float32)
    for i, (returns, ends, g) in enumerate(zip(step_returns, step_ends, group_ids)):
        start = 0
        for value, end in zip(returns, ends):
            out[i, start:min(end, width)] = value - baseline[g]
            start = end
    return out


class LearnedRewards:
    """The reward model a run uses (see the module docstring); built by the trainer from its config."""

    def __init__(self, model, kind: str, tokenizer, coef: float, transform: str = "none", return_mode: str = "min",
                 eta: float = 0.0, posterior: bool = False):
        self.model, self.kind, self.tokenizer, self.coef = model, kind, tokenizer, coef
        self.transform, self.return_mode, self.eta, self.posterior = transform, return_mode, eta, posterior

    @property
    def dense(self) -> bool:
        return self.kind in ("prm", "implicit")

    def state(self):
        """What a checkpoint must keep to score the same after a resume (an ensemble's fit), or None."""
        return self.model.state() if isinstance(self.model, FirstBatchStandardized) else None

    def load_state(self, state) -> None:
        if isinstance(self.model, FirstBatchStandardized):
            self.model.load_state(state)

    def outcome_rewards(self, trajectories: Sequence[Trajectory]) -> torch.Tensor:
        """An ORM's score of each whole response, ``(B,)``."""
        tasks = [t.task for t in trajectories]
        return torch.tensor(self.model.rewards(tasks, [t.response for t in trajectories]), dtype=torch.float32)

    def process_advantages(self, trajectories: Sequence[Trajectory], group_ids: Sequence[int], width: int) -> torch.Tensor:
        """``coef *`` the per-token process advantages, ``(B, T)``."""
        ends, prefixes = [], []
        for t in trajectories:
            pieces = [self.tokenizer.decode([i]) for i in t.token_ids]
            e = split_steps(t.token_ids, pieces, t.step_boundaries)
            bounds = [0] + e
            steps = tuple(Step(self.tokenizer.decode(list(t.token_ids[a:b])), tuple(t.token_ids[a:b]))
                          for a, b in zip(bounds, bounds[1:]))
            ends.append(e)
            prefixes.append(Prefix(t.task, steps))
        scores = self.model.score(prefixes)
        flat = [x for row in scores for x in row]
        offsets = [0]
        for row in scores:
            offsets.append(offsets[-1] + len(row))
        returns = shape_process(flat, offsets, self.transform, self.return_mode, self.eta)
        if self.posterior:  # Posterior-GRPO: process credit only where the outcome passed
            passed = [bool(t.verdict and t.verdict.passed) for t, row in zip(trajectories, scores) for _ in row]
            returns = posterior_gate(torch.zeros_like(returns), returns, passed)
        per_traj = [returns[a:b].tolist() for a, b in zip(offsets, offsets[1:])]
        return self.coef * token_process_advantages(per_traj, ends, group_ids, width)


class FirstBatchStandardized:
    """An ensemble of ORMs, each standardized on the first responses it scores (the policy's first
    batch) and combined by ``EnsembleScorer``. A Bradley-Terry ORM's scale and offset are arbitrary
    (only differences are trained), so raw scores cannot be combined; the policy's own samples are
    the responses the ensemble will judge. The fit is part of the trainer's checkpoint (``state``),
    so a resumed run scores exactly as before."""

    def __init__(self, members: Sequence, mode: str, lam: float):
        self.members, self.mode, self.lam = tuple(members), mode, lam
        self.fitted: EnsembleScorer | None = None

    def rewards(self, tasks: Sequence, responses: Sequence[str]) -> list[float]:
        if self.fitted is None:
            from assay.errors import AssayError

            try:
                self.fitted = EnsembleScorer.standardized(self.members, [Prefix(t, (Step(r),)) for t, r in zip(tasks, responses)],
                                                          self.mode, self.lam)
            except ValueError as e:
                raise AssayError(f"cannot standardize the reward-model ensemble on the first batch: {e}") from None
        return self.fitted.rewards(tasks, responses)

    def state(self) -> list[tuple[float, float]] | None:
        return None if self.fitted is None else [(m.mean, m.std) for m in self.fitted.members]

    def load_state(self, state: list[tuple[float, float]] | None) -> None:
        self.fitted = None if state is None else EnsembleScorer(
            tuple(Standardized(m, mean, std) for m, (mean, std) in zip(self.members, state)), self.mode, self.lam)


def learned_rewards(cfg, tokenizer, device) -> LearnedRewards:
    """The ``LearnedRewards`` for ``cfg.reward_model``: a directory ``assay train-rm`` wrote, or a list
    of them (an ensemble of one kind: PRMs and implicit PRMs combined as they score, ORMs standardized
    first, ``FirstBatchStandardized``)."""
    from assay.verifiers.learned.loading import load_reward_models

    kind, models = load_reward_models(cfg.reward_model if isinstance(cfg.reward_model, list) else [cfg.reward_model])
    for model in models:
        for m in (model.model, getattr(model, "ref_model", None), getattr(model, "head", None)):
            if m is not None:
                m.to(device)
    if len(models) == 1:
        scorer = models[0]
    elif kind == "orm":
        scorer = FirstBatchStandardized(models, cfg.reward_ensemble, cfg.reward_ensemble_lam)
    else:
        scorer = EnsembleScorer(tuple(models), cfg.reward_ensemble, cfg.reward_ensemble_lam)
    return LearnedRewards(scorer, kind, tokenizer, cfg.reward_model_coef, cfg.process_transform, cfg.process_return_mode,
                          cfg.process_clip_eta, cfg.posterior_gating)
