"""One batched search over many problems: the calls every strategy makes, each charged to the
problems' budgets.

Strategies advance all problems a round at a time, so each round makes one ``Policy`` call and
one ``Scorer`` call for every node of every problem (search-and-learn's practice: per-node calls
leave the model idle). Step scores are cached by prefix (task, hints, step texts): a prefix is
never scored twice, however many strategies' rounds revisit it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from assay.protocols import Policy, Prefix, Scorer, Step, Verifier
from assay.search.aggregate import aggregate, check_aggregation
from assay.search.answers import Equivalence, exact_equivalence, final_answer, verifier_equivalence, vote
from assay.search.budget import Budget, Meter
from assay.search.result import Explored, SearchResult, TreeNode
from assay.types import Task, Verdict

AnswerFn = Callable[[Task, str], "str | None"]
SELECTIONS = ("weighted", "majority", "best")


class Session:
    def __init__(self, tasks: Sequence[Task], policy: Policy, scorer: Scorer | None, budget: Budget,
                 aggregation: str = "last", verifier: Verifier | None = None, answer: AnswerFn = final_answer,
                 equivalence: str = "auto", on_spend: Callable[[Sequence[Meter]], None] | None = None):
        if not isinstance(budget, Budget):
            raise TypeError(f"budget must be an assay.search.Budget, got {type(budget).__name__}")
        if equivalence not in ("auto", "exact", "verifier"):
            raise ValueError(f"equivalence must be 'auto', 'exact' or 'verifier', got {equivalence!r}")
        if equivalence == "verifier" and verifier is None:
            raise ValueError("equivalence='verifier' needs a verifier")
        self.tasks = list(tasks)
        self.policy, self.scorer, self.verifier = policy, scorer, verifier
        self.aggregation = check_aggregation(aggregation)
        self.answer_fn = answer
        self.use_verifier_equivalence = verifier is not None and equivalence != "exact"
        self.meters = [Meter(budget) for _ in self.tasks]
        self.on_spend = on_spend  # told the meters after every charge (a progress bar)
        self._scores: dict[tuple, list[float]] = {}
        self._values: dict[tuple, float] = {}  # aggregated scores, by prefix key

    # -- the batched calls --------------------------------------------------------------------
    def propose(self, requests: Sequence[tuple[int, Prefix]], k: int) -> list[list[Step]]:
        """``k`` candidate next steps per (problem, prefix), in one policy call."""
        if not requests:
            return []
        proposals = self.policy.propose([p for _, p in requests], k)
        self._charge(requests, proposals)
        return proposals

    def complete(self, requests: Sequence[tuple[int, Prefix]], max_steps: int | None = None) -> list[tuple[Step, ...]]:
        """Each prefix written out to its end (or ``max_steps`` more steps), in one policy call."""
        if not requests:
            return []
        completions = self.policy.complete([p for _, p in requests], max_steps)
        self._charge(requests, completions)
        return completions

    def _charge(self, requests, outputs) -> None:
        if len(outputs) != len(requests):
            raise RuntimeError(f"the policy returned {len(outputs)} results for {len(requests)} prefixes")
        steps: dict[int, list[int]] = {}
        for (problem, _), new in zip(requests, outputs):
            tally = steps.setdefault(problem, [0, 0])
            tally[0] += len(new)
            tally[1] += sum(s.n_tokens for s in new)
        for problem, (n, tokens) in steps.items():
            self.meters[problem].charge_generation(n, tokens)
        self._spent()

    def _spent(self) -> None:
        if self.on_spend is not None:
            self.on_spend(self.meters)

    def score(self, requests: Sequence[tuple[int, Prefix]]) -> list[list[float]]:
        """Step scores of each prefix; uncached prefixes go to the scorer in one call."""
        if self.scorer is None:
            raise ValueError("this strategy needs a scorer (a PRM, an ensemble, or the verifier scorer)")
        todo: dict[tuple, tuple[int, Prefix]] = {}
        for problem, prefix in requests:
            if prefix.key not in self._scores and prefix.key not in todo:
                todo[prefix.key] = (problem, prefix)
        if todo:
            fresh = self.scorer.score([p for _, p in todo.values()])
            if len(fresh) != len(todo):
                raise RuntimeError(f"the scorer returned {len(fresh)} results for {len(todo)} prefixes")
            per_problem: dict[int, int] = {}
            for (key, (problem, prefix)), scores in zip(todo.items(), fresh):
                if len(scores) != len(prefix.steps):
                    raise RuntimeError(f"the scorer returned {len(scores)} step scores for a prefix of "
                                       f"{len(prefix.steps)} steps")
                self._scores[key] = [float(s) for s in scores]
                per_problem[problem] = per_problem.get(problem, 0) + 1
            for problem, n in per_problem.items():
                self.meters[problem].charge_scoring(n)
            self._spent()
        return [self._scores[p.key] for _, p in requests]

    def values(self, requests: Sequence[tuple[int, Prefix]]) -> list[float]:
        """The aggregated score of each prefix (one scorer call for the uncached ones)."""
        self.score(requests)
        self._aggregate([p for _, p in requests])
        return [self._values[p.key] for _, p in requests]

    def _aggregate(self, prefixes: Sequence[Prefix]) -> None:
        # one kernel call for all: a call per trajectory costs more than the aggregation itself
        todo = {p.key: self._scores[p.key] for p in prefixes if p.key not in self._values and p.key in self._scores}
        for key, value in zip(todo, aggregate(list(todo.values()), self.aggregation)):
            self._values[key] = value

    # -- bookkeeping --------------------------------------------------------------------------
    def explored(self, prefixes: Sequence[Prefix], scored: bool = True) -> list[Explored]:
        """The record of each prefix, with its step scores and aggregated score where scored."""
        if scored:
            self._aggregate(prefixes)
        out = []
        for p in prefixes:
            answer = self.answer_fn(p.task, p.text) if p.done else None
            scores = self._scores.get(p.key) if scored else None
            if scores is None:
                out.append(Explored(p.steps, (), None, answer, p.hints))
            else:
                out.append(Explored(p.steps, tuple(scores), self._values[p.key], answer, p.hints))
        return out

    def choose(self, problem: int, explored: Sequence[Explored], selection: str = "weighted") -> int | None:
        """Index of the chosen trajectory among the finished ones with an answer."""
        if selection not in SELECTIONS:
            raise ValueError(f"selection must be one of {', '.join(SELECTIONS)}, got {selection!r}")
        answers = [e.answer if e.done else None for e in explored]
        if selection == "best":
            candidates = [i for i, a in enumerate(answers) if a is not None]
            return max(candidates, key=lambda i: explored[i].score or 0.0, default=None)
        weights = None if selection == "majority" else [e.score or 0.0 for e in explored]
        return vote(answers, weights, self._equivalence(problem))

    def _equivalence(self, problem: int) -> Equivalence:
        if self.use_verifier_equivalence:
            return verifier_equivalence(self.verifier, self.tasks[problem])
        return exact_equivalence

    def result(self, problem: int, strategy: str, explored: Sequence[Explored], chosen: int | None,
               stopped: str | None = None, tree: TreeNode | None = None, verdict: Verdict | None = None) -> SearchResult:
        """The problem's result; the chosen response is verified here unless ``verdict`` (already
        judged by the strategy) is given."""
        task = self.tasks[problem]
        response = explored[chosen].text if chosen is not None else ""
        if verdict is None and self.verifier is not None:
            verdict = self.verifier.verify(task, response)
        meter = self.meters[problem]
        stopped = stopped or ("budget" if meter.exhausted else "done")
        return SearchResult(task, strategy, explored[chosen].answer if chosen is not None else None, response,
                            verdict, tuple(explored), chosen, meter.cost(), stopped, tree)
