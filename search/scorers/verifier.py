"""The domain verifier as a search scorer (for terminal states)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from assay.protocols import Prefix, Verifier


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
