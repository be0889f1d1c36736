"""Reward model ensembles (Coste et al. 2023): worst-case and uncertainty-weighted."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from assay.protocols import Prefix, Scorer
from assay.types import Task
from assay.verifiers.learned.outcome import last_step_rewards

ENSEMBLE_MODES = ("min", "mean_minus_var")


@dataclass(frozen=True)
class EnsembleScorer:
    """Several scorers combined per step (Coste et al. 2023, "Reward model ensembles help mitigate
    overoptimization"): worst-case ``min_k R_k`` (WCO) or uncertainty-weighted
    ``mean_k R_k - lam * var_k R_k`` (UWO; population variance over the members).

    Scores are combined as the members give them. A Bradley-Terry ORM's scores have an arbitrary
    offset and scale (only differences are trained), so the min would follow whichever member sits
    lowest: build ensembles of ORMs with ``EnsembleScorer.standardized``."""

    members: tuple[Scorer, ...]
    mode: str = "min"
    lam: float = 1.0

    def __post_init__(self) -> None:
        if len(self.members) < 2:
            raise ValueError(f"an ensemble needs at least 2 members, got {len(self.members)}")
        if self.mode not in ENSEMBLE_MODES:
            raise ValueError(f"mode must be one of {', '.join(ENSEMBLE_MODES)}, got {self.mode!r}")
        if self.lam < 0:
            raise ValueError(f"lam must be >= 0, got {self.lam}")

    @classmethod
    def standardized(cls, members: Sequence[Scorer], reference: Sequence[Prefix], mode: str = "min",
                     lam: float = 1.0) -> EnsembleScorer:
        """An ensemble of the members each shifted and scaled to mean 0, std 1 over the step scores
        of ``reference`` (responses like those to be scored, e.g. samples of the policy)."""
        return cls(tuple(Standardized.fit(m, reference) for m in members), mode, lam)

    def rewards(self, tasks: Sequence[Task], responses: Sequence[str]) -> list[float]:
        """As an outcome reward model (an ensemble of ORMs): each response read as one step."""
        return last_step_rewards(self, tasks, responses)

    def score(self, prefixes: Sequence[Prefix]) -> list[list[float]]:
        per_member = [m.score(prefixes) for m in self.members]
        out = []
        for j, prefix in enumerate(prefixes):
            steps = []
            for t in range(len(prefix.steps)):
                values = [scores[j][t] for scores in per_member]
                if self.mode == "min":
                    steps.append(min(values))
                else:
                    mean = sum(values) / len(values)
                    var = sum((v - mean) ** 2 for v in values) / len(values)
                    steps.append(mean - self.lam * var)
            out.append(steps)
        return out


@dataclass(frozen=True)
class Standardized:
    """A scorer whose scores are ``(s - mean) / std``, with mean and std fitted on reference prefixes."""

    member: Scorer
    mean: float
    std: float

    @classmethod
    def fit(cls, member: Scorer, reference: Sequence[Prefix]) -> Standardized:
        values = [v for row in member.score(reference) for v in row]
        if len(values) < 2:
            raise ValueError(f"standardizing needs at least 2 scored steps in the reference, got {len(values)}")
        mean = sum(values) / len(values)
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
        if not (std > 0 and math.isfinite(std)):
            raise ValueError(f"{type(member).__name__} has no finite spread over the reference (std {std}, mean {mean}): "
                             "every step scores the same or a score is not finite; give responses it tells apart")
        return cls(member, mean, std)

    def score(self, prefixes: Sequence[Prefix]) -> list[list[float]]:
        return [[(v - self.mean) / self.std for v in row] for row in self.member.score(prefixes)]
