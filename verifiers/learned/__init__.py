"""Learned rewards: scorers computed by models rather than checked by rules (DESIGN: they are
rewards, so they live with the verifiers). Each follows the ``Scorer`` protocol of
``assay.protocols``, so search uses them as they are.

- ``ValueHeadPRM`` (``assay.verifiers.learned.prm``): p(step correct) from a value head over any
  Hugging Face transformer.
- ``ImplicitPRM`` (``assay.verifiers.learned.implicit``): PRIME's beta * log pi / pi_ref per step.
- ``EnsembleScorer``: worst-case and uncertainty-weighted ensembles of any scorers.
- ``ValueHeadORM`` (``assay.verifiers.learned.orm``): a Bradley-Terry outcome reward model, same
  checkpoint format as ``ValueHeadPRM``.
- ``RubricJudge`` (``assay.verifiers.learned.judge``): an LLM judge over binary principles
  (RLBFF) through any ``Generator``; an unparsable verdict is an error, never a reward.
- ``load_reward_model`` (``assay.verifiers.learned.loading``): whatever ``assay train-rm`` wrote.

Their training loops live in ``assay.trainer.reward_model``; reward transforms in
``assay.verifiers.shaping``.

The model-backed ones import torch and transformers; import them from their modules.
"""

from assay.verifiers.learned.ensemble import ENSEMBLE_MODES, EnsembleScorer, Standardized

__all__ = ["ENSEMBLE_MODES", "EnsembleScorer", "Standardized"]
