"""Triton kernels with torch references and CPU paths for the trainer's numeric hot paths.

Not built yet: see issue 3.
"""
