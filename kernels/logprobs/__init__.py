"""Per-token log-probabilities (and entropy) from hidden states and the LM head, chunked.

``token_logprobs`` (the dispatcher: Triton on CUDA, torch chunks on CPU) and
``token_logprobs_reference`` (the full-logits spec). Files: ``reference.py`` (spec),
``triton_kernels.py`` (kernels), ``cpu.py`` (CPU chunk step), ``op.py`` (chunk loops, autograd,
dispatcher), ``bench.py`` (setup functions for ``assay.kernels.benchutil``).
"""

from assay.kernels.logprobs.op import token_logprobs
from assay.kernels.logprobs.reference import token_logprobs_reference

__all__ = ["token_logprobs", "token_logprobs_reference"]
