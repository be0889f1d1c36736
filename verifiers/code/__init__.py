"""Code verifier: run a response's program against a task's tests in the sandbox.

``assay.verifiers.get("code")`` -> :class:`~assay.verifiers.code.verifier.CodeVerifier`. Gold
formats in :mod:`~assay.verifiers.code.gold`, dataset loaders (APPS, LiveCodeBench, HumanEval,
MBPP) in :mod:`~assay.verifiers.code.datasets`.
"""

from assay.verifiers.code.verifier import CodeVerifier

__all__ = ["CodeVerifier"]
