"""GRPO-family trainer: rollout -> score -> advantages -> loss -> step.

Not built yet: see issue 4.
"""
