"""Scorers for search: the verifier (terminal states), ensembles, a value-head PRM over any Hugging
Face model, and PRIME's implicit PRM. The toy benchmark's ``NoisyPRM`` is in ``assay.search.toy``.

The HF scorers import torch and transformers; import them from ``assay.search.scorers.hf``.
"""

from assay.search.scorers.basic import ENSEMBLE_MODES, EnsembleScorer, VerifierScorer

__all__ = ["ENSEMBLE_MODES", "EnsembleScorer", "VerifierScorer"]
