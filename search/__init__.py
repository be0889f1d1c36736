"""Inference-time search under process reward models (best-of-N, beam, DVTS, MCTS, guided retry).

Not built yet: see issue 7.
"""
