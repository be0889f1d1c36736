"""Inference-time search under process reward models, batched across problems.

A ``Policy`` writes steps and a ``Scorer`` scores them (both protocols live in ``assay.protocols``);
strategies spend a per-problem ``Budget`` of generated steps, tokens and scorer calls:

- ``BestOfN`` (plain and weighted), ``MajorityVote``
- ``BeamSearch`` (width, lookahead) and ``DVTS``
- ``MCTS`` (UCT or PUCT selection, mean or max backup, PRM / terminal / mixed values)
- ``GuidedRetry`` (verifier feedback, Agent-RLVR)

Every result keeps the chosen answer and its Verdict, every explored trajectory with step scores,
the MCTS tree and the cost; ``assay.search.training`` turns results into ``assay.Trajectory``
records and step-value labels for PRM training.
"""

from assay.protocols import Policy, Prefix, Scorer, Step
from assay.search.aggregate import AGGREGATIONS, aggregate
from assay.search.answers import final_answer, group_answers, vote
from assay.search.budget import Budget, Cost, Meter
from assay.search.result import Explored, SearchResult, TreeNode
from assay.search.strategies import DVTS, MCTS, BeamSearch, BestOfN, GuidedRetry, MajorityVote, Strategy

__all__ = [
    "AGGREGATIONS", "DVTS", "MCTS", "BeamSearch", "BestOfN", "Budget", "Cost", "Explored", "GuidedRetry",
    "MajorityVote", "Meter", "Policy", "Prefix", "Scorer", "SearchResult", "Step", "Strategy", "TreeNode",
    "aggregate", "final_answer", "group_answers", "vote",
]
