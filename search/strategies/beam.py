"""Step-level tree search guided by the scorer: beam search and DVTS (search-and-learn)."""

from __future__ import annotations

from dataclasses import dataclass

from assay.protocols import Prefix
from assay.search.aggregate import check_aggregation
from assay.search.result import SearchResult
from assay.search.session import Session
from assay.search.strategies.base import Strategy, check_selection, positive


def _lookahead_values(session: Session, requests: list[tuple[int, Prefix]], lookahead: int) -> list[float]:
    """Scores of each prefix, judged ``lookahead`` steps further on: unfinished prefixes are rolled
    out by the policy (search-and-learn does it greedily, T=0: the policy's own setting here) and
    the rolled-out prefix is scored; the roll-out steps are not kept."""
    if lookahead == 0:
        return session.values(requests)
    open_ = [(i, p) for i, p in requests if not p.done]
    rolled = {id(p): p.extend(*more) for (i, p), more in zip(open_, session.complete(open_, lookahead))}
    return session.values([(i, rolled.get(id(p), p)) for i, p in requests])


@dataclass(frozen=True)
class _Stepwise(Strategy):
    """The parameters beam search and DVTS share, checked once."""

    n: int = 16
    beam_width: int = 4
    max_depth: int = 40
    aggregation: str = "last"
    selection: str = "weighted"

    def __post_init__(self) -> None:
        positive("n", self.n)
        positive("beam_width", self.beam_width)
        positive("max_depth", self.max_depth)
        if self.beam_width > self.n:
            raise ValueError(f"beam_width ({self.beam_width}) must be <= n ({self.n}): "
                             f"{self.name} keeps n / beam_width {'beams' if self.name == 'beam' else 'subtrees'}")
        check_aggregation(self.aggregation)
        check_selection(self.selection)


@dataclass(frozen=True)
class BeamSearch(_Stepwise):
    """search-and-learn's beam search (Snell et al. 2024, "Scaling LLM test-time compute").

    ``n`` beams; each round writes one step per active beam and scores every new prefix (the
    prefix's value is its step scores aggregated with ``aggregation``, ``last`` by default). The
    top ``n / beam_width`` survive and each is duplicated back up to ``n`` beams. Finished beams
    leave the pool; the search stops when ``n`` beams have finished, none is active, ``max_depth``
    is reached or the budget runs out. ``lookahead`` > 0 scores each prefix after that many more
    policy steps (the steps are then dropped). The answer is chosen among finished beams by
    ``selection`` (weighted vote by default).
    """

    lookahead: int = 0
    name = "beam"

    def __post_init__(self) -> None:
        super().__post_init__()
        positive("lookahead", self.lookahead, allow_zero=True)

    def run(self, session: Session) -> list[SearchResult]:
        problems = range(len(session.tasks))
        beams = {i: [Prefix(session.tasks[i])] * self.n for i in problems}
        finished: dict[int, list[Prefix]] = {i: [] for i in problems}
        explored: dict[int, list[Prefix]] = {i: [] for i in problems}
        keep = max(1, self.n // self.beam_width)
        for _ in range(self.max_depth):
            requests = []
            for i in problems:
                affordable = session.meters[i].steps_left()
                if len(finished[i]) < self.n and affordable > 0:
                    requests += [(i, b) for b in beams[i][: int(min(len(beams[i]), affordable))]]
                else:
                    beams[i] = []
            if not requests:
                break
            grown = [(i, b.extend(steps[0])) for (i, b), steps in zip(requests, session.propose(requests, 1))]
            values = _lookahead_values(session, grown, self.lookahead)
            candidates: dict[int, list[tuple[float, Prefix]]] = {i: [] for i in problems}
            for (i, prefix), value in zip(grown, values):
                if prefix.done:
                    finished[i].append(prefix)
                else:
                    candidates[i].append((value, prefix))
            for i in problems:
                ranked = sorted(candidates[i], key=lambda vp: -vp[0])
                explored[i] += [p for _, p in ranked[keep:]]  # pruned here: still explored trajectories
                survivors = [p for _, p in ranked[:keep]]
                beams[i] = [survivors[j % len(survivors)] for j in range(self.n)] if survivors else []
        session.values([(i, p) for i in problems for p in finished[i] + beams[i]])
        results = []
        for i in problems:
            trail = session.explored(finished[i])
            chosen = session.choose(i, trail, self.selection)
            unique = {p.key: p for p in beams[i] + explored[i]}  # beams were duplicated back up to n
            trail += session.explored(list(unique.values()))
            results.append(session.result(i, self.name, trail, chosen))
        return results


@dataclass(frozen=True)
class DVTS(_Stepwise):
    """Diverse verifier tree search (Beeching et al. 2024, search-and-learn).

    ``n / beam_width`` independent subtrees. Every round each subtree writes ``beam_width``
    candidate next steps from its current prefix, scores them, and moves to the best; a subtree
    ends when its best candidate is finished. Keeping the subtrees apart keeps the answers
    diverse, which is where DVTS beats beam search at large ``n``. The answer is chosen among the
    subtrees' final prefixes by ``selection`` (weighted vote by default).
    """

    name = "dvts"

    def run(self, session: Session) -> list[SearchResult]:
        problems = range(len(session.tasks))
        subtrees = {i: [Prefix(session.tasks[i])] * (self.n // self.beam_width) for i in problems}
        done: dict[int, list[Prefix]] = {i: [] for i in problems}
        pruned: dict[int, list[Prefix]] = {i: [] for i in problems}
        for _ in range(self.max_depth):
            requests = []
            for i in problems:
                affordable = int(min(len(subtrees[i]), session.meters[i].steps_left() // self.beam_width))
                if affordable < len(subtrees[i]):  # out of budget: the subtrees that cannot grow stop here
                    pruned[i] += subtrees[i][affordable:]
                    subtrees[i] = subtrees[i][:affordable]
                requests += [(i, p) for p in subtrees[i]]
            if not requests:
                break
            children = [[(i, p.extend(s)) for s in steps] for (i, p), steps in
                        zip(requests, session.propose(requests, self.beam_width))]
            values = session.values([c for group in children for c in group])
            subtrees = {i: [] for i in problems}
            for j, group in enumerate(children):
                scored = list(zip(values[j * self.beam_width:(j + 1) * self.beam_width], group))
                best_value, (i, best) = max(scored, key=lambda vc: vc[0])
                pruned[i] += [p for v, (_, p) in scored if p is not best]
                (done[i] if best.done else subtrees[i]).append(best)
        session.values([(i, p) for i in problems for p in done[i] + subtrees[i]])
        results = []
        for i in problems:
            trail = session.explored(done[i])
            chosen = session.choose(i, trail, self.selection)
            trail += session.explored(subtrees[i] + pruned[i])
            results.append(session.result(i, self.name, trail, chosen))
        return results
