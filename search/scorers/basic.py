"""Scorers that need no model: the domain verifier (terminal states) and ensembles."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from assay.protocols import Prefix, Scorer, Verifier


@dataclass(frozen=True)
class VerifierScorer:
    """The domain verifier as a scorer: a finished prefix's last step scores the verifier's reward;
    every other step scores ``neutral`` (the verifier cannot judge a partial solution). It reads
    the gold answer, so it is an oracle: for training-data generation and for search upper
    bounds, not for honest inference-time comparisons."""

    verifier: Verifier
    neutral: float = 0.5

    def score(self, prefixes: Sequence[Prefix]) -> list[list[float]]:
        out = [[self.neutral] * len(p.steps) for p in prefixes]
        done = [j for j, p in enumerate(prefixes) if p.done]
        verdicts = self.verifier.verify_batch([prefixes[j].task for j in done], [prefixes[j].text for j in done])
        for j, verdict in zip(done, verdicts):
            out[j][-1] = 0.0 if verdict.error is not None else float(verdict.reward)
        return out


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
