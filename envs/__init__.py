"""Gymnasium environments built on verifiers.

Importing this package registers the built-in ids (by entry-point string, so nothing heavy is
imported until ``make``). It is also the ``assay.envs`` plugin entry point that
``assay.list_envs()`` runs.
"""

from __future__ import annotations

from assay.registry import register

BUILTIN: dict[str, tuple[str, dict]] = {
    "assay/math-v0": ("assay.envs.math_env:MathEnv", {}),
    "assay/arithmetic-v0": ("assay.envs.math_env:MathEnv", {"generator": "arithmetic", "difficulty": 3}),
    "assay/modchain-v0": ("assay.envs.math_env:MathEnv", {"generator": "modchain", "difficulty": 3}),
    "assay/code-v0": ("assay.envs.code_env:CodeEnv", {}),
    "assay/verilog-v0": ("assay.envs.verilog_env:VerilogEnv", {}),
    "assay/web-v0": ("assay.envs.web_env:WebEnv", {}),
    "assay/swe-v0": ("assay.envs.swe_env:SWEEnv", {}),
    # several envs at once, each episode from one chosen by weight (envs/mixture.py)
    "assay/mix-v0": ("assay.envs.mixture:EnvMixture", {"envs": {"assay/arithmetic-v0": 1.0, "assay/modchain-v0": 1.0}}),
}


def register_builtins() -> None:
    for env_id, (entry_point, kwargs) in BUILTIN.items():
        register(env_id, entry_point, **kwargs)


register_builtins()
