"""Reward transforms: pure functions from rewards to shaped rewards (DESIGN: they are rewards, so
they live with the verifiers). Each one is a formula from ../shared/REFERENCES.md, tested on
hand-computed values, and composable: outcome-level transforms map ``(B,)`` rewards to ``(B,)``;
process-level ones map ragged per-step rewards (flat ``[N]`` plus ``offsets [S+1]``) to the same.

Outcome level (``assay.verifiers.shaping.outcome``): ``format_gate``, ``length_penalty``,
``posterior_gate`` (Posterior-GRPO), ``ppo_c_calibrate`` (PPO-C), ``hybrid`` (verifiable +
learned). DAPO's overlong shaping already lives in the trainer
(``assay.trainer.losses.overlong_penalty``, applied by ``GRPOConfig.overlong_buffer``) and is not
repeated here.

Process level (``assay.verifiers.shaping.process``): ``clip_rewards`` and ``delta_rewards`` (Gao et
al. 2024), and ``step_returns`` (sum- or PURE min-form credit assignment through
``assay.kernels.process_returns``).
"""

from assay.verifiers.shaping.outcome import (
    PPOCState,
    format_gate,
    hybrid,
    length_penalty,
    parse_confidence,
    posterior_gate,
    ppo_c_calibrate,
)
from assay.verifiers.shaping.process import PROCESS_TRANSFORMS, RETURN_MODES, clip_rewards, delta_rewards, shape_process, step_returns

__all__ = [
    "PROCESS_TRANSFORMS",
    "PPOCState",
    "RETURN_MODES",
    "clip_rewards",
    "delta_rewards",
    "format_gate",
    "hybrid",
    "length_penalty",
    "parse_confidence",
    "posterior_gate",
    "ppo_c_calibrate",
    "shape_process",
    "step_returns",
]
