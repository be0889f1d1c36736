"""Search strategies: each a frozen dataclass of its parameters with ``search(tasks, policy,
scorer, budget=...)``."""

from assay.search.strategies.base import Strategy
from assay.search.strategies.beam import DVTS, BeamSearch
from assay.search.strategies.mcts import MCTS
from assay.search.strategies.retry import GuidedRetry, feedback_guidance
from assay.search.strategies.sampling import BestOfN, MajorityVote

__all__ = ["DVTS", "MCTS", "BeamSearch", "BestOfN", "GuidedRetry", "MajorityVote", "Strategy", "feedback_guidance"]
