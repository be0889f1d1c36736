"""Math answers: ``assay.verifiers.get("math")`` -> :class:`MathVerifier`.

Modules: ``extraction`` (find the final answer in free text), ``guards`` (cheap checks against
hostile expressions), ``annotations`` (units and multiplier words), ``compare`` (math-verify plus
exact-number fixes; runs in workers), ``pool`` / ``worker`` (processes with hard timeouts),
``verifier`` (the Verdict). Importing this package does not import sympy.
"""

from assay.verifiers.math.verifier import MathVerifier

__all__ = ["MathVerifier"]
