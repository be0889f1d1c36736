"""SWE-bench-style grading: instances, prepared repository snapshots, and the verifier.

``assay.verifiers.get("swe")`` grades a unified diff against ``task.answer`` (an instance
record): test patch applied after the agent's changes, FAIL_TO_PASS and PASS_TO_PASS run in a
fresh sandbox session, per-test results read from a report file (``results.py`` lists the
defenses).
"""

from assay.verifiers.swe.instance import Prediction, RepoSource, SWEInstance, from_record, load_instances
from assay.verifiers.swe.verifier import SWEVerifier, extract_patch

__all__ = ["Prediction", "RepoSource", "SWEInstance", "SWEVerifier", "extract_patch", "from_record", "load_instances"]
