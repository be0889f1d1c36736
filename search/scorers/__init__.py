"""Scorers for search. ``VerifierScorer`` (the domain verifier, terminal states) lives here; learned
scorers (value-head PRM, implicit PRM, ensembles) are rewards and live in
``assay.verifiers.learned``; the toy benchmark's ``NoisyPRM`` is in ``assay.search.toy``."""

from assay.search.scorers.verifier import VerifierScorer

__all__ = ["VerifierScorer"]
