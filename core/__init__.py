"""assay: reinforcement learning with verifiable rewards for language models and agents.

``import assay`` is light: it loads the core types and the env registry, not torch or sympy.
"""

from assay.errors import AssayError
from assay.protocols import Policy, Prefix, Scorer, Step, Verifier
from assay.registry import list_envs, load_plugins, make, register, spec
from assay.types import Provenance, Task, Trajectory, Turn, Verdict

__version__ = "0.1.0"

__all__ = [
    "AssayError",
    "Policy",
    "Prefix",
    "Provenance",
    "Scorer",
    "Step",
    "Task",
    "Trajectory",
    "Turn",
    "Verdict",
    "Verifier",
    "__version__",
    "list_envs",
    "load_plugins",
    "make",
    "register",
    "spec",
]

# Last, so plugins can import anything above: registers the built-in and third-party env ids
# (by entry-point string; nothing heavy is imported), so `gymnasium.make("assay/...")` works
# right after `import assay`.
load_plugins()
