"""Reward model ensembles (Coste et al. 2023): worst-case and uncertainty-weighted."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from assay.protocols import Prefix, Scorer

ENSEMBLE_MODES = ("min", "mean_minus_var")


@dataclass(frozen=True)
class EnsembleScorer:
    """Several scorers combined per step (Coste et al. 2023, "Reward model ensembles help mitigate
    overoptimization"): worst-case ``min_k R_k`` (WCO) or uncertainty-weighted
    ``mean_k R_k - lam * var_k R_k`` (UWO; population variance over the members)."""

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
