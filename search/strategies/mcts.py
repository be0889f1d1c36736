"""Monte-Carlo tree search over reasoning steps, batched across problems.

Each round selects a leaf per problem (``parallel`` leaves with a virtual loss), expands it with
``width`` candidate steps from one policy call for all problems, values the new children from
one scorer call (and, for ``value="terminal"`` or ``"mix"``, one roll-out call), and backs the
values up. Candidate steps with the same text are merged into one child whose prior adds up.

Sources of the formulas:
- UCT (rStar-Math, Guan et al. 2025): ``Q + c * sqrt(ln N_parent / n)``, c = 2 there.
- PUCT (AlphaZero, as in openr): ``Q + P * sqrt(N) / (1 + n) * (c_init + ln((N + c_base + 1) / c_base))``,
  ``c_base`` 19652, ``c_init`` 1.25; the prior ``P`` is ``exp(mean token log-prob)`` of the
  step, normalised over its siblings.
- Roll-out mixing (ReST-MCTS*, Zhang et al. 2024): ``V = (1 - alpha) * V_prm + alpha * V_roll``,
  alpha = 0.5. ``V_roll`` is the verifier's reward of the rolled-out solution when a verifier
  is given (training-data generation: it reads the gold), else the scorer's value of it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from assay.protocols import Prefix, Step
from assay.search.aggregate import check_aggregation
from assay.search.result import SearchResult, TreeNode
from assay.search.session import Session
from assay.search.strategies.base import Strategy, check_selection, positive

SELECTION_RULES = ("uct", "puct")
BACKUPS = ("mean", "max")
VALUES = ("prm", "terminal", "mix")


class _Node:
    __slots__ = ("prefix", "parent", "children", "visits", "total", "best", "weight", "score", "virtual",
                 "exhausted", "depth", "expansions")

    def __init__(self, prefix: Prefix, parent: _Node | None, weight: float, depth: int):
        self.prefix, self.parent, self.weight, self.depth = prefix, parent, weight, depth
        self.children: list[_Node] = []
        self.visits, self.total, self.best, self.virtual, self.expansions = 0, 0.0, float("-inf"), 0, 0
        self.score: float | None = None
        self.exhausted = prefix.done

    @property
    def prior(self) -> float:
        """This step's share of its siblings' ``exp(mean token log-prob)``, summed over every time
        it was sampled (a step sampled twice is one child with twice the weight)."""
        if self.parent is None:
            return 1.0
        total = sum(c.weight for c in self.parent.children)
        return self.weight / total if total > 0 else 1.0 / len(self.parent.children)

    def q(self, backup: str) -> float:
        if self.visits == 0:
            return 0.0
        return self.best if backup == "max" else self.total / (self.visits + self.virtual)

    def freeze(self, backup: str) -> TreeNode:
        return TreeNode(self.prefix.steps[-1] if self.prefix.steps else None, self.visits, self.q(backup),
                        self.prior, self.score, self.prefix.done, tuple(c.freeze(backup) for c in self.children))


def _weight(step: Step) -> float:
    """``exp(mean token log-prob)``: the prior's unnormalised weight (openr)."""
    return math.exp(step.logprob / step.n_tokens if step.n_tokens else step.logprob)


@dataclass(frozen=True)
class MCTS(Strategy):
    """See the module docstring. ``max_depth`` bounds a path's steps (a node that deep is a leaf);
    ``rounds`` bounds the rounds when the budget does not. A node whose children are all finished
    (or dead ends) is sampled again up to ``widen`` more times, so a small tree with budget left
    grows new branches instead of stopping. The answer is the end of the path that
    follows the child with the best backed-up value from the root (``selection="value"``, the
    default: backed-up values average out the scorer's noise), or the most visited child
    (``"visits"``), or is chosen among all finished trajectories found by ``"weighted"``,
    ``"majority"`` or ``"best"`` over their aggregated scores. On the toy benchmark, choosing among
    all leaves by their own noisy scores gets worse as the tree grows (more lucky wrong leaves)."""

    width: int = 4
    selection_rule: str = "uct"
    c: float = 1.0
    c_base: float = 19652.0
    c_init: float = 1.25
    backup: str = "mean"
    value: str = "prm"
    alpha: float = 0.5
    parallel: int = 1
    max_depth: int = 40
    widen: int = 2
    rounds: int = 10_000
    aggregation: str = "last"
    selection: str = "value"
    name = "mcts"

    def __post_init__(self) -> None:
        for name in ("width", "parallel", "max_depth", "rounds"):
            positive(name, getattr(self, name))
        positive("widen", self.widen, allow_zero=True)
        for name, value, allowed in (("selection_rule", self.selection_rule, SELECTION_RULES),
                                     ("backup", self.backup, BACKUPS), ("value", self.value, VALUES)):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
        if not 0 <= self.alpha <= 1:
            raise ValueError(f"alpha must be in [0, 1], got {self.alpha}")
        if self.c < 0:
            raise ValueError(f"c must be >= 0, got {self.c}")
        check_aggregation(self.aggregation)
        if self.selection not in ("visits", "value"):
            check_selection(self.selection)

    # -- selection ------------------------------------------------------------------------------
    def _ucb(self, parent: _Node, child: _Node) -> float:
        n = child.visits + child.virtual
        big_n = parent.visits + parent.virtual
        if self.selection_rule == "uct":
            if n == 0:
                return float("inf")
            return child.q(self.backup) + self.c * math.sqrt(math.log(max(big_n, 1)) / n)
        scale = self.c_init + math.log((big_n + self.c_base + 1) / self.c_base)
        return child.q(self.backup) + child.prior * math.sqrt(big_n) / (1 + n) * scale

    def _select(self, root: _Node) -> _Node | None:
        """The node to expand next: a leaf, or a node to widen; None when the tree is used up."""
        while not root.exhausted:
            node = root
            while node.children:
                open_children = [c for c in node.children if not c.exhausted]
                if not open_children:
                    break
                node = max(open_children, key=lambda c: self._ucb(node, c))
            if not node.children or node.expansions <= self.widen:
                return node
            node.exhausted = True  # widened enough: close it and look again
            self._mark_exhausted(node.parent)
        return None

    # -- the loop ---------------------------------------------------------------------------------
    def run(self, session: Session) -> list[SearchResult]:
        problems = range(len(session.tasks))
        roots = [_Node(Prefix(session.tasks[i]), None, 1.0, 0) for i in problems]
        for _ in range(self.rounds):
            leaves: list[tuple[int, _Node]] = []
            for i in problems:
                for _ in range(self.parallel):
                    if roots[i].exhausted or session.meters[i].steps_left() < 1:
                        break
                    leaf = self._select(roots[i])
                    if leaf is None or leaf in (n for _, n in leaves):
                        break
                    self._add_virtual(leaf, +1)
                    leaves.append((i, leaf))
            if not leaves:
                break
            for _, leaf in leaves:
                self._add_virtual(leaf, -1)
            by_width: dict[int, list[tuple[int, _Node]]] = {}  # the last affordable round may be narrower
            for i, leaf in leaves:
                by_width.setdefault(int(min(self.width, session.meters[i].steps_left())), []).append((i, leaf))
            new: list[tuple[int, _Node]] = []
            for width, group in by_width.items():
                proposals = session.propose([(i, leaf.prefix) for i, leaf in group], width)
                for (i, leaf), steps in zip(group, proposals):
                    new += [(i, child) for child in self._expand(leaf, steps)]
            for (i, child), value in zip(new, self._values(session, new)):
                child.score, child.visits, child.total, child.best = value, 1, value, value
            for _, leaf in leaves:
                self._backup(leaf, self._leaf_value(leaf))
                self._mark_exhausted(leaf)
        leaves = [self._leaves(root) for root in roots]
        session.values([(i, n.prefix) for i in problems for n in leaves[i] if n.score is not None])
        return [self._result(session, i, roots[i], leaves[i]) for i in problems]

    def _add_virtual(self, node: _Node | None, delta: int) -> None:
        while node is not None:
            node.virtual += delta
            node = node.parent

    def _expand(self, leaf: _Node, steps: list[Step]) -> list[_Node]:
        """Add the proposed steps as children (merging same-text steps); the new children."""
        leaf.expansions += 1
        if not steps and not leaf.children:  # nothing proposed: a dead end, not a leaf to select again
            leaf.exhausted = True
        by_text = {c.prefix.steps[-1].text: c for c in leaf.children}
        new = []
        for step in steps:
            child = by_text.get(step.text)
            if child is None:
                child = by_text[step.text] = _Node(leaf.prefix.extend(step), leaf, 0.0, leaf.depth + 1)
                child.exhausted = child.exhausted or child.depth >= self.max_depth
                leaf.children.append(child)
                new.append(child)
            child.weight += _weight(step)
        return new

    def _leaf_value(self, leaf: _Node) -> float:
        """What an expansion tells about its node: the children's prior-weighted mean value
        (``backup="mean"``) or their best (``"max"``)."""
        scored = [c for c in leaf.children if c.score is not None]
        if not scored:
            return leaf.score if leaf.score is not None else 0.0
        if self.backup == "max":
            return max(c.q(self.backup) for c in scored)
        total = sum(c.weight for c in scored)
        return sum(c.weight * c.q(self.backup) for c in scored) / total if total > 0 else 0.0

    def _values(self, session: Session, new: list[tuple[int, _Node]]) -> list[float]:
        requests = [(i, c.prefix) for i, c in new]
        prm = session.values(requests) if self.value != "terminal" else [0.0] * len(new)
        if self.value == "prm":
            return prm
        open_ = [(i, p) for i, p in requests if not p.done]
        rolled = {p.key: (i, p.extend(*more)) for (i, p), more in zip(open_, session.complete(open_))}
        finals = [rolled.get(p.key, (i, p)) for i, p in requests]
        if session.verifier is not None:
            verdicts = session.verifier.verify_batch([p.task for _, p in finals], [p.text for _, p in finals])
            roll = [0.0 if v.error is not None else v.reward for v in verdicts]
        else:
            roll = session.values(finals)
        if self.value == "terminal":
            return roll
        return [(1 - self.alpha) * a + self.alpha * b for a, b in zip(prm, roll)]

    def _backup(self, node: _Node, value: float) -> None:
        while node is not None:
            node.visits += 1
            node.total += value
            node.best = max(node.best, value)
            node = node.parent

    def _mark_exhausted(self, node: _Node | None) -> None:
        while node is not None and (node.exhausted or (node.children and node.expansions > self.widen
                                                         and all(c.exhausted for c in node.children))):
            node.exhausted = True
            node = node.parent

    # -- the answer -------------------------------------------------------------------------------
    @staticmethod
    def _leaves(root: _Node) -> list[_Node]:
        leaves, stack = [], [root]
        while stack:
            node = stack.pop()
            stack += node.children
            if not node.children and node is not root:
                leaves.append(node)
        return sorted(leaves, key=lambda n: not n.prefix.done)  # finished first

    def _result(self, session: Session, i: int, root: _Node, leaves: list[_Node]) -> SearchResult:
        explored = session.explored([n.prefix for n in leaves])
        if self.selection in ("visits", "value"):  # the robust child (or the best-valued), all the way down
            node = root
            while node.children:
                node = max(node.children, key=lambda c: (c.visits, c.q(self.backup)) if self.selection == "visits"
                           else (c.q(self.backup), c.visits))
            chosen = next((k for k, n in enumerate(leaves) if n is node and n.prefix.done), None)
            if chosen is None:  # the most visited path ends unfinished: the best finished one instead
                chosen = session.choose(i, explored, "best")
        else:
            chosen = session.choose(i, explored, self.selection)
        stopped = "done" if root.exhausted else None
        return session.result(i, self.name, explored, chosen, stopped, root.freeze(self.backup))
