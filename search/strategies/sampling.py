"""Strategies that sample whole solutions: best-of-N and majority vote."""

from __future__ import annotations

from dataclasses import dataclass

from assay.protocols import Prefix
from assay.search.aggregate import check_aggregation
from assay.search.result import SearchResult
from assay.search.session import Session
from assay.search.strategies.base import Strategy, check_selection, positive


def _sample(session: Session, n: int) -> list[list[Prefix]]:
    """``n`` completions from the root of every problem whose budget allows, in one policy call
    (a problem's last round may cross its step limit: see ``assay.search.budget``)."""
    requests = [(i, Prefix(task)) for i, task in enumerate(session.tasks) for _ in range(n)
                if session.meters[i].steps_left() > 0]
    out: list[list[Prefix]] = [[] for _ in session.tasks]
    for (i, root), steps in zip(requests, session.complete(requests)):
        out[i].append(root.extend(*steps))
    return out


@dataclass(frozen=True)
class BestOfN(Strategy):
    """Sample ``n`` solutions, score each with the scorer, choose by ``selection``.

    Weighted best-of-N (search-and-learn, "Scaling test-time compute", Snell et al. 2024):
    ``argmax_a sum_{i: ans_i = a} agg(s_i)``; ``selection="best"`` is plain best-of-N,
    ``argmax_i agg(s_i)``. ``aggregation`` reduces a solution's step scores (``last`` is
    search-and-learn's default; ``min`` and ``prod`` are the usual alternatives).
    """

    n: int = 16
    aggregation: str = "last"
    selection: str = "weighted"
    name = "best_of_n"

    def __post_init__(self) -> None:
        positive("n", self.n)
        check_aggregation(self.aggregation)
        check_selection(self.selection)

    def run(self, session: Session) -> list[SearchResult]:
        samples = _sample(session, self.n)
        session.values([(i, p) for i, ps in enumerate(samples) for p in ps])  # one scorer call for all problems
        results = []
        for i, prefixes in enumerate(samples):
            explored = session.explored(prefixes)
            results.append(session.result(i, self.name, explored, session.choose(i, explored, self.selection)))
        return results


@dataclass(frozen=True)
class MajorityVote(Strategy):
    """Sample ``n`` solutions and answer with the most common final answer (self-consistency,
    Wang et al. 2022): ``argmax_a |{i: ans_i = a}|``. Needs no scorer; answers are grouped by the
    verifier's equivalence when one is given."""

    n: int = 16
    name = "majority"
    needs_scorer = False

    def __post_init__(self) -> None:
        positive("n", self.n)

    def run(self, session: Session) -> list[SearchResult]:
        results = []
        for i, prefixes in enumerate(_sample(session, self.n)):
            explored = session.explored(prefixes, scored=False)
            results.append(session.result(i, self.name, explored, session.choose(i, explored, "majority")))
        return results
